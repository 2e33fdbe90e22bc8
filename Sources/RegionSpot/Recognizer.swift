import CLIP
import Foundation
import Imaging
import Layers
import SAM
import Tensors

// The engine behind every front end (predict, the daemon's stage workers, watch), as RegionSpot's
// predictor does it (Surrey-UP-Lab/RegionSpot:regionspot/predictor.py), in stages whose inputs
// and outputs are plain values that can be sent to another process (StageSerialization.swift):
//   encodeImage     set_image, SAM half: ResizeLongestSide, normalise, pad, ViT → image embedding
//   tokenMap        set_image, CLIP half: the image squashed to S×S (bilinear, no crop) → token map
//   classEmbeddings the vocabulary's prompt-ensembled text embeddings (cached)
//   regionTokens    predict_torch: SAM's decoder, mask token 0 per box (multimask_output=False)
//   classify        the fusion head maps the tokens to text space, softmax over the vocabulary
// `recognize` composes them on the calling thread; callers own threading. Each stage runs its
// kernels over this engine's own thread budget.

/// One image's region tokens: what the localize stage hands to fusion.
public struct RegionTokens: Sendable {
    /// Mask token 0 of each box [boxes, 256]: RegionSpot's region feature.
    public var maskTokens: Tensor
    /// SAM's predicted IoU of each box's mask [boxes].
    public var maskScores: [Float]
    /// Each box's mask at the original image size, when asked for; else empty.
    public var masks: [BinaryMask]

    public init(maskTokens: Tensor, maskScores: [Float], masks: [BinaryMask]) {
        self.maskTokens = maskTokens
        self.maskScores = maskScores
        self.masks = masks
    }
}

/// The fusion stage's answer for one image.
public struct Classification: Sendable {
    /// Softmax over the vocabulary [boxes, classes].
    public var probabilities: Tensor
    /// The `topK` most probable classes of each box, best first.
    public var labels: [[ScoredLabel]]
}

/// Loads a bundle once, then recognizes regions of any number of images, from any number of
/// threads at once.
public final class Recognizer: Recognizing {
    public let bundle: ModelBundle
    public let fusion: RegionSpotModel
    public let logitScale: Float
    public let clipInputSize: Int
    public let clipConfiguration: CLIPConfiguration
    /// Workers each stage's kernels may use.
    public let threads: Int
    public var sam: Sam { predictor.model }
    let predictor: SamPredictor
    let vision: VisionTransformer
    let classEmbeddingCache: ClassEmbeddings

    /// `cacheDirectory` keeps class embeddings on disk between runs, `classEmbeddingBytes` bounds
    /// those kept in memory (0 keeps none); `threads` defaults to every core.
    public init(bundle: ModelBundle, cacheDirectory: URL? = nil, threads: Int = Parallel.processorCount,
                classEmbeddingBytes: Int = ClassEmbeddings.defaultMemoryLimit) throws {
        self.bundle = bundle
        self.threads = max(1, threads)
        let sam = try Sam(contentsOf: bundle.samURL)
        let clip = try CLIP(file: bundle.clipURL)
        let fusionWeights = try bundle.fusionWeights()
        fusion = try RegionSpotModel(weights: fusionWeights)
        let unused = fusionWeights.unusedKeys()
        guard unused.isEmpty else { throw BundleError.unexpectedTensors(file: bundle.fusionURL.path, keys: unused) }
        clipConfiguration = clip.configuration
        predictor = SamPredictor(model: sam)
        vision = try clip.vision()
        classEmbeddingCache = try ClassEmbeddings(model: clip, tokenizer: SimpleTokenizer.bundled(), templates: bundle.templates,
                                                  cacheDirectory: cacheDirectory, memoryLimit: classEmbeddingBytes)
        logitScale = try bundle.logitScale()
        clipInputSize = bundle.manifest.clip.inputSize
        // The parts must fit together: SAM's token width, CLIP's width and text width.
        let c = fusion.config
        if sam.maskDecoder.transformerDim != c.tokenDim {
            throw RecognizerError.widthMismatch(what: "SAM's mask token", expected: c.tokenDim,
                                                actual: sam.maskDecoder.transformerDim, file: bundle.samURL.path)
        }
        if vision.configuration.width != c.dModel {
            throw RecognizerError.widthMismatch(what: "CLIP's vision transformer", expected: c.dModel,
                                                actual: vision.configuration.width, file: bundle.clipURL.path)
        }
        let textDim = try clip.textTower().configuration.outputDimension
        if textDim != c.textDim {
            throw RecognizerError.widthMismatch(what: "CLIP's text embedding", expected: c.textDim, actual: textDim, file: bundle.clipURL.path)
        }
    }

