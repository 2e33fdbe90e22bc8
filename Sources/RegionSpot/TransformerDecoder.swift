import Foundation
import Layers
import Tensors

// RegionSpot's decoder, Surrey-UP-Lab/RegionSpot:regionspot/modeling/decoder.py (`build_decoder`):
// `TransformerDecoder(TransformerDecoderLayer(D, nhead 8, 2048, relu, normalize_before=False), 3,
// norm=LayerNorm(D))`, both attentions `nn.MultiheadAttention(batch_first=True)`. RegionSpot calls it
// as `decoder(tgt=to_clip(mask tokens) [B, regions, D], memory=CLIP token map [B, 1+g², D])` with no
// masks and no positional terms (`pos`, `query_pos` stay None), so regions attend to each other
// (self-attention) and to the CLIP tokens (cross-attention). Dropout is off at inference. The
// same computation and keys as `torch.nn.TransformerDecoder` with `norm_first=False`.

/// One post-norm decoder layer (`forward_post`): keys `self_attn`, `multihead_attn`, `linear1`,
/// `linear2`, `norm1..3`.
public struct TransformerDecoderLayer: ParameterizedLayer {
    public var selfAttn: MultiheadAttention
    public var multiheadAttn: MultiheadAttention
    public var linear1: Linear
    public var linear2: Linear
    public var norm1: LayerNorm
    public var norm2: LayerNorm
    public var norm3: LayerNorm

    init(_ scope: WeightLoader, config: FusionConfig) throws {
        let d = config.dModel
        selfAttn = try MultiheadAttention(packed: scope.scoped("self_attn"), dim: d, heads: config.heads)
        multiheadAttn = try MultiheadAttention(packed: scope.scoped("multihead_attn"), dim: d, heads: config.heads)
        linear1 = try Linear(scope.scoped("linear1"), inputs: d, outputs: config.feedForward)
        linear2 = try Linear(scope.scoped("linear2"), inputs: config.feedForward, outputs: d)
        norm1 = try LayerNorm(scope.scoped("norm1"), dim: d)
        norm2 = try LayerNorm(scope.scoped("norm2"), dim: d)
        norm3 = try LayerNorm(scope.scoped("norm3"), dim: d)
    }

    /// tgt [N, D], memoryKeysValues = `multiheadAttn.keysValues(memory)` → [N, D].
    func callAsFunction(_ tgt: Tensor, memoryKeysValues: Tensor) -> Tensor {
        var x = norm1(tgt + selfAttn.selfAttention(tgt))
        x = norm2(x + multiheadAttn.crossAttention(x, memoryKeysValues: memoryKeysValues))
        return norm3(x + linear2(linear1(x).relu()))
    }

    public mutating func updateParameters(prefix: String, _ body: (String, inout Tensor) throws -> Void) rethrows {
        try selfAttn.updateParameters(prefix: parameterKey(prefix, "self_attn"), body)
        try multiheadAttn.updateParameters(prefix: parameterKey(prefix, "multihead_attn"), body)
        try linear1.updateParameters(prefix: parameterKey(prefix, "linear1"), body)
        try linear2.updateParameters(prefix: parameterKey(prefix, "linear2"), body)
        try norm1.updateParameters(prefix: parameterKey(prefix, "norm1"), body)
        try norm2.updateParameters(prefix: parameterKey(prefix, "norm2"), body)
        try norm3.updateParameters(prefix: parameterKey(prefix, "norm3"), body)
    }
}

/// The layer stack plus the final `norm`: keys `layers.{i}.*`, `norm.*`.
public struct TransformerDecoder: ParameterizedLayer {
    public var layers: [TransformerDecoderLayer]
    public var norm: LayerNorm

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
            x = layer(x, memoryKeysValues: layer.multiheadAttn.keysValues(memory))
        }
        return norm(x)
    }

    public mutating func updateParameters(prefix: String, _ body: (String, inout Tensor) throws -> Void) rethrows {
        for i in layers.indices { try layers[i].updateParameters(prefix: parameterKey(prefix, "layers.\(i)"), body) }
        try norm.updateParameters(prefix: parameterKey(prefix, "norm"), body)
    }
}
