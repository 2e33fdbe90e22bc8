import Testing
import Layers
import Tensors
import TestSupport

/// Every layer's backward against central differences of its own forward.
struct BackwardTests {
    @Test func linearBackward() {
        var generator = SplitMix64(seed: 81)
        let layer = Linear(weight: Tensor.random([5, 7], using: &generator), bias: Tensor.random([5], using: &generator))
        let x = Tensor.random([3, 7], using: &generator), upstream = Tensor.random([3, 5], using: &generator)
        var gradients = layer.zeroed()
        let dx = layer.backward(x, outputGradient: upstream, into: &gradients)
        var check = GradientCheck()
        #expect(check.parameterError(layer, gradients: gradients) { weightedSum($0(x), upstream) } < 1e-4)
        #expect(check.inputError(x, gradient: dx) { weightedSum(layer($0), upstream) } < 1e-4)
        // Gradients accumulate: a second backward doubles them.
        _ = layer.backward(x, outputGradient: upstream, into: &gradients)
        var once = layer.zeroed()
        _ = layer.backward(x, outputGradient: upstream, into: &once)
        #expect(maxDifference(gradients.weight, once.weight * 2) < 1e-6)
    }

    @Test func linearBackwardOfPackedRows() {
        var generator = SplitMix64(seed: 82)
        let layer = Linear(weight: Tensor.random([9, 4], using: &generator), bias: Tensor.random([9], using: &generator))
        let x = Tensor.random([6, 4], using: &generator), upstream = Tensor.random([6, 3], using: &generator)
        var gradients = layer.zeroed()
        layer.accumulateGradients(input: x, outputGradient: upstream, into: &gradients, outputs: 3..<6)
        var check = GradientCheck()
        #expect(check.parameterError(layer, gradients: gradients) { weightedSum($0(x, outputs: 3..<6), upstream) } < 1e-4)
        // Only rows 3..<6 of the weight and bias get gradients; includeBias: false leaves the bias alone.
        #expect(gradients.weight.scalars[0..<12].allSatisfy { $0 == 0 } && gradients.weight.scalars[24...].allSatisfy { $0 == 0 })
        var withoutBias = layer.zeroed()
        layer.accumulateGradients(input: x, outputGradient: upstream, into: &withoutBias, outputs: 3..<6, includeBias: false)
        #expect(withoutBias.weight == gradients.weight && withoutBias.bias!.scalars.allSatisfy { $0 == 0 })
        let dx = layer.inputGradient(upstream, outputs: 3..<6)
        #expect(check.inputError(x, gradient: dx) { weightedSum(layer($0, outputs: 3..<6), upstream) } < 1e-4)
    }

    @Test func layerNormBackward() {
        var generator = SplitMix64(seed: 83)
        let layer = LayerNorm(weight: Tensor.random([16], using: &generator), bias: Tensor.random([16], using: &generator))
        let x = Tensor.random([4, 16], in: -2...2, using: &generator), upstream = Tensor.random([4, 16], using: &generator)
        var gradients = layer.zeroed()
        let dx = layer.backward(x, outputGradient: upstream, into: &gradients)
        var check = GradientCheck(step: 1e-2)
        #expect(check.parameterError(layer, gradients: gradients) { weightedSum($0(x), upstream) } < 1e-3)
        #expect(check.inputError(x, gradient: dx) { weightedSum(layer($0), upstream) } < 2e-3)
    }

    static func attention(_ generator: inout SplitMix64, dim: Int = 16, heads: Int = 4) -> MultiheadAttention {
        let scale = 1 / Float(dim).squareRoot()
        return MultiheadAttention(
            projection: .packed(Linear(weight: Tensor.random([3 * dim, dim], using: &generator) * (2 * scale), bias: Tensor.random([3 * dim], using: &generator))),
            outProj: Linear(weight: Tensor.random([dim, dim], using: &generator) * scale, bias: Tensor.random([dim], using: &generator)),
            heads: heads)
    }

    /// Self-attention of 2 sequences of 5 with the last two keys of the second padded and
    /// attention dropout; the forward's masks are redrawn from the same generator state.
    @Test(arguments: [false, true])
    func selfAttentionBackward(masked: Bool) {
        var generator = SplitMix64(seed: masked ? 85 : 84)
        let layer = Self.attention(&generator)
        let x = Tensor.random([10, 16], using: &generator), upstream = Tensor.random([10, 16], using: &generator)
        let padding: [Bool]? = masked ? (0..<10).map { $0 >= 8 } : nil
        let dropout = Dropout(probability: masked ? 0.2 : 0)
        let start = generator
        func forward(_ l: MultiheadAttention, _ x: Tensor) -> (Tensor, MultiheadAttention.Trace) {
            var g = start
            return l.trainingForward(x, sequences: 2, keyPadding: padding, dropout: dropout, generator: &g)
        }
        let (output, trace) = forward(layer, x)
        if !masked {  // without padding or dropout, the training forward is the inference one
            #expect(maxDifference(output, layer.selfAttention(x, sequences: 2)) < 1e-5)
        }
        var gradients = layer.zeroed()
        let dx = layer.backward(upstream, trace: trace, into: &gradients)
        var check = GradientCheck()
        #expect(check.parameterError(layer, gradients: gradients) { weightedSum(forward($0, x).0, upstream) } < 2e-3)
        #expect(check.inputError(x, gradient: dx) { weightedSum(forward(layer, $0).0, upstream) } < 2e-3)
        // No gradient reaches the key bias (exactly zero, see `backward`).
        guard case let .packed(inProj) = gradients.projection else { Issue.record("packed"); return }
        #expect(inProj.bias!.scalars[16..<32].allSatisfy { $0 == 0 })
    }

    @Test func crossAttentionBackward() {
        var generator = SplitMix64(seed: 86)
        let layer = Self.attention(&generator)
        let x = Tensor.random([6, 16], using: &generator), memory = Tensor.random([14, 16], using: &generator)
        let upstream = Tensor.random([6, 16], using: &generator)
        func forward(_ l: MultiheadAttention, _ x: Tensor) -> (Tensor, MultiheadAttention.Trace) {
            var g = SplitMix64(seed: 0)
            return l.trainingForward(x, memory: memory, sequences: 2, dropout: .off, generator: &g)
        }
        let (output, trace) = forward(layer, x)
        // Without dropout the training forward is the inference one, per sequence.
        let inference = Tensor.concatenate((0..<2).map { s in
            layer.crossAttention(x.rows((3 * s)..<(3 * s + 3)), memoryKeysValues: layer.keysValues(memory.rows((7 * s)..<(7 * s + 7))))
        })
        #expect(maxDifference(output, inference) < 1e-5)
        var gradients = layer.zeroed()
        let dx = layer.backward(upstream, trace: trace, into: &gradients)
        var check = GradientCheck()
        #expect(check.parameterError(layer, gradients: gradients) { weightedSum(forward($0, x).0, upstream) } < 2e-3)
        #expect(check.inputError(x, gradient: dx) { weightedSum(forward(layer, $0).0, upstream) } < 2e-3)
    }

    @Test func reluBackward() {
        var generator = SplitMix64(seed: 87)
        let x = Tensor.random([40], using: &generator), upstream = Tensor.random([40], using: &generator)
        var check = GradientCheck(step: 1e-3)
        #expect(check.inputError(x, gradient: x.reluBackward(upstream)) { weightedSum($0.relu(), upstream) } < 1e-2)
    }
}