    /// The same loaded models and class-embedding cache under another thread budget, so that
    /// stages run side by side in one process (the daemon's workers) each get their own.
    public func sharing(threads: Int) -> Recognizer {
        Recognizer(sharing: self, threads: threads)
    }

    private init(sharing other: Recognizer, threads: Int) {
        bundle = other.bundle
        fusion = other.fusion
        logitScale = other.logitScale
        clipInputSize = other.clipInputSize
        clipConfiguration = other.clipConfiguration
        self.threads = max(1, threads)
        predictor = other.predictor
        vision = other.vision
        classEmbeddingCache = other.classEmbeddingCache
    }

    // MARK: Stages

    /// SAM's image encoding of `image`.
    public func encodeImage(_ image: RGBImage) -> SamPredictor.ImageEmbedding {
        Parallel.withThreads(threads) { predictor.setImage(image) }
    }

    /// An image embedding computed elsewhere (another process, a cache), made ready for `regionTokens`.
    public func imageEmbedding(_ embedding: Tensor, inputSize: (height: Int, width: Int),
                               originalSize: (height: Int, width: Int)) throws -> SamPredictor.ImageEmbedding {
        let e = sam.maskDecoder.transformerDim, g = sam.imageEncoder.embeddingGridSize
        guard embedding.shape == [e, g, g] else {
            throw RecognizerError.stageInput("image embedding must be [\(e), \(g), \(g)], got \(embedding.shape)")
        }
        return Parallel.withThreads(threads) { predictor.use(embedding: embedding, inputSize: inputSize, originalSize: originalSize) }
    }

    /// CLIP's token map [1 + g², D] of the image squashed to S×S (every token, before `ln_post`).
    public func tokenMap(_ image: RGBImage) throws -> Tensor {
        try Parallel.withThreads(threads) {
            let tokens = try vision.tokenMap(CLIPPreprocessing.squashed(image, size: clipInputSize))
            return tokens.reshaped([tokens.dim(-2), tokens.dim(-1)])
        }
    }

    /// Class embeddings [classes, text dim] of a vocabulary (cached).
    public func classEmbeddings(for vocabulary: [String]) throws -> Tensor {
        try classEmbeddingLookup(vocabulary).embeddings
    }

    /// The class-embedding cache's entries, bytes, hits and misses (shared with `sharing` copies).
    public var classEmbeddingUsage: CacheUsage { classEmbeddingCache.usage }

    /// The same, and whether they came from the cache.
    public func classEmbeddingLookup(_ vocabulary: [String]) throws -> (embeddings: Tensor, cached: Bool) {
        guard !vocabulary.isEmpty else { throw RecognizerError.emptyVocabulary }
        return try Parallel.withThreads(threads) { try classEmbeddingCache.lookup(vocabulary) }
    }

    /// SAM's mask token 0 and IoU score per box (and the masks, when asked) on an encoded image.
    public func regionTokens(_ image: SamPredictor.ImageEmbedding, boxes: [Box], masks: Bool) throws -> RegionTokens {
        try Self.validate(boxes: boxes)
        guard !boxes.isEmpty else { return RegionTokens(maskTokens: Tensor(shape: [0, fusion.config.tokenDim]), maskScores: [], masks: []) }
        let prediction = try Parallel.withThreads(threads) {
            try predictor.predict(boxes: boxes, on: image, multimask: false, masks: masks)
        }
        let tokens = prediction.maskTokens.slice(axis: 1, range: 0..<1)  // [N, 1, E]
        let ious = prediction.iouPredictions.slice(axis: 1, range: 0..<1)
        return RegionTokens(maskTokens: tokens.reshaped([boxes.count, tokens.dim(-1)]), maskScores: ious.scalars, masks: prediction.masks)
    }

    /// The regions SAM's automatic mask generator keeps on an encoded image: each mask's box
    /// (original pixels) and predicted IoU, in the generator's order. `embedding` is `image`'s
    /// (`encodeImage`, or the same computed elsewhere); bad `options` throw `SAMError` naming the parameter.
    public func proposals(_ image: RGBImage, embedding: SamPredictor.ImageEmbedding,
                          options: AutomaticMaskGenerator.Options) throws -> (boxes: [Box], scores: [Float]) {
        let generator = try AutomaticMaskGenerator(predictor: predictor, options: options)
        let masks = Parallel.withThreads(threads) { generator.generate(image, embedding: embedding) }
        return (masks.map { Box(x0: Float($0.box.x0), y0: Float($0.box.y0), x1: Float($0.box.x1), y1: Float($0.box.y1)) },
                masks.map(\.predictedIoU))
    }

