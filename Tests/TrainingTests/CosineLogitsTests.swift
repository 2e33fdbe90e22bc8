import Foundation
import Testing
import RegionSpot
import Tensors
@testable import Training

struct CosineLogitsTests {
    /// Σ dL ⊙ logits, logits = s·x/(‖x‖+1e-7)·Cᵀ, differentiated in Double against the backward.
    @Test func backwardMatchesCentralDifferences() throws {
        var generator = SplitMix64(seed: 51)
        let (rows, width, classes, scale) = (5, 24, 11, Float(100))
        let x = Tensor.random([rows, width], using: &generator)
        let classEmbeddings = Tensor.random([classes, width], using: &generator).l2Normalized()
        let upstream = Tensor.random([rows, classes], using: &generator)
        let gradient = CosineLogits.backward(regionFeatures: x, classEmbeddings: classEmbeddings, logitScale: scale, logitGradient: upstream)
        func objective(_ values: [Double]) -> Double {
            var total = 0.0
            for r in 0..<rows {
                let row = values[(r * width)..<((r + 1) * width)]
                let norm = row.reduce(0) { $0 + $1 * $1 }.squareRoot() + 1e-7
                for c in 0..<classes {
                    let dot = zip(row, classEmbeddings.scalars[(c * width)..<((c + 1) * width)]).reduce(0) { $0 + $1.0 * Double($1.1) }
                    total += Double(upstream.scalars[r * classes + c]) * Double(scale) * dot / norm
                }
            }
            return total
        }
        let expected = centralDifferences(x.scalars.map(Double.init), step: 1e-6, objective)
        #expect(maxRelativeError(gradient.scalars, expected, floor: 1) < 1e-4)
        // The forward it differentiates is the one inference uses.
        let logits = RegionSpotModel.logits(regionFeatures: x, classEmbeddings: classEmbeddings, logitScale: scale)
        #expect(abs(Double((logits * upstream).scalars.reduce(0, +)) - objective(x.scalars.map(Double.init))) < 1e-3)
    }
}
