import Foundation
import Layers
import Tensors

// The trained part of RegionSpot, Surrey-UP-Lab/RegionSpot:regionspot/modeling/regionspot.py
// (class `RegionSpot`):
//   to_clip   = Linear(256, clip_dim)              on each box's SAM mask token (token 0)
//   decoder   = build_decoder(d_model=clip_dim)    (TransformerDecoder.swift)
//   projector = Linear(clip_dim, text_dim)
//   forward_eval: semantic = projector(decoder(to_clip(mask_tokens), clip_featuremap))
//   get_logits:   logit_scale · semantic/(|semantic| + 1e-7) @ text_feats.T
// `logit_scale` is CLIP's `logit_scale.exp()` (a plain attribute, not in the checkpoint);
// `ln_clip` (LayerNorm without affine) is built but never used, so it has no keys and no effect.
// Checkpoint keys sit under `model.` (`model.to_clip.weight`, `model.decoder.layers.0...`);
// `build_regionspot_model` strips that prefix, and so does `RegionSpotModel.init(weights:)`.
// clip_type: CLIP_400M (ViT-B/16) → D 768, text 512; CLIP_400M_Large(_336) (ViT-L/14) → 1024, 768.

/// Sizes of the fusion head. `heads` (8) and `layers` (3) are fixed upstream; the rest
/// follows from the weights.
public struct FusionConfig: Codable, Sendable, Equatable {
    /// Width of SAM's mask tokens (the transformer dim: 256 for every SAM and MobileSAM).
    public var tokenDim: Int
    public var dModel: Int
    public var textDim: Int
    public var heads: Int
    public var layers: Int
    public var feedForward: Int

    enum CodingKeys: String, CodingKey {
        case tokenDim = "token_dim", dModel = "d_model", textDim = "text_dim", heads = "nhead", layers = "num_decoder_layers",
             feedForward = "dim_feedforward"
    }

    public init(tokenDim: Int = 256, dModel: Int, textDim: Int, heads: Int = 8, layers: Int = 3, feedForward: Int = 2048) {
        self.tokenDim = tokenDim
        self.dModel = dModel
        self.textDim = textDim
        self.heads = heads
        self.layers = layers
        self.feedForward = feedForward
    }

    /// `CLIP_400M`: ViT-B/16.
    public static let clip400M = FusionConfig(dModel: 768, textDim: 512)
    /// `CLIP_400M_Large` and `CLIP_400M_Large_336`: ViT-L/14.
    public static let clip400MLarge = FusionConfig(dModel: 1024, textDim: 768)

    /// Reads D, the text width, the layer count and the FFN width from the tensors' shapes.
    public static func inferred(from weights: WeightLoader, heads: Int = 8) throws -> FusionConfig {
        func shape(_ name: String) throws -> [Int] {
            guard let shape = weights.shape(of: name) else {
                throw FusionError.missingTensor(key: weights.key(name), keys: weights.keys.count)
            }
            return shape
        }
        let toClip = try shape("to_clip.weight")
        let projector = try shape("projector.weight")
        let linear1 = try shape("decoder.layers.0.linear1.weight")
        var layers = 0
        while weights.contains("decoder.layers.\(layers).norm1.weight") { layers += 1 }
        guard toClip.count == 2, projector.count == 2, projector[1] == toClip[0], linear1.count == 2 else {
            throw FusionError.unexpectedShapes(toClip: toClip, projector: projector, linear1: linear1)
        }
        return FusionConfig(tokenDim: toClip[1], dModel: toClip[0], textDim: projector[0], heads: heads, layers: layers,
                            feedForward: linear1[0])
    }
}

public enum FusionError: Error, CustomStringConvertible, Equatable {
    case missingTensor(key: String, keys: Int)
    case unexpectedShapes(toClip: [Int], projector: [Int], linear1: [Int])
    case headsDoNotDivide(dModel: Int, heads: Int)
    case badInput(String)

    public var description: String {
        switch self {
        case let .missingTensor(key, keys):
            return "fusion weights: no tensor \(key) among \(keys) keys (is this a RegionSpot checkpoint?)"
        case let .unexpectedShapes(toClip, projector, linear1):
            return "fusion weights: expected to_clip.weight [D, 256], projector.weight [text, D], "
                + "decoder.layers.0.linear1.weight [ffn, D]; got \(toClip), \(projector), \(linear1)"
        case let .headsDoNotDivide(d, heads):
            return "fusion config: d_model \(d) is not divisible by \(heads) heads"
        case let .badInput(message):
            return "fusion input: \(message)"
        }
    }
}

