import Foundation
import Tensors

// RegionSpot's decoder, Surrey-UP-Lab/RegionSpot:regionspot/modeling/decoder.py (`build_decoder`):
// `TransformerDecoder(TransformerDecoderLayer(D, nhead 8, 2048, relu, normalize_before=False), 3,
// norm=LayerNorm(D))`, both attentions `nn.MultiheadAttention(batch_first=True)`. RegionSpot calls it
// as `decoder(tgt=to_clip(mask tokens) [B, regions, D], memory=CLIP token map [B, 1+g², D])` with no
// masks and no positional terms (`pos`, `query_pos` stay None), so regions attend to each other
// (self-attention) and to the CLIP tokens (cross-attention). Dropout is off at inference. The
// same computation and keys as `torch.nn.TransformerDecoder` with `norm_first=False`.

/// `nn.MultiheadAttention` with its packed in-projection `in_proj_weight` [3D, D] = [W_q; W_k; W_v].
struct MultiheadAttention: Sendable {
    let inProj: Linear
    /// Rows D..<3D of the in-projection: keys and values of the memory in one product.
    let keyValueProj: Linear
    let queryProj: Linear
    let outProj: Linear
    let heads: Int
    let dim: Int

    init(_ scope: WeightLoader, dim: Int, heads: Int) throws {
        let weight = try scope.tensor("in_proj_weight", shape: [3 * dim, dim])
        let bias = try scope.tensor("in_proj_bias", shape: [3 * dim])
        inProj = Linear(weight: weight, bias: bias)
        queryProj = Linear(weight: weight.rows(0..<dim), bias: bias.rows(0..<dim))
        keyValueProj = Linear(weight: weight.rows(dim..<(3 * dim)), bias: bias.rows(dim..<(3 * dim)))
        outProj = try Linear(scope.scoped("out_proj"), inFeatures: dim, outFeatures: dim)
        self.heads = heads
        self.dim = dim
    }

    /// Self-attention, query = key = value = x [N, D] → [N, D].
    func selfAttention(_ x: Tensor) -> Tensor {
        let qkv = inProj(x)  // [N, 3D]: q | k | v
        return outProj(attend(queries: qkv, queryStride: 3 * dim, keyValues: qkv, keyOffset: dim, keyValueStride: 3 * dim))
    }

    /// Keys and values of a memory [T, D] → [T, 2D] (k | v): computed once per image.
    func projectMemory(_ memory: Tensor) -> Tensor { keyValueProj(memory) }

    /// Cross-attention of x [N, D] to a memory projected by `projectMemory` → [N, D].
    func crossAttention(_ x: Tensor, memoryKeyValues: Tensor) -> Tensor {
        let q = queryProj(x)  // [N, D]
        return outProj(attend(queries: q, queryStride: dim, keyValues: memoryKeyValues, keyOffset: 0, keyValueStride: 2 * dim))
    }

    /// Scaled dot-product attention over heads; keys start at column `keyOffset` of `keyValues`
    /// and values D columns further.
    private func attend(queries: Tensor, queryStride: Int, keyValues: Tensor, keyOffset: Int, keyValueStride: Int) -> Tensor {
        let queryCount = queries.shape[0], keyCount = keyValues.shape[0]
        let headDim = dim / heads
        return Tensor(shape: [queryCount, dim]) { out in
            queries.withUnsafeBufferPointer { q in
                keyValues.withUnsafeBufferPointer { kv in
                    Attention.compute(
                        queries: q.baseAddress!, queryStride: queryStride,
                        keys: kv.baseAddress! + keyOffset, keyStride: keyValueStride,
                        values: kv.baseAddress! + keyOffset + dim, valueStride: keyValueStride,
                        output: out.baseAddress!, outputStride: dim,
                        queryCount: queryCount, keyCount: keyCount, heads: heads,
                        headDim: headDim, valueDim: headDim,
                        scale: 1 / Float(headDim).squareRoot(), bias: nil)
                }
            }
        }
    }
}

/// One post-norm decoder layer (`forward_post`): keys `self_attn`, `multihead_attn`, `linear1`,
/// `linear2`, `norm1..3`.
struct TransformerDecoderLayer: Sendable {
    let selfAttn: MultiheadAttention
    let multiheadAttn: MultiheadAttention
    let linear1: Linear
    let linear2: Linear
    let norm1: LayerNorm
    let norm2: LayerNorm
    let norm3: LayerNorm

    init(_ scope: WeightLoader, config: FusionConfig) throws {
        let d = config.dModel
        selfAttn = try MultiheadAttention(scope.scoped("self_attn"), dim: d, heads: config.heads)
        multiheadAttn = try MultiheadAttention(scope.scoped("multihead_attn"), dim: d, heads: config.heads)
        linear1 = try Linear(scope.scoped("linear1"), inFeatures: d, outFeatures: config.feedForward)
        linear2 = try Linear(scope.scoped("linear2"), inFeatures: config.feedForward, outFeatures: d)
        norm1 = try LayerNorm(scope.scoped("norm1"), dim: d)
        norm2 = try LayerNorm(scope.scoped("norm2"), dim: d)
        norm3 = try LayerNorm(scope.scoped("norm3"), dim: d)
    }

    /// tgt [N, D], memoryKeyValues = `multiheadAttn.projectMemory(memory)` → [N, D].
    func callAsFunction(_ tgt: Tensor, memoryKeyValues: Tensor) -> Tensor {
        var x = norm1(tgt + selfAttn.selfAttention(tgt))
        x = norm2(x + multiheadAttn.crossAttention(x, memoryKeyValues: memoryKeyValues))
        return norm3(x + linear2(linear1(x).relu()))
    }
}

/// The layer stack plus the final `norm`: keys `layers.{i}.*`, `norm.*`.
struct TransformerDecoder: Sendable {
    let layers: [TransformerDecoderLayer]
    let norm: LayerNorm

    init(_ scope: WeightLoader, config: FusionConfig) throws {
        layers = try (0..<config.layers).map {
            try TransformerDecoderLayer(scope.scoped("layers").scoped($0), config: config)
        }
        norm = try LayerNorm(scope.scoped("norm"), dim: config.dModel)
    }

    /// tgt [N, D] (region tokens of one image), memory [T, D] (its CLIP token map) → [N, D].
    func callAsFunction(_ tgt: Tensor, memory: Tensor) -> Tensor {
        var x = tgt
        for layer in layers {
            x = layer(x, memoryKeyValues: layer.multiheadAttn.projectMemory(memory))
        }
        return norm(x)
    }
}
