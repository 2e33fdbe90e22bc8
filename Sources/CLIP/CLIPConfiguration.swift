import Tensors

/// Sizes of an OpenAI-style ViT CLIP, inferred from tensor shapes as `clip/model.py:build_model` does.
public struct CLIPConfiguration: Sendable, Equatable, Codable {
    public struct Vision: Sendable, Equatable, Codable {
        public var width: Int
        public var layers: Int
        public var heads: Int
        public var patchSize: Int
        /// Side of the square input the positional embedding was trained for (patch × grid).
        public var imageSize: Int
        public var outputDimension: Int
        public var grid: Int { imageSize / patchSize }
    }

    public struct Text: Sendable, Equatable, Codable {
        public var width: Int
        public var layers: Int
        public var heads: Int
        public var contextLength: Int
        public var vocabularySize: Int
        public var outputDimension: Int
    }

    public var vision: Vision?
    public var text: Text?

    /// OpenAI CLIP uses 64-wide attention heads in both towers.
    public static let openAIHeadWidth = 64

    /// Reads the sizes from `loader` (OpenAI key names). `headWidth` is the one size shapes do not
    /// reveal; every OpenAI model uses 64.
    public static func infer(from loader: WeightLoader, headWidth: Int = openAIHeadWidth, file: String) throws -> CLIPConfiguration {
        func fail(_ reason: String) -> CLIPError { .unsupportedConfiguration(file: file, reason: reason) }
        func layerCount(_ prefix: String) -> Int {
            var count = 0
            while loader.shape(of: "\(prefix).\(count).attn.in_proj_weight") != nil { count += 1 }
            return count
        }
        func heads(_ width: Int, _ tower: String) throws -> Int {
            guard width > 0, width % headWidth == 0 else {
                throw fail("\(tower) width \(width) is not a multiple of the head width \(headWidth)")
            }
            return width / headWidth
        }
        var configuration = CLIPConfiguration()
        if let conv = loader.shape(of: "visual.conv1.weight") {
            guard conv.count == 4, conv[1] == 3, conv[2] == conv[3] else {
                throw fail("visual.conv1.weight has shape \(conv), expected [width, 3, patch, patch]")
            }
            guard let positions = loader.shape(of: "visual.positional_embedding"), positions.count == 2 else {
                throw fail("visual.positional_embedding is missing or not [tokens, width]")
            }
            let grid = Int(Double(positions[0] - 1).squareRoot().rounded())
            guard grid * grid + 1 == positions[0] else {
                throw fail("visual.positional_embedding has \(positions[0]) rows, not 1 + a square grid")
            }
            guard let proj = loader.shape(of: "visual.proj"), proj.count == 2 else { throw fail("visual.proj is missing or not 2-D") }
            let layers = layerCount("visual.transformer.resblocks")
            guard layers > 0 else { throw fail("no visual.transformer.resblocks.*") }
            configuration.vision = Vision(width: conv[0], layers: layers, heads: try heads(conv[0], "vision"),
                                          patchSize: conv[2], imageSize: conv[2] * grid, outputDimension: proj[1])
        }
        if let embedding = loader.shape(of: "token_embedding.weight") {
            guard embedding.count == 2 else { throw fail("token_embedding.weight has shape \(embedding)") }
            guard let positions = loader.shape(of: "positional_embedding"), positions.count == 2 else {
                throw fail("positional_embedding is missing or not [context, width]")
            }
            guard let projection = loader.shape(of: "text_projection"), projection.count == 2 else {
                throw fail("text_projection is missing or not 2-D")
            }
            let layers = layerCount("transformer.resblocks")
            guard layers > 0 else { throw fail("no transformer.resblocks.*") }
            configuration.text = Text(width: embedding[1], layers: layers, heads: try heads(embedding[1], "text"),
                                      contextLength: positions[0], vocabularySize: embedding[0], outputDimension: projection[1])
        }
        guard configuration.vision != nil || configuration.text != nil else {
            throw fail("neither visual.conv1.weight nor token_embedding.weight is present")
        }
        return configuration
    }
}