/// RegionSpot's fusion head: mask tokens + CLIP token map → region embeddings in CLIP's text space.
public struct RegionSpotModel: ParameterizedLayer {
    public let config: FusionConfig
    public var toClip: Linear
    public var decoder: TransformerDecoder
    public var projector: Linear

    /// Loads `to_clip.*`, `decoder.*`, `projector.*` (optionally under `model.`), inferring the
    /// config from the shapes unless one is given.
    public init(weights: WeightLoader, config: FusionConfig? = nil) throws {
        let root = weights.contains("model.to_clip.weight") ? weights.scoped("model") : weights
        let config = try config ?? FusionConfig.inferred(from: root)
        guard config.heads > 0, config.dModel % config.heads == 0 else {
            throw FusionError.headsDoNotDivide(dModel: config.dModel, heads: config.heads)
        }
        self.config = config
        toClip = try Linear(root.scoped("to_clip"), inputs: config.tokenDim, outputs: config.dModel)
        decoder = try TransformerDecoder(root.scoped("decoder"), config: config)
        projector = try Linear(root.scoped("projector"), inputs: config.dModel, outputs: config.textDim)
    }

    /// Keys as RegionSpot's own state dict names them after `build_regionspot_model` strips `model.`:
    /// `to_clip.weight`, `decoder.layers.0.self_attn.in_proj_weight`, …, `projector.bias`.
    public mutating func updateParameters(prefix: String, _ body: (String, inout Tensor) throws -> Void) rethrows {
        try toClip.updateParameters(prefix: parameterKey(prefix, "to_clip"), body)
        try decoder.updateParameters(prefix: parameterKey(prefix, "decoder"), body)
        try projector.updateParameters(prefix: parameterKey(prefix, "projector"), body)
    }

    /// Region embeddings [N, text dim] of one image's N mask tokens [N, 256] (token 0 of each box), given its CLIP
    /// token map [1 + g², D] (every token, before `ln_post`).
    public func regionFeatures(maskTokens: Tensor, clipFeatures: Tensor) throws -> Tensor {
        try regionFeatures(batch: [(maskTokens, clipFeatures)])[0]
    }

    /// Region embeddings of several images at once, one [N_i, text dim] per image, each bit for
    /// bit what the image gets alone. Attention stays within each image; the row-wise layers
    /// take every image's rows in one pass when `stacksImages`.
    public func regionFeatures(batch: [(maskTokens: Tensor, clipFeatures: Tensor)]) throws -> [Tensor] {
        for (maskTokens, clipFeatures) in batch {
            guard maskTokens.rank == 2, maskTokens.shape[1] == config.tokenDim else {
                throw FusionError.badInput("mask tokens must be [regions, \(config.tokenDim)], got \(maskTokens.shape)")
            }
            guard clipFeatures.rank == 2, clipFeatures.shape[1] == config.dModel, clipFeatures.shape[0] > 0 else {
                throw FusionError.badInput("CLIP token map must be [tokens, \(config.dModel)], got \(clipFeatures.shape)")
            }
        }
        let present = batch.filter { $0.maskTokens.shape[0] > 0 }
        var features = (stacksImages
            ? regionFeatures(of: present, blocks: RowBlocks(alignment: GEMM.rowTileMultiple, counts: present.map { $0.maskTokens.dim(0) }))
            : present.flatMap { regionFeatures(of: [$0], blocks: RowBlocks(alignment: 1, counts: [$0.maskTokens.dim(0)])) })[...]
        return batch.map { $0.maskTokens.shape[0] > 0 ? features.removeFirst() : Tensor(shape: [0, config.textDim]) }
    }

    /// Whether `regionFeatures(batch:)` stacks images in its row-wise layers: when every one is
    /// wide enough that GEMM splits it by columns whatever its row count
    /// (`GEMM.columnSplitMinimumWidth`), and its product over one block of rows is past 10⁶
    /// multiply-adds, below which OpenBLAS's SkylakeX sgemm takes a small-matrix kernel that sums
    /// differently. Every published head qualifies (D = 768: widths 512-2048, 9.4·10⁶); a head too
    /// small for that gains nothing from stacking.
    public var stacksImages: Bool {
        let layers = [(config.tokenDim, config.dModel), (config.dModel, config.feedForward),
                      (config.feedForward, config.dModel), (config.dModel, config.textDim)]
        return layers.allSatisfy { inputs, outputs in
            outputs >= GEMM.columnSplitMinimumWidth && GEMM.rowTileMultiple * inputs * outputs > 1_000_000
        }
    }

