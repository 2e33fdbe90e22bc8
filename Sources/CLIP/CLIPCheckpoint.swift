import Tensors

/// Hugging Face `CLIPModel` key names → OpenAI's, the inverse of transformers'
/// `convert_clip_original_pytorch_to_hf.py`: q/k/v projections are stacked into `in_proj_*`,
/// `visual_projection`/`text_projection` weights are transposed, `position_ids` buffers dropped.
enum CLIPCheckpoint {
    static func isHuggingFace(_ loader: WeightLoader) -> Bool {
        loader.keys.contains { $0.hasPrefix("vision_model.") || $0.hasPrefix("text_model.") }
    }

    static func openAINames(fromHuggingFace hf: WeightLoader, file: String) throws -> WeightLoader {
        var out: [String: Tensor] = [:]
        func put(_ key: String, _ tensor: Tensor, from source: String) throws {
            guard out[key] == nil else { throw CLIPError.conversion(file: file, key: source, reason: "maps to \(key), which is already set") }
            out[key] = tensor
        }
        for key in hf.keys {
            if key.hasSuffix("position_ids") { continue }
            if let (prefix, layer, rest) = layerKey(key) {
                let target = "\(prefix).\(layer)."
                switch rest {
                case "self_attn.q_proj.weight", "self_attn.q_proj.bias":
                    let kind = rest.hasSuffix("weight") ? "weight" : "bias"
                    let base = String(key.dropLast("self_attn.q_proj.\(kind)".count))
                    let parts = try ["q", "k", "v"].map { try hf.tensor("\(base)self_attn.\($0)_proj.\(kind)") }
                    guard parts.allSatisfy({ $0.shape == parts[0].shape }) else {
                        throw CLIPError.conversion(file: file, key: key, reason: "q/k/v shapes differ: \(parts.map(\.shape))")
                    }
                    try put(target + "attn.in_proj_\(kind)", Tensor.concatenate(parts), from: key)
                case "self_attn.k_proj.weight", "self_attn.k_proj.bias", "self_attn.v_proj.weight", "self_attn.v_proj.bias":
                    let q = String(key.dropLast(rest.count)) + rest.replacingOccurrences(of: rest.hasPrefix("self_attn.k") ? "k_proj" : "v_proj", with: "q_proj")
                    guard hf.contains(q) else { throw CLIPError.conversion(file: file, key: key, reason: "\(q) is missing") }
                default:
                    let renamed = rest
                        .replacingOccurrences(of: "self_attn.out_proj.", with: "attn.out_proj.")
                        .replacingOccurrences(of: "layer_norm1.", with: "ln_1.")
                        .replacingOccurrences(of: "layer_norm2.", with: "ln_2.")
                        .replacingOccurrences(of: "mlp.fc1.", with: "mlp.c_fc.")
                        .replacingOccurrences(of: "mlp.fc2.", with: "mlp.c_proj.")
                    try put(target + renamed, try hf.tensor(key), from: key)
                }
                continue
            }
            switch key {
            case "visual_projection.weight": try put("visual.proj", try hf.tensor(key).transposed(), from: key)
            case "text_projection.weight": try put("text_projection", try hf.tensor(key).transposed(), from: key)
            default: try put(topLevel[key] ?? key, try hf.tensor(key), from: key)
            }
        }
        return try WeightLoader(tensors: out)
    }

    private static let topLevel: [String: String] = [
        "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
        "text_model.embeddings.position_embedding.weight": "positional_embedding",
        "text_model.final_layer_norm.weight": "ln_final.weight",
        "text_model.final_layer_norm.bias": "ln_final.bias",
        "vision_model.embeddings.patch_embedding.weight": "visual.conv1.weight",
        "vision_model.embeddings.class_embedding": "visual.class_embedding",
        "vision_model.embeddings.position_embedding.weight": "visual.positional_embedding",
        "vision_model.pre_layrnorm.weight": "visual.ln_pre.weight",
        "vision_model.pre_layrnorm.bias": "visual.ln_pre.bias",
        "vision_model.post_layernorm.weight": "visual.ln_post.weight",
        "vision_model.post_layernorm.bias": "visual.ln_post.bias",
    ]

    /// "text_model.encoder.layers.3.mlp.fc1.weight" → ("transformer.resblocks", 3, "mlp.fc1.weight").
    private static func layerKey(_ key: String) -> (String, Int, String)? {
        for (hfPrefix, openAIPrefix) in [("text_model.encoder.layers.", "transformer.resblocks"),
                                         ("vision_model.encoder.layers.", "visual.transformer.resblocks")]
        where key.hasPrefix(hfPrefix) {
            let tail = key.dropFirst(hfPrefix.count)
            guard let dot = tail.firstIndex(of: "."), let layer = Int(tail[..<dot]) else { return nil }
            return (openAIPrefix, layer, String(tail[tail.index(after: dot)...]))
        }
        return nil
    }
}
