import ArgumentParser
import CLIP
import Foundation
import Tensors

extension RegionSpotCommand {
    /// `regionspot embed image|text`: CLIP embeddings of images or texts, written as .npy.
    struct Embed: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "CLIP embeddings: images (pooled or token maps) and texts (or prompt-ensembled classes).",
            subcommands: [Image.self, Text.self])
    }
}

extension RegionSpotCommand.Embed {
    struct Image: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "image", abstract: "L2-normalised image embeddings [N, E], or with --tokens the token maps [N, 1+g², W].")

        @Option(help: "CLIP weights (.safetensors; OpenAI or Hugging Face CLIPModel names).") var clip: String
        @Argument(help: "Image files.") var images: [String] = []
        @Option(help: "An already preprocessed [3, S, S] or [N, 3, S, S] tensor (.npy) instead of images.") var pixels: String?
        @Option(help: "Input side S (default: the model's).") var size: Int?
        @Option(help: "squash (RegionSpot: whole image, bilinear) or openai (bicubic short side, centre crop).")
        var preprocess: String = CLIPPreprocessing.Mode.squash.rawValue
        @Flag(help: "Write the token map (CLS + grid before ln_post, what RegionSpot fuses).") var tokens = false
        @Option(help: "Output .npy file.") var out: String
        @OptionGroup var threads: ThreadOptions

        func validate() throws {
            guard images.isEmpty != (pixels == nil) else { throw ValidationError("give IMAGE... or --pixels, not both") }
            guard CLIPPreprocessing.Mode(rawValue: preprocess) != nil else { throw ValidationError("--preprocess must be squash or openai") }
        }

        func run() throws {
            let model = try CLIP(file: URL(fileURLWithPath: clip))
            let vision = try model.vision()
            let input = try pixels.map { try NPY.read(URL(fileURLWithPath: $0)) }
                ?? CLIPPreprocessing.batch(images.map { URL(fileURLWithPath: $0) }, size: size ?? vision.configuration.imageSize,
                                           mode: CLIPPreprocessing.Mode(rawValue: preprocess)!)
            let result = try threads.run { tokens ? try vision.tokenMap(input) : try model.imageEmbeddings(input) }
            try NPY.write(result, to: URL(fileURLWithPath: out))
        }
    }

    struct Text: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "text", abstract: "L2-normalised text embeddings [N, E]; with --templates, RegionSpot's class embeddings.")

        @Option(help: "CLIP weights (.safetensors; OpenAI or Hugging Face CLIPModel names).") var clip: String
        @Argument(help: "Texts, or class names with --templates.") var texts: [String]
        @Flag(help: "Treat each text as a class name: mean over the 81 prompt templates, then L2-normalised.") var templates = false
        @Option(help: "Output .npy file.") var out: String
        @OptionGroup var threads: ThreadOptions
        @OptionGroup var cache: CacheOptions

        func run() throws {
            let model = try CLIP(file: URL(fileURLWithPath: clip))
            let tokenizer = try SimpleTokenizer.bundled()
            let directory = cache.directory?.appendingPathComponent("class-embeddings")
            let result = try threads.run {
                templates
                    ? try ClassEmbeddings(model: model, tokenizer: tokenizer, cacheDirectory: directory).embeddings(for: texts)
                    : try model.textEmbeddings(texts, tokenizer: tokenizer)
            }
            try NPY.write(result, to: URL(fileURLWithPath: out))
        }
    }
}