    private func regionFeatures(of images: [(maskTokens: Tensor, clipFeatures: Tensor)], blocks: RowBlocks) -> [Tensor] {
        guard !images.isEmpty else { return [] }
        let tgt = toClip(blocks.pack(images.map(\.maskTokens)))  // [Σ blocks, D]
        return blocks.unpack(projector(decoder(tgt, blocks: blocks, memories: images.map(\.clipFeatures))))
    }

    // MARK: Training

    /// What the backward needs from one training forward.
    public struct Trace: Sendable {
        let maskTokens: Tensor, decoderTrace: TransformerDecoder.Trace, decoded: Tensor
    }

    /// `forward_train` before the loss, over a batch of `images` (RegionSpot stacks them, each
    /// image's regions padded to the same count): mask tokens [images·slots, 256], each image's
    /// slots contiguous; token maps [images·tokens, D]; `keyPadding` [images·slots] marks slots
    /// self-attention ignores (nil: none, as RegionSpot's repeat padding). Dropout comes from
    /// `generator` (`Dropout.off` for evaluation-mode numbers). Returns [images·slots, text dim].
    public func trainingForward(maskTokens: Tensor, tokenMaps: Tensor, images: Int, keyPadding: [Bool]? = nil, dropout: Dropout,
                                generator: inout SplitMix64) throws -> (regionFeatures: Tensor, trace: Trace) {
        guard images > 0, maskTokens.rank == 2, maskTokens.dim(1) == config.tokenDim, maskTokens.dim(0) % images == 0,
              tokenMaps.rank == 2, tokenMaps.dim(1) == config.dModel, tokenMaps.dim(0) % images == 0, tokenMaps.dim(0) > 0 else {
            throw FusionError.badInput("a batch of \(images) images needs mask tokens [images·slots, \(config.tokenDim)] and token maps "
                                       + "[images·tokens, \(config.dModel)], got \(maskTokens.shape) and \(tokenMaps.shape)")
        }
        if let keyPadding, keyPadding.count != maskTokens.dim(0) {
            throw FusionError.badInput("key padding has \(keyPadding.count) flags for \(maskTokens.dim(0)) slots")
        }
        let (decoded, decoderTrace) = decoder.trainingForward(toClip(maskTokens), memory: tokenMaps, sequences: images,
                                                              keyPadding: keyPadding, dropout: dropout, generator: &generator)
        return (projector(decoded), Trace(maskTokens: maskTokens, decoderTrace: decoderTrace, decoded: decoded))
    }

    /// The gradients of every parameter, as a model of the same structure (keys `to_clip.*`,
    /// `decoder.*`, `projector.*`), from that of the region features. The inputs (mask tokens,
    /// token maps) are frozen features and get none.
    public func backward(_ regionFeatureGradient: Tensor, trace: Trace) -> RegionSpotModel {
        var gradients = zeroed()
        let dDecoded = projector.backward(trace.decoded, outputGradient: regionFeatureGradient, into: &gradients.projector)
        let dTgt = decoder.backward(dDecoded, trace: trace.decoderTrace, into: &gradients.decoder)
        toClip.accumulateGradients(input: trace.maskTokens, outputGradient: dTgt, into: &gradients.toClip)
        return gradients
    }

    /// `get_logits` divides by (norm + 1e-7), not max(norm, eps) as `l2Normalized` does.
    public static let logitNormEpsilon: Float = 1e-7

    /// `get_logits`: logitScale · cosine(region, class) [N, C], with class embeddings
    /// [C, text dim] already L2-normalised (as the vocabulary cache stores them).
    public static func logits(regionFeatures: Tensor, classEmbeddings: Tensor, logitScale: Float) -> Tensor {
        precondition(regionFeatures.dim(-1) == classEmbeddings.dim(-1),
                     "region width \(regionFeatures.dim(-1)) ≠ class embedding width \(classEmbeddings.dim(-1))")
        let normalized = regionFeatures.scaledByInverseNorm(logitScale, epsilon: logitNormEpsilon)
        return normalized.matmul(classEmbeddings, transposeOther: true)
    }
}
