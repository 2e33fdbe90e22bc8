import Foundation
import Tensors

// Port of segment_anything/modeling/sam.py (Sam) and build_sam.py's variants, configured from
// the checkpoint: ViT-B/L/H or MobileSAM's TinyViT image encoder, prompt encoder, mask decoder.

/// SAM's image encoder: the ViT of segment-anything or MobileSAM's TinyViT.
public enum SamImageEncoder: Sendable {
    case vit(ImageEncoderViT)
    case tinyViT(TinyViT)

    /// Model input side in pixels (1024 for the released models).
    public var imageSize: Int {
        switch self {
        case let .vit(e): return e.configuration.imageSize
        case let .tinyViT(e): return e.configuration.imageSize
        }
    }

    /// Side of the image embedding's grid: S / patch for the ViT (64 for the released models,
    /// 16 for a 128-pixel patch-8 one), S / 16 for TinyViT.
    public var embeddingGridSize: Int {
        switch self {
        case let .vit(e): return e.configuration.gridSize
        case let .tinyViT(e): return e.configuration.imageSize / 16
        }
    }

    /// pixels [3, S, S], normalised and zero-padded → embedding [E, g, g] (g = `embeddingGridSize`).
    public func callAsFunction(_ pixels: Tensor) -> Tensor {
        switch self {
        case let .vit(e): return e(pixels)
        case let .tinyViT(e): return e(pixels)
        }
    }
}

/// The whole Segment Anything model.
public struct Sam: Sendable {
    public let imageEncoder: SamImageEncoder
    public let promptEncoder: PromptEncoder
    public let maskDecoder: MaskDecoder
    /// `Sam.pixel_mean` / `pixel_std` on the 0–255 scale (buffers, not in checkpoints).
    public static let pixelMean: [Float] = [123.675, 116.28, 103.53]
    public static let pixelStd: [Float] = [58.395, 57.12, 57.375]
    public static let maskThreshold: Float = 0

    /// Loads a checkpoint with segment-anything, MobileSAM or Hugging Face `SamModel` key names,
    /// failing on any tensor the model does not use.
    public init(contentsOf urls: [URL]) throws {
        let origin = urls.map(\.path).joined(separator: ", ")
        var names: [String] = []
        for url in urls { names += try SafeTensorsFile(url: url).names }
        let rename = try SamCheckpoint.renaming(names, origin: origin)
        try self.init(loader: WeightLoader(files: urls, rename: rename), origin: origin)
    }

    public init(contentsOf url: URL) throws { try self.init(contentsOf: [url]) }

    /// Builds from a loader with original segment-anything / MobileSAM names.
    public init(loader: WeightLoader, origin: String = "<weights>") throws {
        let encoderLoader = loader.scoped("image_encoder")
        if encoderLoader.contains("patch_embed.proj.weight") {
            imageEncoder = .vit(try ImageEncoderViT(encoderLoader))
        } else if encoderLoader.contains("patch_embed.seq.0.c.weight") {
            imageEncoder = .tinyViT(try TinyViT(encoderLoader))
        } else {
            throw SAMError.unknownCheckpoint(origin: origin, reason: "no image_encoder.patch_embed (ViT) or image_encoder.patch_embed.seq (TinyViT) weights")
        }
        maskDecoder = try MaskDecoder(loader.scoped("mask_decoder"))
        let embedDim = maskDecoder.transformerDim
        let imageSize = imageEncoder.imageSize
        promptEncoder = try PromptEncoder(loader.scoped("prompt_encoder"), embedDim: embedDim,
                                          gridSize: imageEncoder.embeddingGridSize, inputImageSize: imageSize)
        let unused = loader.unusedKeys()
        guard unused.isEmpty else { throw SAMError.unusedTensors(origin: origin, keys: unused) }
    }
}

