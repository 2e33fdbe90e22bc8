import Foundation
import Testing
@testable import Tensors

/// The blocked, in-place feed-forward against the same sublayer written out in double precision.
@Suite struct FeedForwardTests {
    /// x + fc2(act(fc1(norm(x)))) in Double.
    static func reference(_ x: Tensor, _ ff: FeedForward) -> [Double] {
        let rows = x.count / ff.width
        let input = ff.norm.map { Reference.layerNorm(x, $0.weight, $0.bias, eps: Double($0.eps)).map(Float.init) } ?? x.scalars
        let hidden = Reference.linear(Tensor(shape: [rows, ff.width], scalars: input), ff.fc1Weight, ff.fc1Bias).map { value -> Float in
            let v = Float(value)
            switch ff.activation {
            case .gelu: return Float(Reference.gelu(v))
            case .quickGelu: return Float(Reference.quickGelu(v))
            case .relu: return max(v, 0)
            }
        }
        let out = Reference.linear(Tensor(shape: [rows, ff.hidden], scalars: hidden), ff.fc2Weight, ff.fc2Bias)
        return zip(x.scalars, out).map { Double($0) + $1 }
    }

    @Test(arguments: [FeedForward.Activation.gelu, .quickGelu, .relu])
    func matchesTheSublayerWrittenOut(activation: FeedForward.Activation) {
        var generator = SplitMix64(seed: 31)
        // Row counts below, at and across block boundaries (blocks hold up to 512 rows per worker).
        for (rows, width, hidden, normed) in [(1, 8, 32, true), (5, 17, 40, false), (1031, 24, 96, true), (2, 64, 8, false)] {
            let norm = normed ? FeedForward.Norm(weight: .random([width], using: &generator), bias: .random([width], using: &generator), eps: 1e-6) : nil
            let ff = FeedForward(fc1Weight: .random([hidden, width], using: &generator), fc1Bias: .random([hidden], using: &generator),
                                 fc2Weight: .random([width, hidden], using: &generator), fc2Bias: rows == 2 ? nil : .random([width], using: &generator),
                                 activation: activation, norm: norm)
            var x = Tensor.random([rows, width], in: -2...2, using: &generator)
            let expected = Self.reference(x, ff)
            ff.addResidual(to: &x)
            #expect(maxRelativeError(x.scalars, expected) <= 1e-5, "rows \(rows) width \(width) hidden \(hidden)")
        }
    }

    @Test func addLinearAccumulatesOntoTheTarget() {
        var generator = SplitMix64(seed: 32)
        let input = Tensor.random([37, 19], using: &generator), weight = Tensor.random([23, 19], using: &generator)
        let bias = Tensor.random([23], using: &generator)
        var x = Tensor.random([37, 23], using: &generator)
        let expected = zip(x.scalars, Reference.linear(input, weight, bias)).map { Double($0) + $1 }
        x.addLinear(input, weight: weight, bias: bias)
        #expect(maxRelativeError(x.scalars, expected) <= 1e-5)
    }
}
