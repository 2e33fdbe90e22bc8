import Foundation
import Testing
import Tensors
@testable import Training

/// The losses against PyTorch's (fixture logits and gradients) and against central differences
/// of an independent Double implementation.
struct LossTests {
    static let cases: [(file: String, loss: RegionLoss, padding: RegionPadding)] = [
        ("training_focal", .sigmoidFocal(), .repeating), ("training_focal_masked", .sigmoidFocal(), .masked),
        ("training_cross_entropy", .softmaxCrossEntropy, .repeating), ("training_cross_entropy_masked", .softmaxCrossEntropy, .masked),
    ]

    @Test(arguments: 0..<4)
    func lossAndLogitGradientMatchTorch(index: Int) throws {
        let (name, loss, padding) = Self.cases[index]
        let batch = try Fixtures.file("training_batch"), reference = try Fixtures.file(name)
        let padded = try PaddedRegions(regionCounts: try Fixtures.integers(batch, "region_counts"), padding: padding)
        let logits = try reference.tensor(named: "logits").reshaped([padded.rows, -1])
        let labels = padded.gather(labels: try Fixtures.integers(batch, "labels"))
        let (value, gradient) = try loss.evaluate(logits: logits, labels: labels, weights: padded.lossWeights)
        let expected = Double(try reference.tensor(named: "loss").scalars[0])
        #expect(abs(value - expected) / expected < 1e-6, "\(name): \(value) vs \(expected)")
        let expectedGradient = try reference.tensor(named: "dlogits").scalars
        let scale = expectedGradient.map(abs).max()!
        #expect(maxDifference(gradient.scalars, expectedGradient) / scale < 1e-5, "\(name)")
        print("\(name): loss \(value) vs \(expected); max |Δ dlogits| / max |dlogits| \(maxDifference(gradient.scalars, expectedGradient) / scale)")
    }

    /// Logits across the range the head produces (±logit scale), labels, per-row weights.
    static func sample(rows: Int, classes: Int, seed: UInt64) -> (logits: Tensor, labels: [Int], weights: [Float]) {
        var generator = SplitMix64(seed: seed)
        let logits = Tensor.random([rows, classes], in: -30...30, using: &generator)
        let labels = (0..<rows).map { _ in Int.random(in: 0..<classes, using: &generator) }
        let weights = (0..<rows).map { _ in Float.random(in: 0...1, using: &generator) }
        return (logits, labels, weights)
    }

    /// PyTorch's formulation in Double: BCE with logits, p_t, (1 − p_t)^γ, α_t.
    static func focalReference(_ x: [Double], classes: Int, labels: [Int], weights: [Float], alpha: Double, gamma: Double) -> Double {
        var total = 0.0
        for (i, v) in x.enumerated() {
            let t: Double = i % classes == labels[i / classes] ? 1 : 0
            let p = 1 / (1 + exp(-v))
            let bce = max(v, 0) - v * t + log1p(exp(-abs(v)))
            let pt = p * t + (1 - p) * (1 - t)
            let alphaT = alpha >= 0 ? alpha * t + (1 - alpha) * (1 - t) : 1
            total += Double(weights[i / classes]) * alphaT * bce * pow(1 - pt, gamma)
        }
        return total
    }

    static func crossEntropyReference(_ x: [Double], classes: Int, labels: [Int], weights: [Float]) -> Double {
        (0..<labels.count).reduce(0) { total, r in
            let row = x[(r * classes)..<((r + 1) * classes)]
            let m = row.max()!
            return total + Double(weights[r]) * (m + log(row.reduce(0) { $0 + exp($1 - m) }) - row[r * classes + labels[r]])
        }
    }

    @Test(arguments: [(Float(0.25), Float(2)), (0.5, 1.5), (-1, 0)])
    func focalGradientMatchesCentralDifferences(alpha: Float, gamma: Float) throws {
        let (logits, labels, weights) = Self.sample(rows: 7, classes: 13, seed: 41)
        let (value, gradient) = try RegionLoss.sigmoidFocal(alpha: alpha, gamma: gamma).evaluate(logits: logits, labels: labels, weights: weights)
        let x = logits.scalars.map(Double.init)
        func f(_ x: [Double]) -> Double {
            Self.focalReference(x, classes: 13, labels: labels, weights: weights, alpha: Double(alpha), gamma: Double(gamma))
        }
        #expect(abs(value - f(x)) / f(x) < 1e-6)
        #expect(maxRelativeError(gradient.scalars, centralDifferences(x, step: 1e-5, f), floor: 1e-3) < 1e-4)
    }

    @Test func crossEntropyGradientMatchesCentralDifferences() throws {
        let (logits, labels, weights) = Self.sample(rows: 7, classes: 13, seed: 42)
        let (value, gradient) = try RegionLoss.softmaxCrossEntropy.evaluate(logits: logits, labels: labels, weights: weights)
        let x = logits.scalars.map(Double.init)
        func f(_ x: [Double]) -> Double { Self.crossEntropyReference(x, classes: 13, labels: labels, weights: weights) }
        #expect(abs(value - f(x)) / f(x) < 1e-6)
        #expect(maxRelativeError(gradient.scalars, centralDifferences(x, step: 1e-5, f), floor: 1e-3) < 1e-4)
    }

    @Test func extremeLogitsStayFinite() throws {
        let logits = Tensor(shape: [2, 3], scalars: [100, -100, 0, -100, 100, 88])
        for loss in [RegionLoss.sigmoidFocal(), .softmaxCrossEntropy] {
            let (value, gradient) = try loss.evaluate(logits: logits, labels: [0, 0], weights: [1, 1])
            #expect(value.isFinite && gradient.scalars.allSatisfy(\.isFinite), "\(loss)")
        }
    }

    @Test func labelsOutsideTheVocabularyAreRejected() {
        let logits = Tensor(shape: [2, 3])
        #expect(throws: TrainingError.badBatch("row 1 has label 3; the vocabulary has 3 classes")) {
            try RegionLoss.softmaxCrossEntropy.evaluate(logits: logits, labels: [0, 3], weights: [1, 1])
        }
    }
}
