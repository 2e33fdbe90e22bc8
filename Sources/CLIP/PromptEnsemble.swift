import Foundation
import Tensors

/// RegionSpot's class embeddings (`RegionSpot.get_text_feat`): each class name, cleaned, fills its
/// 81 templates; the mean of their (unnormalised) text features is L2-normalised.
public enum PromptEnsemble {
    /// `prompt_engineering.get_prompt_templates()` (the ViLD / CLIP ImageNet template list).
    public static let templates: [String] = [
        "{}.",
        "a photo of a {}.",
        "a bad photo of a {}.",
        "a photo of many {}.",
        "a sculpture of a {}.",
        "a photo of the hard to see {}.",
        "a low resolution photo of the {}.",
        "a rendering of a {}.",
        "graffiti of a {}.",
        "a bad photo of the {}.",
        "a cropped photo of the {}.",
        "a tattoo of a {}.",
        "the embroidered {}.",
        "a photo of a hard to see {}.",
        "a bright photo of a {}.",
        "a photo of a clean {}.",
        "a photo of a dirty {}.",
        "a dark photo of the {}.",
        "a drawing of a {}.",
        "a photo of my {}.",
        "the plastic {}.",
        "a photo of the cool {}.",
        "a close-up photo of a {}.",
        "a black and white photo of the {}.",
        "a painting of the {}.",
        "a painting of a {}.",
        "a pixelated photo of the {}.",
        "a sculpture of the {}.",
        "a bright photo of the {}.",
        "a cropped photo of a {}.",
        "a plastic {}.",
        "a photo of the dirty {}.",
        "a jpeg corrupted photo of a {}.",
        "a blurry photo of the {}.",
        "a photo of the {}.",
        "a good photo of the {}.",
        "a rendering of the {}.",
        "a {} in a video game.",
        "a photo of one {}.",
        "a doodle of a {}.",
        "a close-up photo of the {}.",
        "the origami {}.",
        "the {} in a video game.",
        "a sketch of a {}.",
        "a doodle of the {}.",
        "a origami {}.",
        "a low resolution photo of a {}.",
        "the toy {}.",
        "a rendition of the {}.",
        "a photo of the clean {}.",
        "a photo of a large {}.",
        "a rendition of a {}.",
        "a photo of a nice {}.",
        "a photo of a weird {}.",
        "a blurry photo of a {}.",
        "a cartoon {}.",
        "art of a {}.",
        "a sketch of the {}.",
        "a embroidered {}.",
        "a pixelated photo of a {}.",
        "itap of the {}.",
        "a jpeg corrupted photo of the {}.",
        "a good photo of a {}.",
        "a plushie {}.",
        "a photo of the nice {}.",
        "a photo of the small {}.",
        "a photo of the weird {}.",
        "the cartoon {}.",
        "art of the {}.",
        "a drawing of the {}.",
        "a photo of the large {}.",
        "a black and white photo of a {}.",
        "the plushie {}.",
        "a dark photo of a {}.",
        "itap of a {}.",
        "graffiti of the {}.",
        "a toy {}.",
        "itap of my {}.",
        "a photo of a cool {}.",
        "a photo of a small {}.",
        "a tattoo of the {}.",
    ]

    /// RegionSpot strips COCO-panoptic suffixes before formatting.
    public static func cleanClassName(_ name: String) -> String {
        name.replacingOccurrences(of: "-other", with: "")
            .replacingOccurrences(of: "-merged", with: "")
            .replacingOccurrences(of: "-stuff", with: "")
    }

    /// The prompts of one class (`template.format(name)`), RegionSpot's 81 by default.
    public static func prompts(for className: String, templates: [String] = templates) -> [String] {
        let name = cleanClassName(className)
        return templates.map { $0.replacingOccurrences(of: "{}", with: name) }
    }
}

/// Class embeddings per vocabulary, computed once: in memory (least recently used out past
/// `memoryLimit` bytes), and on disk when given a directory (`<key>.npy`, keyed by the vocabulary,
/// the templates and the weights' identity). Each class is the normalised mean of its prompts'
/// text features, one prompt per template. Any number of threads may ask at once: a vocabulary
/// being computed makes only the callers of that vocabulary wait.
public final class ClassEmbeddings: Sendable {
    public typealias Tokenize = @Sendable (String) throws -> [Int]
    public let templates: [String]
    private let text: TextTransformer
    private let tokenize: Tokenize
    private let identity: String
    private let directory: URL?
    private let memory: MemoizingCache<String, Tensor>
    private let counter = AtomicCounter()

    /// 256 MiB: LVIS's 1,203 classes at 768 wide take 3.7 MB.
    public static let defaultMemoryLimit = 256 << 20

    /// Computations so far (cache misses), for callers and tests that check the cache.
    public var computations: Int { counter.value }

    /// The in-memory cache's entries, bytes, hits and misses.
    public var usage: CacheUsage { memory.usage }

