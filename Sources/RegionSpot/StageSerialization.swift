import Foundation
import Imaging
import SAM
import Tensors

/// Stage values as bytes, the form they take between processes: safetensors (fp32, or fp16 to
/// halve transport), with sizes and masks in its metadata. Decoding checks names and shapes and
/// says what is wrong; it never trusts the sender. fp16 suits the bulky image embedding, token
/// map and mask tokens (probabilities move by < 1e-3); class embeddings should stay fp32, since
/// the logit scale (about 100) multiplies their rounding.
public enum StageSerialization {
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case missing(what: String, in: String)
        case malformed(what: String, reason: String, in: String)

        public var description: String {
            switch self {
            case let .missing(what, source): return "\(source): no \(what)"
            case let .malformed(what, reason, source): return "\(source): \(what): \(reason)"
            }
        }
    }

    // MARK: One tensor (token maps, class embeddings, probabilities)

    public static func encode(_ tensor: Tensor, name: String, dtype: TensorDType = .f32) -> Data {
        SafeTensors.encode([name: tensor], dtype: dtype)
    }

    public static func decodeTensor(_ data: Data, name: String, source: String) throws -> Tensor {
        let decoded = try SafeTensors.decode(data, source: source)
        guard let tensor = decoded.tensors[name] else { throw Error.missing(what: "tensor \"\(name)\"", in: source) }
        return tensor
    }

    // MARK: SAM's image embedding

    /// The embedding [E, g, g] and the two sizes the decoder needs.
    public static func encode(_ image: SamPredictor.ImageEmbedding, dtype: TensorDType = .f32) -> Data {
        SafeTensors.encode(["image_embedding": image.embedding], metadata: [
            "input_size": "\(image.inputSize.height),\(image.inputSize.width)",
            "original_size": "\(image.originalSize.height),\(image.originalSize.width)",
        ], dtype: dtype)
    }

    /// Rebuilds the decoder's image state with `recognizer`'s SAM.
    public static func decodeImageEmbedding(_ data: Data, source: String, for recognizer: Recognizer) throws -> SamPredictor.ImageEmbedding {
        let decoded = try SafeTensors.decode(data, source: source)
        guard let embedding = decoded.tensors["image_embedding"] else { throw Error.missing(what: "tensor \"image_embedding\"", in: source) }
        let input = try size(decoded.metadata, "input_size", source: source)
        let original = try size(decoded.metadata, "original_size", source: source)
        return try recognizer.imageEmbedding(embedding, inputSize: input, originalSize: original)
    }

    // MARK: Region tokens

    /// Mask tokens [N, 256], mask scores [N], and the masks (if any) as COCO RLE in the metadata.
    public static func encode(_ regions: RegionTokens, dtype: TensorDType = .f32) -> Data {
        var metadata: [String: String] = [:]
        if let first = regions.masks.first {
            metadata["mask_size"] = "\(first.height),\(first.width)"
            metadata["masks"] = regions.masks.map { RLE($0).compressedString }.joined(separator: "\n")
        }
        return SafeTensors.encode(["mask_tokens": regions.maskTokens,
                                   "mask_scores": Tensor(shape: [regions.maskScores.count], scalars: regions.maskScores)],
                                  metadata: metadata, dtype: dtype)
    }

    public static func decodeRegionTokens(_ data: Data, source: String) throws -> RegionTokens {
        let decoded = try SafeTensors.decode(data, source: source)
        guard let tokens = decoded.tensors["mask_tokens"] else { throw Error.missing(what: "tensor \"mask_tokens\"", in: source) }
        guard let scores = decoded.tensors["mask_scores"] else { throw Error.missing(what: "tensor \"mask_scores\"", in: source) }
        guard tokens.rank == 2, scores.shape == [tokens.dim(0)] else {
            throw Error.malformed(what: "mask_tokens/mask_scores", reason: "shapes \(tokens.shape) and \(scores.shape) disagree", in: source)
        }
        var masks: [BinaryMask] = []
        if let text = decoded.metadata["masks"] {
            let (height, width) = try size(decoded.metadata, "mask_size", source: source)
            let strings = text.split(separator: "\n", omittingEmptySubsequences: false)
            guard strings.count == tokens.dim(0) else {
                throw Error.malformed(what: "masks", reason: "\(strings.count) masks for \(tokens.dim(0)) regions", in: source)
            }
            masks = try strings.enumerated().map { index, string in
                guard let mask = BinaryMask(RLE(compressed: Array(string.utf8), height: height, width: width)) else {
                    throw Error.malformed(what: "masks[\(index)]", reason: "RLE counts do not cover \(height)×\(width)", in: source)
                }
                return mask
            }
        }
        return RegionTokens(maskTokens: tokens, maskScores: scores.scalars, masks: masks)
    }

    private static func size(_ metadata: [String: String], _ key: String, source: String) throws -> (height: Int, width: Int) {
        guard let text = metadata[key] else { throw Error.missing(what: "metadata \"\(key)\"", in: source) }
        let parts = text.split(separator: ",").compactMap { Int($0) }
        guard parts.count == 2, parts.allSatisfy({ $0 > 0 && $0 <= 1 << 16 }) else {
            throw Error.malformed(what: "metadata \"\(key)\"", reason: "expected \"height,width\", got \"\(text)\"", in: source)
        }
        return (parts[0], parts[1])
    }
}
