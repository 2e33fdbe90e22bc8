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

    /// Several images' regions at once, tgt packed in `blocks`, one
    /// `multiheadAttn.keysValues(memory)` per image: attention stays within an image (its regions,
    /// its memory), while the norms and the feed-forward, which work row by row, take every
    /// block in one pass. Padding rows stay out of attention.
    func callAsFunction(_ tgt: Tensor, blocks: RowBlocks, memoryKeysValues: [Tensor]) -> Tensor {
        var x = norm1(tgt + blocks.pack(blocks.unpack(tgt).map { selfAttn.selfAttention($0) }))
        x = norm2(x + blocks.pack(zip(blocks.unpack(x), memoryKeysValues).map { multiheadAttn.crossAttention($0, memoryKeysValues: $1) }))
        return norm3(x + linear2(linear1(x).relu()))
    }

    /// What the backward needs from one training forward.
    public struct Trace: Sendable {
        let selfAttention: MultiheadAttention.Trace, crossAttention: MultiheadAttention.Trace
        /// The inputs of norm1..3 (the residual sums) and of linear1, relu and linear2.
        let sum1: Tensor, sum2: Tensor, sum3: Tensor
        let x2: Tensor, hidden: Tensor, activated: Tensor
        let masks: [Tensor?]  // dropout1, dropout2, dropout (FFN), dropout3
    }

    /// `forward_post` in training mode over a batch: tgt [sequences·slots, D], memory
    /// [sequences·tokens, D], dropout after each attention, inside the FFN and after it, and
    /// on the attention weights, drawn from `generator` in that order.
    func trainingForward(_ tgt: Tensor, memory: Tensor, sequences: Int, keyPadding: [Bool]?, dropout: Dropout,
                         generator: inout SplitMix64) -> (output: Tensor, trace: Trace) {
        let (a, selfTrace) = selfAttn.trainingForward(tgt, sequences: sequences, keyPadding: keyPadding, dropout: dropout, generator: &generator)
        let mask1 = dropout.mask(a.shape, generator: &generator)
        let sum1 = tgt + Dropout.apply(a, mask: mask1)
        let x1 = norm1(sum1)
        let (c, crossTrace) = multiheadAttn.trainingForward(x1, memory: memory, sequences: sequences, dropout: dropout, generator: &generator)
        let mask2 = dropout.mask(c.shape, generator: &generator)
        let sum2 = x1 + Dropout.apply(c, mask: mask2)
        let x2 = norm2(sum2)
        let hidden = linear1(x2)
        let maskFFN = dropout.mask(hidden.shape, generator: &generator)
        let activated = Dropout.apply(hidden.relu(), mask: maskFFN)
        let f = linear2(activated)
        let mask3 = dropout.mask(f.shape, generator: &generator)
        let sum3 = x2 + Dropout.apply(f, mask: mask3)
        let trace = Trace(selfAttention: selfTrace, crossAttention: crossTrace, sum1: sum1, sum2: sum2, sum3: sum3, x2: x2,
                          hidden: hidden, activated: activated, masks: [mask1, mask2, maskFFN, mask3])
        return (norm3(sum3), trace)
    }

    /// Adds every parameter's gradient into `gradients`, returns that of tgt.
    func backward(_ dy: Tensor, trace: Trace, into gradients: inout TransformerDecoderLayer) -> Tensor {
        let dSum3 = norm3.backward(trace.sum3, outputGradient: dy, into: &gradients.norm3)
        let dActivated = linear2.backward(trace.activated, outputGradient: Dropout.apply(dSum3, mask: trace.masks[3]), into: &gradients.linear2)
        let dHidden = trace.hidden.reluBackward(Dropout.apply(dActivated, mask: trace.masks[2]))
        let dX2 = dSum3 + linear1.backward(trace.x2, outputGradient: dHidden, into: &gradients.linear1)
        let dSum2 = norm2.backward(trace.sum2, outputGradient: dX2, into: &gradients.norm2)
        let dX1 = dSum2 + multiheadAttn.backward(Dropout.apply(dSum2, mask: trace.masks[1]), trace: trace.crossAttention,
                                                 into: &gradients.multiheadAttn)
        let dSum1 = norm1.backward(trace.sum1, outputGradient: dX1, into: &gradients.norm1)
        return dSum1 + selfAttn.backward(Dropout.apply(dSum1, mask: trace.masks[0]), trace: trace.selfAttention, into: &gradients.selfAttn)
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

    /// Several images' regions (see `TransformerDecoderLayer`): tgt packed in `blocks`, one
    /// memory [T_i, D] (CLIP token map) per image → packed like tgt.
    func callAsFunction(_ tgt: Tensor, blocks: RowBlocks, memories: [Tensor]) -> Tensor {
        var x = tgt
        for layer in layers {
            x = layer(x, blocks: blocks, memoryKeysValues: memories.map(layer.multiheadAttn.keysValues))
        }
        return norm(x)
    }

    /// The layers' traces and the final norm's input.
    public struct Trace: Sendable {
        let layers: [TransformerDecoderLayer.Trace]
        let normInput: Tensor
    }

    /// Training forward over a batch (see `TransformerDecoderLayer.trainingForward`).
    func trainingForward(_ tgt: Tensor, memory: Tensor, sequences: Int, keyPadding: [Bool]?, dropout: Dropout,
                         generator: inout SplitMix64) -> (output: Tensor, trace: Trace) {
        var x = tgt, traces: [TransformerDecoderLayer.Trace] = []
        for layer in layers {
            let (y, trace) = layer.trainingForward(x, memory: memory, sequences: sequences, keyPadding: keyPadding, dropout: dropout,
                                                   generator: &generator)
            traces.append(trace)
            x = y
        }
        return (norm(x), Trace(layers: traces, normInput: x))
    }

    /// Adds every parameter's gradient into `gradients`, returns that of tgt.
    func backward(_ dy: Tensor, trace: Trace, into gradients: inout TransformerDecoder) -> Tensor {
        var dx = norm.backward(trace.normInput, outputGradient: dy, into: &gradients.norm)
        for i in layers.indices.reversed() { dx = layers[i].backward(dx, trace: trace.layers[i], into: &gradients.layers[i]) }
        return dx
    }

    public mutating func updateParameters(prefix: String, _ body: (String, inout Tensor) throws -> Void) rethrows {
        for i in layers.indices { try layers[i].updateParameters(prefix: parameterKey(prefix, "layers.\(i)"), body) }
        try norm.updateParameters(prefix: parameterKey(prefix, "norm"), body)
    }
}
