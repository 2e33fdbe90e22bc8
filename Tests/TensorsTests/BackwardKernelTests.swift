import Foundation
import Testing
@testable import Tensors

/// Each backward kernel against central differences of a double-precision forward.
@Suite struct BackwardKernelTests {
    /// ∂/∂x_i of f by central differences, for every i.
    static func centralDifferences(_ x: [Double], step: Double = 1e-6, _ f: ([Double]) -> Double) -> [Double] {
        x.indices.map { i in
            var plus = x, minus = x
            plus[i] += step
            minus[i] -= step
            return (f(plus) - f(minus)) / (2 * step)
        }
    }

    /// Σ upstream · values.
    static func dot(_ upstream: Tensor, _ values: [Double]) -> Double {
        zip(upstream.scalars, values).reduce(0) { $0 + Double($1.0) * $1.1 }
    }

    @Test func layerNormBackwardMatchesCentralDifferences() {
        var generator = SplitMix64(seed: 71)
        let (rows, width) = (5, 19)
        let x = Tensor.random([rows, width], in: -2...3, using: &generator)
        let weight = Tensor.random([width], using: &generator), bias = Tensor.random([width], using: &generator)
        let upstream = Tensor.random([rows, width], using: &generator)
        let (dx, dWeight, dBias) = x.layerNormBackward(upstream, weight: weight, eps: 1e-5)
        func output(_ x: [Double], _ w: [Double], _ b: [Double]) -> Double {
            var total = 0.0
            for r in 0..<rows {
                let row = x[(r * width)..<((r + 1) * width)]
                let mean = row.reduce(0, +) / Double(width)
                let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(width)
                for (j, v) in row.enumerated() {
                    total += Double(upstream.scalars[r * width + j]) * ((v - mean) / (variance + 1e-5).squareRoot() * w[j] + b[j])
                }
            }
            return total
        }
        let (xs, ws, bs) = (x.scalars.map(Double.init), weight.scalars.map(Double.init), bias.scalars.map(Double.init))
        #expect(maxRelativeError(dx.scalars, Self.centralDifferences(xs) { output($0, ws, bs) }) <= 1e-4)
        #expect(maxRelativeError(dWeight.scalars, Self.centralDifferences(ws) { output(xs, $0, bs) }) <= 1e-5)
        #expect(maxRelativeError(dBias.scalars, Self.centralDifferences(bs) { output(xs, ws, $0) }) <= 1e-5)
    }

    @Test func reluBackwardPassesPositiveInputsOnly() {
        let x = Tensor(shape: [5], scalars: [-1, 0, 2, .nan, 3])
        #expect(x.reluBackward(Tensor(shape: [5], scalars: [1, 2, 3, 4, 5])).scalars == [0, 0, 3, 0, 5])
    }

    @Test func columnSumsAddEveryRow() {
        var generator = SplitMix64(seed: 72)
        for shape in [[1, 1], [3, 7], [2, 5, 33], [2000, 3]] {
            let x = Tensor.random(shape, using: &generator)
            let width = shape.last!, rows = x.count / width
            let expected = (0..<width).map { c in (0..<rows).reduce(0.0) { $0 + Double(x.scalars[$1 * width + c]) } }
            #expect(maxRelativeError(x.columnSums().scalars, expected) <= 1e-5)
        }
    }

    /// Double attention: O = (softmax(scale·QKᵀ + padding) ⊙ mask) V per sequence and head.
    static func attention(_ q: [Double], _ k: [Double], _ v: [Double], mask: [Float]?, padding: [Bool]?,
                          sequences: Int, heads: Int, inner: Int, scale: Double) -> [Double] {
        let nq = q.count / inner / sequences, nk = k.count / inner / sequences, d = inner / heads
        var out = [Double](repeating: 0, count: q.count)
        for s in 0..<sequences { for h in 0..<heads { for i in 0..<nq {
            var scores = (0..<nk).map { j in
                (0..<d).reduce(0.0) { $0 + q[(s * nq + i) * inner + h * d + $1] * k[(s * nk + j) * inner + h * d + $1] } * scale
            }
            for j in 0..<nk where padding?[s * nk + j] == true { scores[j] = -.infinity }
            let m = scores.max()!, e = scores.map { exp($0 - m) }, total = e.reduce(0, +)
            for j in 0..<nk {
                let weight = e[j] / total * Double(mask?[((s * heads + h) * nq + i) * nk + j] ?? 1)
                for c in 0..<d { out[(s * nq + i) * inner + h * d + c] += weight * v[(s * nk + j) * inner + h * d + c] }
            }
        } } }
        return out
    }

    @Test(arguments: [false, true])
    func attentionBackwardMatchesCentralDifferences(masked: Bool) {
        var generator = SplitMix64(seed: masked ? 74 : 73)
        let (sequences, heads, inner, nq, nk) = (2, 3, 12, 4, 5)
        let q = Tensor.random([sequences * nq, inner], using: &generator)
        let k = Tensor.random([sequences * nk, inner], using: &generator)
        let v = Tensor.random([sequences * nk, inner], using: &generator)
        let upstream = Tensor.random([sequences * nq, inner], using: &generator)
        let scale = 1 / Float(inner / heads).squareRoot()
        let padding: [Bool]? = masked ? (0..<(sequences * nk)).map { $0 % nk >= 3 } : nil
        let dropout: Tensor? = masked ? Tensor(shape: [sequences, heads, nq, nk], scalars: (0..<(sequences * heads * nq * nk)).map {
            $0 % 7 == 3 ? 0 : 1 / Float(0.9)
        }) : nil
        let p = MaterializedAttention.probabilities(queries: q, keys: k, sequences: sequences, heads: heads, scale: scale, keyPadding: padding)
        let weights = dropout.map { p * $0 } ?? p
        let out = MaterializedAttention.weightedValues(weights, values: v, sequences: sequences, heads: heads)
        let (qs, ks, vs) = (q.scalars.map(Double.init), k.scalars.map(Double.init), v.scalars.map(Double.init))
        func forward(_ q: [Double], _ k: [Double], _ v: [Double]) -> [Double] {
            Self.attention(q, k, v, mask: dropout?.scalars, padding: padding, sequences: sequences, heads: heads, inner: inner, scale: Double(scale))
        }
        #expect(maxRelativeError(out.scalars, forward(qs, ks, vs)) <= 1e-5)
        let (dq, dk, dv) = MaterializedAttention.backward(outputGradient: upstream, queries: q, keys: k, values: v, probabilities: p,
                                                          weights: weights, dropoutMask: dropout, sequences: sequences, heads: heads, scale: scale)
        #expect(maxRelativeError(dq.scalars, Self.centralDifferences(qs) { Self.dot(upstream, forward($0, ks, vs)) }) <= 1e-4)
        #expect(maxRelativeError(dk.scalars, Self.centralDifferences(ks) { Self.dot(upstream, forward(qs, $0, vs)) }) <= 1e-4)
        #expect(maxRelativeError(dv.scalars, Self.centralDifferences(vs) { Self.dot(upstream, forward(qs, ks, $0)) }) <= 1e-4)
        if masked {
            // A padded key gets no weight and so no gradient.
            #expect(dk.scalars[(3 * inner)..<(5 * inner)].allSatisfy { $0 == 0 })
        }
    }
}