    public convenience init(model: CLIP, tokenizer: SimpleTokenizer, templates: [String] = PromptEnsemble.templates,
                            cacheDirectory: URL? = nil, memoryLimit: Int = ClassEmbeddings.defaultMemoryLimit) throws {
        let text = try model.textTower()
        let context = text.configuration.contextLength
        try self.init(text: text, identity: model.weightsIdentity, templates: templates, cacheDirectory: cacheDirectory,
                      memoryLimit: memoryLimit) {
            try tokenizer.tokenize($0, contextLength: context)
        }
    }

    /// `tokenize` turns one prompt into ids (start and end tokens included). Each template holds
    /// one `{}` for the class name.
    public init(text: TextTransformer, identity: String, templates: [String] = PromptEnsemble.templates,
                cacheDirectory: URL? = nil, memoryLimit: Int = ClassEmbeddings.defaultMemoryLimit,
                tokenize: @escaping Tokenize) throws {
        try Self.validate(templates: templates)
        self.templates = templates
        self.text = text
        self.tokenize = tokenize
        self.identity = identity
        self.directory = cacheDirectory
        memory = MemoizingCache(capacity: memoryLimit) { $0.count * MemoryLayout<Float>.size }
        if let cacheDirectory {
            try FileManager.default.createDirectory(at: cacheDirectory, withIntermediateDirectories: true)
        }
    }

    /// [classes, E], row i for `vocabulary[i]`, each row unit length.
    public func embeddings(for vocabulary: [String]) throws -> Tensor {
        try lookup(vocabulary).embeddings
    }

    /// The same, and whether it came from memory without computing or waiting.
    public func lookup(_ vocabulary: [String]) throws -> (embeddings: Tensor, cached: Bool) {
        guard !vocabulary.isEmpty else { throw CLIPError.badInput("the vocabulary is empty") }
        let key = cacheKey(vocabulary)
        let (embeddings, hit) = try memory.value(for: key) {
            let file = directory?.appendingPathComponent("\(key).npy")
            if let file, FileManager.default.fileExists(atPath: file.path),
               let stored = try? NPY.read(file), stored.shape == [vocabulary.count, text.configuration.outputDimension] {
                return stored
            }
            let result = try compute(vocabulary)
            counter.increment()
            if let file { try NPY.write(result, to: file) }
            return result
        }
        return (embeddings, hit)
    }

    /// Classes per pass of the text encoder: bounds its activations, and lets long vocabularies
    /// (LVIS's 1,203 classes, 97,443 prompts) report progress. Every vocabulary goes through the
    /// same passes, so a class's embedding is the same whichever way it is asked for.
    public static let classesPerPass = 64

    /// Every template holds exactly one `{}`.
    public static func validate(templates: [String]) throws {
        guard !templates.isEmpty else { throw CLIPError.badInput("no prompt templates") }
        for (index, template) in templates.enumerated() where template.components(separatedBy: "{}").count != 2 {
            throw CLIPError.badInput("template \(index) \"\(template)\" must contain exactly one {}")
        }
    }

    /// Computes [classes, E] without the cache, with `templates` (nil: this cache's); `progress`
    /// hears the classes done after each pass.
    public func compute(_ vocabulary: [String], templates: [String]? = nil, progress: (Int) -> Void = { _ in }) throws -> Tensor {
        guard !vocabulary.isEmpty else { throw CLIPError.badInput("the vocabulary is empty") }
        let templates = templates ?? self.templates
        try Self.validate(templates: templates)
        var passes: [Tensor] = []
        for start in stride(from: 0, to: vocabulary.count, by: Self.classesPerPass) {
            let end = min(vocabulary.count, start + Self.classesPerPass)
            passes.append(try compute(Array(vocabulary[start..<end]), templates: templates))
            progress(end)
        }
        return Tensor.concatenate(passes)
    }

    private func compute(_ vocabulary: [String], templates: [String]) throws -> Tensor {
        let count = templates.count
        var ids: [[Int]] = []
        ids.reserveCapacity(vocabulary.count * count)
        for name in vocabulary {
            for prompt in PromptEnsemble.prompts(for: name, templates: templates) {
                do {
                    ids.append(try tokenize(prompt))
                } catch {
                    throw CLIPError.badInput("class \"\(name)\": \(error)")
                }
            }
        }
        let features = try text.encode(ids)                      // [classes·templates, E]
        let dimension = features.dim(1)
        let means = Tensor(shape: [vocabulary.count, dimension]) { out in
            for c in 0..<vocabulary.count {
                for j in 0..<dimension {
                    var sum: Float = 0
                    for p in 0..<count { sum += features.scalars[(c * count + p) * dimension + j] }
                    out[c * dimension + j] = sum / Float(count)
                }
            }
        }
        return means.l2Normalized()
    }

    /// FNV-1a over the weights' identity, the templates and the names (order matters).
    private func cacheKey(_ vocabulary: [String]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for part in [identity] + templates + ["\u{0}"] + vocabulary {
            for byte in part.utf8 + [0] {
                hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
            }
        }
        return String(format: "classes-%016llx-%d", hash, vocabulary.count)
    }
}