/// Key names of the checkpoint layouts SAM weights ship in.
public enum SamCheckpoint {
    /// The rename for `WeightLoader` that maps a checkpoint's keys to segment-anything names.
    public static func renaming(_ names: [String], origin: String) throws -> WeightLoader.Rename? {
        if names.contains(where: { $0.hasPrefix("image_encoder.") }) { return mobileSAM }
        if names.contains(where: { $0.hasPrefix("vision_encoder.") }) {
            // The positional matrix is tied: keep the prompt encoder's copy, or the image one if it is alone.
            let hasPromptCopy = names.contains("prompt_encoder.shared_embedding.positional_embedding")
            return { name in
                if name == "shared_image_embedding.positional_embedding" {
                    return hasPromptCopy ? nil : "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"
                }
                return huggingFace(name)
            }
        }
        throw SAMError.unknownCheckpoint(origin: origin, reason: "no image_encoder.* or vision_encoder.* tensors")
    }

    /// MobileSAM's TinyViT carries a classification head (`norm_head`, `head`) SAM never runs.
    static let mobileSAM: WeightLoader.Rename = { name in
        name.hasPrefix("image_encoder.norm_head.") || name.hasPrefix("image_encoder.head.") ? nil : name
    }

    /// Hugging Face `SamModel` names → segment-anything names (the inverse of convert_sam_to_hf.py).
    public static let huggingFace: WeightLoader.Rename = { name in
        var parts = name.split(separator: ".").map(String.init)
        func replace(_ index: Int, _ table: [String: [String]]) {
            guard parts.count > index, let new = table[parts[index]] else { return }
            parts.replaceSubrange(index...index, with: new)
        }
        switch parts.first {
        case "vision_encoder":
            parts[0] = "image_encoder"
            if parts.count > 1 && parts[1] == "layers" { parts[1] = "blocks" }
            if parts.count > 2 && parts[1] == "patch_embed" && parts[2] == "projection" { parts[2] = "proj" }
            if parts.count > 3 && parts[1] == "blocks" { replace(3, ["layer_norm1": ["norm1"], "layer_norm2": ["norm2"]]) }
            if parts.count > 2 && parts[1] == "neck" {
                replace(2, ["conv1": ["0"], "layer_norm1": ["1"], "conv2": ["2"], "layer_norm2": ["3"]])
            }
        case "prompt_encoder":
            if parts.count > 1 && parts[1] == "shared_embedding" { return "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix" }
            replace(1, ["point_embed": ["point_embeddings"]])
            if parts.count > 2 && parts[1] == "mask_embed" {
                parts[1] = "mask_downscaling"
                replace(2, ["conv1": ["0"], "layer_norm1": ["1"], "conv2": ["3"], "layer_norm2": ["4"], "conv3": ["6"]])
            }
        case "mask_decoder":
            replace(1, ["upscale_conv1": ["output_upscaling", "0"], "upscale_layer_norm": ["output_upscaling", "1"],
                        "upscale_conv2": ["output_upscaling", "3"]])
            if parts.count > 1 && parts[1] == "transformer" {
                replace(2, ["layer_norm_final_attn": ["norm_final_attn"]])
                if parts.count > 4 && parts[2] == "layers" {
                    replace(4, ["layer_norm1": ["norm1"], "layer_norm2": ["norm2"], "layer_norm3": ["norm3"], "layer_norm4": ["norm4"]])
                }
            }
            let mlpNames = ["proj_in": ["layers", "0"], "proj_out": ["layers", "2"]]
            if parts.count > 2 && parts[1] == "output_hypernetworks_mlps" {
                if parts.count > 4 && parts[3] == "layers" && parts[4] == "0" { parts[4] = "1" } else { replace(3, mlpNames) }
            } else if parts.count > 1 && parts[1] == "iou_prediction_head" {
                if parts.count > 3 && parts[2] == "layers" && parts[3] == "0" { parts[3] = "1" } else { replace(2, mlpNames) }
            }
        default:
            break
        }
        return parts.joined(separator: ".")
    }
}
