import Layers
import Testing
import TestSupport
import Tensors

/// The shared layers against plain formulas: packed projections read in place, attention over
/// sequences with shared keys, and the parameter walk.
struct LayersTests {
    var generator = SplitMix64(seed: 11)

    @Test mutating func packedProjectionPartsAreRowsOfTheWhole() {
        let linear = Linear(weight: Tensor.random([12, 5], using: &generator), bias: Tensor.random([12], using: &generator))
        let x = Tensor.random([7, 5], using: &generator)
        let whole = linear(x)
        let part = linear(x, outputs: 4..<8)
        #expect(part.shape == [7, 4])
        #expect(part == whole.slice(axis: 1, range: 4..<8))
    }

    @Test mutating func attentionWithSharedKeysEqualsEachSequenceOnItsOwn() {
        let dim = 16, heads = 4
        let attention = MultiheadAttention(
            projection: .packed(Linear(weight: Tensor.random([3 * dim, dim], using: &generator), bias: Tensor.random([3 * dim], using: &generator))),
            outProj: Linear(weight: Tensor.random([dim, dim], using: &generator), bias: nil), heads: heads)
        let queries = Tensor.random([3 * 5, dim], using: &generator)     // 3 sequences of 5 queries
        let memory = Tensor.random([9, dim], using: &generator)          // one memory every sequence attends to
        let q = attention.queries(queries), kv = attention.keysValues(memory)
        let shared = attention.attend(queries: .init(q), keys: .init(kv, from: 0, shared: true), values: .init(kv, from: dim, shared: true),
                                      sequences: 3)
        for s in 0..<3 {
            let own = Attention.naive(queries: q.rows((s * 5)..<((s + 1) * 5)), keys: kv.slice(axis: 1, range: 0..<dim),
                                      values: kv.slice(axis: 1, range: dim..<(2 * dim)), heads: heads)
            #expect(relativeError(shared.rows((s * 5)..<((s + 1) * 5)), own) < 1e-5)
        }
        #expect(attention.parameters().map(\.key) == ["in_proj_weight", "in_proj_bias", "out_proj.weight"])
    }

    @Test mutating func parametersAreWalkedAndReplacedInPlace() {
        var norm = LayerNorm(weight: Tensor.random([6], using: &generator), bias: Tensor.random([6], using: &generator))
        norm.updateParameters(prefix: "decoder.norm") { key, tensor in
            if key == "decoder.norm.bias" { tensor = Tensor(shape: [6]) }
        }
        #expect(norm.bias == Tensor(shape: [6]))
        #expect(norm.parameters(prefix: "decoder.norm").map(\.key) == ["decoder.norm.weight", "decoder.norm.bias"])
    }
}