    /// Fusion and scoring: region tokens [N, 256], the token map [1 + g², D] and class embeddings
    /// [C, text dim] → probabilities [N, C] and the `topK` labels of each region.
    public func classify(maskTokens: Tensor, tokenMap: Tensor, classEmbeddings: Tensor, topK: Int) throws -> Classification {
        guard topK >= 1 else { throw RecognizerError.badTopK(topK) }
        try Self.validate(classEmbeddings: classEmbeddings, textDim: fusion.config.textDim)
        return try Parallel.withThreads(threads) {
            scored(try fusion.regionFeatures(maskTokens: maskTokens, clipFeatures: tokenMap), classEmbeddings: classEmbeddings, topK: topK)
        }
    }

    /// Cosine logits against the classes, softmax, and the `topK` labels of each region.
    private func scored(_ regionFeatures: Tensor, classEmbeddings: Tensor, topK: Int) -> Classification {
        let logits = RegionSpotModel.logits(regionFeatures: regionFeatures, classEmbeddings: classEmbeddings, logitScale: logitScale)
        let probabilities = Scoring.probabilities(logits: logits)
        return Classification(probabilities: probabilities, labels: Scoring.topLabels(probabilities: probabilities, k: topK))
    }

    /// One image's input to `classify`.
    public struct ClassificationInput: Sendable {
        public var maskTokens: Tensor
        public var tokenMap: Tensor
        public var classEmbeddings: Tensor
        public var topK: Int

        public init(maskTokens: Tensor, tokenMap: Tensor, classEmbeddings: Tensor, topK: Int) {
            self.maskTokens = maskTokens
            self.tokenMap = tokenMap
            self.classEmbeddings = classEmbeddings
            self.topK = topK
        }
    }

    /// `classify` for several images in one fusion pass (the daemon's batching): the same numbers
    /// as one call per image, in the batch's order.
    public func classify(batch: [ClassificationInput]) throws -> [Classification] {
        for input in batch {
            guard input.topK >= 1 else { throw RecognizerError.badTopK(input.topK) }
            try Self.validate(classEmbeddings: input.classEmbeddings, textDim: fusion.config.textDim)
        }
        return try Parallel.withThreads(threads) {
            let features = try fusion.regionFeatures(batch: batch.map { ($0.maskTokens, $0.tokenMap) })
            return zip(batch, features).map { input, regionFeatures in
                scored(regionFeatures, classEmbeddings: input.classEmbeddings, topK: input.topK)
            }
        }
    }

    /// Class embeddings computed afresh, not cached (a vocabulary registered with the daemon), with
    /// `templates` (nil: the bundle's); `progress` hears the classes done so far.
    public func computeClassEmbeddings(_ vocabulary: [String], templates: [String]? = nil,
                                       progress: (Int) -> Void = { _ in }) throws -> Tensor {
        try Parallel.withThreads(threads) { try classEmbeddingCache.compute(vocabulary, templates: templates, progress: progress) }
    }

    // MARK: The stages composed

    public func recognize(_ request: RecognitionRequest) throws -> Recognition {
        let image: RGBImage
        switch request.image {
        case let .decoded(decoded): image = decoded
        case let .encoded(data, source): image = try RGBImage(decoding: data, source: source)
        }
        let regions = request.proposals.map(Regions.proposals) ?? .boxes(request.boxes, scores: request.boxScores)
        return try recognize(image: image, regions: regions, vocabulary: request.vocabulary, topK: request.topK, masks: request.masks)
    }

    /// Labels each box (original pixels) with the `topK` most probable classes.
    public func recognize(image: RGBImage, boxes: [Box], boxScores: [Float]? = nil, vocabulary: [String],
                          topK: Int = 5, masks: Bool = false) throws -> Recognition {
        try recognize(image: image, regions: .boxes(boxes, scores: boxScores), vocabulary: vocabulary, topK: topK, masks: masks)
    }

