import Testing
import Tensors
@testable import SAM

/// The decomposed relative-position bias against `add_decomposed_rel_pos` written out in Double:
/// bias[q, k] = q·rel_pos_h[qh − kh + span − 1] + q·rel_pos_w[qw − kw + span − 1], per head.
/// Spans of 14 (SAM's windows: key rows shorter than a vector) and 20 (a vector and a tail),
/// key ranges starting inside a key row, a block of queries inside a later window.
@Test(arguments: [(14, 3, 2), (20, 1, 3)])
func decomposedRelativePositionMatchesTheFormula(span: Int, windows: Int, heads: Int) throws {
    let headDim = 16, dim = heads * headDim, tokens = span * span
    var generator = SplitMix64(seed: UInt64(span))
    let qkv = Tensor.random([windows * tokens, 3 * dim], in: -1...1, using: &generator)
    let relH = Tensor.random([2 * span - 1, headDim], in: -1...1, using: &generator)
    let relW = Tensor.random([2 * span - 1, headDim], in: -1...1, using: &generator)
    let loader = try WeightLoader(tensors: [
        "qkv.weight": Tensor(shape: [3 * dim, dim]), "qkv.bias": Tensor(shape: [3 * dim]),
        "proj.weight": Tensor(shape: [dim, dim]), "proj.bias": Tensor(shape: [dim]),
        "rel_pos_h": relH, "rel_pos_w": relW,
    ])
    let attention = try ImageEncoderViT.RelPosAttention(loader, dim: dim)
    let bias = ImageEncoderViT.DecomposedRelativePosition(
        qkv: qkv, tableH: attention.relPosHTransposed, tableWReversed: attention.relPosWReversedTransposed,
        headDim: headDim, tokens: tokens, width: span, span: span)

    let sequence = windows - 1, head = heads - 1
    let queries = 5..<(tokens - 3), keys = (span + 3)..<tokens
    var prepared = [Float](repeating: .nan, count: queries.count * bias.preparedRowSize)
    prepared.withUnsafeMutableBufferPointer {
        bias.prepare(sequence: sequence, head: head, queries: queries, into: $0.baseAddress!)
    }

    func dot(_ query: Int, _ table: Tensor, _ offset: Int) -> Double {
        (0..<headDim).reduce(0.0) { sum, c in
            sum + Double(qkv.scalars[(sequence * tokens + query) * 3 * dim + head * headDim + c])
                * Double(table.scalars[offset * headDim + c])
        }
    }
    /// `add` onto zeros must leave the columns past the key range alone; `write` onto NaN may not.
    for (writes, rowStride) in [(false, keys.count + 5), (true, keys.count + 15), (true, keys.count + 2)] {
        var tile = [Float](repeating: writes ? .nan : 0, count: queries.count * rowStride)
        prepared.withUnsafeBufferPointer { state in
            tile.withUnsafeMutableBufferPointer {
                if writes {
                    bias.write(sequence: sequence, head: head, queries: queries, keys: keys, prepared: state.baseAddress!,
                               to: $0.baseAddress!, rowStride: rowStride)
                } else {
                    bias.add(sequence: sequence, head: head, queries: queries, keys: keys, prepared: state.baseAddress!,
                             to: $0.baseAddress!, rowStride: rowStride)
                }
            }
        }
        var worst = 0.0
        for (i, query) in queries.enumerated() {
            for (j, key) in keys.enumerated() {
                let expected = dot(query, relH, query / span - key / span + span - 1) + dot(query, relW, query % span - key % span + span - 1)
                let error = abs(Double(tile[i * rowStride + j]) - expected)
                worst = error.isNaN ? .infinity : max(worst, error)
            }
            if !writes { #expect(tile[(i * rowStride + keys.count)..<((i + 1) * rowStride)].allSatisfy { $0 == 0 }) }
        }
        #expect(worst <= 1e-5, "writes \(writes), row stride \(rowStride)")
    }
}
