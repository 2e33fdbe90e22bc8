import Foundation
import Tensors

/// OpenAI CLIP (`clip/model.py: CLIP`): a vision tower, a text tower and the logit scale, loaded
/// from safetensors with OpenAI key names or Hugging Face `CLIPModel` names.
public struct CLIP: Sendable {
    public let configuration: CLIPConfiguration
    public let visual: VisionTransformer?
    public let text: TextTransformer?
    /// `logit_scale` (logits = exp(scale)·cosine), when the file has it.
    public let logitScale: Float?
    /// Identifies the weights (file paths, sizes and modification times) for caches keyed on them.
    public let weightsIdentity: String

    /// Loads one or more safetensors files; F16/BF16 become F32. `headWidth` is 64 for every
    /// OpenAI model. Fails on missing, mis-shaped or unused tensors, naming them.
    public init(files: [URL], headWidth: Int = CLIPConfiguration.openAIHeadWidth) throws {
        let origin = files.map(\.path).joined(separator: ", ")
        let raw = try WeightLoader(files: files)
        let huggingFace = CLIPCheckpoint.isHuggingFace(raw)
        let loader = huggingFace ? try CLIPCheckpoint.openAINames(fromHuggingFace: raw, file: origin) : raw
        let identity = files.map { url in
            let attributes = try? FileManager.default.attributesOfItem(atPath: url.path)
            let size = (attributes?[.size] as? NSNumber)?.intValue ?? -1
            let modified = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            return "\(url.standardizedFileURL.path)#\(size)#\(modified)"
        }.joined(separator: "|")
        do {
            try self.init(loader, headWidth: headWidth, origin: origin, identity: identity)
        } catch let error as TensorFileError where huggingFace {
            // Keys in the error are OpenAI's; say which file they were converted from.
            throw CLIPError.convertedCheckpoint(file: origin, reason: "\(error)")
        }
    }

    public init(file: URL, headWidth: Int = CLIPConfiguration.openAIHeadWidth) throws {
        try self.init(files: [file], headWidth: headWidth)
    }

    /// Builds from a loader with OpenAI key names (for example tensors already in memory);
    /// `identity` keys caches of results computed with these weights.
    public init(_ loader: WeightLoader, headWidth: Int = CLIPConfiguration.openAIHeadWidth,
                origin: String = "<memory>", identity: String? = nil) throws {
        let configuration = try CLIPConfiguration.infer(from: loader, headWidth: headWidth, file: origin)
        self.configuration = configuration
        visual = try configuration.vision.map { try VisionTransformer(loader.scoped("visual"), configuration: $0) }
        text = try configuration.text.map { try TextTransformer(loader, configuration: $0) }
        logitScale = try loader.optionalTensor("logit_scale", shape: [])?.scalars.first
        // TorchScript extras carry no weights.
        loader.markUsed(["input_resolution", "context_length", "vocab_size"])
        let unused = loader.unusedKeys()
        guard unused.isEmpty else { throw CLIPError.unexpectedTensors(file: origin, keys: unused) }
        weightsIdentity = identity ?? origin
    }

    public func vision() throws -> VisionTransformer {
        guard let visual else { throw CLIPError.missingTower(file: weightsIdentity, tower: "vision tower (visual.*)") }
        return visual
    }

    public func textTower() throws -> TextTransformer {
        guard let text else { throw CLIPError.missingTower(file: weightsIdentity, tower: "text tower (token_embedding, transformer.*)") }
        return text
    }

    /// L2-normalised pooled image embeddings [B, E] of normalised pixels [3, H, W] or [B, 3, H, W].
    public func imageEmbeddings(_ pixels: Tensor) throws -> Tensor {
        let vision = try vision()
        return vision.pooled(try vision.tokenMap(pixels)).l2Normalized()
    }

    /// L2-normalised text embeddings [texts, E]; texts longer than the context are truncated.
    public func textEmbeddings(_ texts: [String], tokenizer: SimpleTokenizer) throws -> Tensor {
        let text = try textTower()
        let ids = try texts.map { try tokenizer.tokenize($0, contextLength: text.configuration.contextLength, truncate: true) }
        return try text.encode(ids).l2Normalized()
    }
}