    /// Where the regions to recognize come from.
    public enum Regions: Sendable {
        /// Given boxes (original pixels), with a detector's score per box when there is one.
        case boxes([Box], scores: [Float]?)
        /// Every mask SAM's automatic mask generator keeps, with these options: its box, and its
        /// predicted IoU as the box score (so that a detection's score is class probability × IoU,
        /// as RegionSpot multiplies by a detector's score).
        case proposals(AutomaticMaskGenerator.Options)
    }

    /// Labels each region with the `topK` most probable classes. With proposals, the image is encoded
    /// once for both the generator and the regions' tokens; the generator's time counts as the decoder's.
    public func recognize(image: RGBImage, regions source: Regions, vocabulary: [String],
                          topK: Int = 5, masks: Bool = false) throws -> Recognition {
        let start = DispatchTime.now()
        var boxes: [Box] = [], boxScores: [Float]? = nil, generator: AutomaticMaskGenerator.Options? = nil
        switch source {
        case let .boxes(given, scores): (boxes, boxScores) = (given, scores)
        case let .proposals(options):
            _ = try AutomaticMaskGenerator.pointGrids(for: options)  // bad options fail before any encoding
            generator = options
        }
        guard !vocabulary.isEmpty else { throw RecognizerError.emptyVocabulary }
        guard topK >= 1 else { throw RecognizerError.badTopK(topK) }
        try Self.validate(boxes: boxes)
        if let boxScores, boxScores.count != boxes.count {
            throw RecognizerError.boxScoreCount(boxes: boxes.count, scores: boxScores.count)
        }
        var timings = StageTimings()
        func timed<T>(_ slot: WritableKeyPath<StageTimings, Double>, _ body: () throws -> T) rethrows -> T {
            let t0 = DispatchTime.now()
            defer { timings[keyPath: slot] = seconds(t0, .now()) }
            return try body()
        }
        let embedding = boxes.isEmpty && generator == nil ? nil : timed(\.samEncoder) { encodeImage(image) }
        let tokens = try timed(\.clipEncoder) { try tokenMap(image) }
        let classes = try timed(\.textEmbeddings) { try classEmbeddings(for: vocabulary) }
        timings.encoders = timings.samEncoder + timings.clipEncoder + timings.textEmbeddings

        if let generator, let embedding {
            let proposed = try timed(\.samDecoder) { try proposals(image, embedding: embedding, options: generator) }
            (boxes, boxScores) = (proposed.boxes, proposed.scores)
        }
        guard let embedding, !boxes.isEmpty else {
            timings.total = seconds(start, .now())
            return Recognition(regions: [], probabilities: Tensor(shape: [0, vocabulary.count]), timings: timings,
                               imageWidth: image.width, imageHeight: image.height)
        }
        let decoded = timings.samDecoder
        let regions = try timed(\.samDecoder) { try regionTokens(embedding, boxes: boxes, masks: masks) }
        timings.samDecoder += decoded
        let classification = try timed(\.fusion) {
            try classify(maskTokens: regions.maskTokens, tokenMap: tokens, classEmbeddings: classes, topK: topK)
        }
        timings.total = seconds(start, .now())
        return Recognition(regions: Self.regions(boxes: boxes, boxScores: boxScores, tokens: regions, labels: classification.labels),
                           probabilities: classification.probabilities, timings: timings,
                           imageWidth: image.width, imageHeight: image.height)
    }

    /// The regions of a reply, box by box.
    public static func regions(boxes: [Box], boxScores: [Float]?, tokens: RegionTokens, labels: [[ScoredLabel]]) -> [RecognizedRegion] {
        boxes.indices.map { i in
            RecognizedRegion(box: boxes[i], boxScore: boxScores?[i], labels: labels[i], maskScore: tokens.maskScores[i],
                             mask: tokens.masks.isEmpty ? nil : tokens.masks[i])
        }
    }

    static func validate(classEmbeddings: Tensor, textDim: Int) throws {
        guard classEmbeddings.rank == 2, classEmbeddings.dim(1) == textDim, classEmbeddings.dim(0) > 0 else {
            throw RecognizerError.stageInput("class embeddings must be [classes, \(textDim)], got \(classEmbeddings.shape)")
        }
    }

    static func validate(boxes: [Box]) throws {
        if let index = boxes.firstIndex(where: { !$0.isValid }) { throw RecognizerError.badBox(index: index, box: boxes[index]) }
    }
}

func seconds(_ from: DispatchTime, _ to: DispatchTime) -> Double {
    Double(to.uptimeNanoseconds - from.uptimeNanoseconds) / 1e9
}
