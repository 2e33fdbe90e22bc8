import CLIP
import Foundation
import Imaging
import SAM
import Tensors

// The library call behind every front end (predict, daemon, watch): image + boxes + vocabulary →
// labelled regions, as RegionSpot's predictor does it (Surrey-UP-Lab/RegionSpot:regionspot/predictor.py):
//   set_image:     SAM embeds the image (ResizeLongestSide, normalise, pad) and CLIP takes the
//                  token map of the image squashed to S×S (`resize_norm`, bilinear, no crop);
//   predict_torch: SAM's decoder gives mask token 0 per box (multimask_output=False), the fusion
//                  head maps the tokens to text space, softmax over the vocabulary.
// The two encoders run concurrently, each once per image; class embeddings come from CLIP's
// cache; masks are returned only when asked.

/// One recognized box.
public struct RecognizedRegion: Sendable {
    /// [x0, y0, x1, y1] in original image pixels, as given.
    public var box: [Float]
    /// The detector's score for the box, when one was given.
    public var boxScore: Float?
    /// The `topK` most probable classes, best first.
    public var labels: [ScoredLabel]
    /// SAM's predicted IoU of the mask.
    public var maskScore: Float
    /// The mask at the original image size (only when requested).
    public var mask: BinaryMask?
}

/// Wall-clock seconds per stage of one `recognize` call.
public struct StageTimings: Sendable, Codable {
    /// SAM image encoder (ResizeLongestSide, normalisation, ViT).
    public var samEncoder: Double = 0
    /// CLIP squash + vision transformer, on the second thread (overlaps `samEncoder`).
    public var clipEncoder: Double = 0
    /// Class embeddings (0 when cached), on the second thread after CLIP.
    public var textEmbeddings: Double = 0
    /// Both encoders together, as the caller waits for them.
    public var encoders: Double = 0
    /// SAM prompt encoder + mask decoder (+ mask upsampling) for every box.
    public var samDecoder: Double = 0
    /// Fusion head, logits, softmax, top-k.
    public var fusion: Double = 0
    public var total: Double = 0
}

/// The result for one image.
public struct Recognition: Sendable {
    public var regions: [RecognizedRegion]
    /// Softmax over the vocabulary, [boxes, classes].
    public var probabilities: Tensor
    public var timings: StageTimings
}

public enum RecognizerError: Error, CustomStringConvertible, Equatable {
    case emptyVocabulary
    case badBox(index: Int, box: [Float])
    case boxScoreCount(boxes: Int, scores: Int)
    case widthMismatch(what: String, expected: Int, actual: Int, file: String)

    public var description: String {
        switch self {
        case .emptyVocabulary:
            return "vocabulary: no class names given"
        case let .badBox(index, box):
            return "box \(index): expected 4 finite numbers x0,y0,x1,y1 with x0 ≤ x1 and y0 ≤ y1, got \(box)"
        case let .boxScoreCount(boxes, scores):
            return "box scores: \(scores) scores for \(boxes) boxes"
        case let .widthMismatch(what, expected, actual, file):
            return "\(file): \(what) is \(actual) wide, the fusion head expects \(expected)"
        }
    }
}

/// Loads a bundle once, then recognizes regions of any number of images.
public final class Recognizer: Sendable {
    public let bundle: ModelBundle
    public let fusion: RegionSpotModel
    public let logitScale: Float
    public let clipInputSize: Int
    public let clipConfiguration: CLIPConfiguration
    public var sam: Sam { predictor.model }
    let predictor: SamPredictor
    let vision: VisionTransformer
    let classEmbeddings: ClassEmbeddings

    /// `cacheDirectory` keeps class embeddings on disk between runs.
    public init(bundle: ModelBundle, cacheDirectory: URL? = nil) throws {
        self.bundle = bundle
        let sam = try Sam(contentsOf: bundle.samURL)
        let clip = try CLIP(file: bundle.clipURL)
        let fusionWeights = try bundle.fusionWeights()
        fusion = try RegionSpotModel(weights: fusionWeights)
        let unused = fusionWeights.unusedKeys()
        guard unused.isEmpty else { throw BundleError.unexpectedTensors(file: bundle.fusionURL.path, keys: unused) }
        clipConfiguration = clip.configuration
        predictor = SamPredictor(model: sam)
        vision = try clip.vision()
        classEmbeddings = try ClassEmbeddings(model: clip, tokenizer: SimpleTokenizer.bundled(), templates: bundle.templates,
                                              cacheDirectory: cacheDirectory)
        if let scale = bundle.manifest.logitScale ?? clip.logitScale.map({ Foundation.exp($0) }) {
            logitScale = scale
        } else {
            throw BundleError.noLogitScale(manifest: bundle.directory.appendingPathComponent(ModelBundle.manifestName).path,
                                           clipFile: bundle.clipURL.path)
        }
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

    /// Class embeddings [classes, text dim] of a vocabulary (cached).
    public func classEmbeddings(for vocabulary: [String]) throws -> Tensor {
        guard !vocabulary.isEmpty else { throw RecognizerError.emptyVocabulary }
        return try classEmbeddings.embeddings(for: vocabulary)
    }

    /// Labels each box (x0, y0, x1, y1 in original pixels) with the `topK` most probable classes.
    public func recognize(image: RGBImage, boxes: [[Float]], boxScores: [Float]? = nil, vocabulary: [String],
                          topK: Int = 5, masks: Bool = false) throws -> Recognition {
        let start = DispatchTime.now()
        guard !vocabulary.isEmpty else { throw RecognizerError.emptyVocabulary }
        for (index, box) in boxes.enumerated()
        where box.count != 4 || box.contains(where: { !$0.isFinite }) || box[0] > box[2] || box[1] > box[3] {
            throw RecognizerError.badBox(index: index, box: box)
        }
        if let boxScores, boxScores.count != boxes.count {
            throw RecognizerError.boxScoreCount(boxes: boxes.count, scores: boxScores.count)
        }
        var timings = StageTimings()

        // CLIP (and the vocabulary if not cached) on a second thread while SAM encodes here.
        let side = ConcurrentResult<(Tensor, Tensor, Double, Double)>()
        let (vision, classEmbeddings, size) = (self.vision, self.classEmbeddings, clipInputSize)
        let thread = Thread {
            side.set(Result {
                let t0 = DispatchTime.now()
                let tokens = try vision.tokenMap(CLIPPreprocessing.squashed(image, size: size))
                let t1 = DispatchTime.now()
                let classes = try classEmbeddings.embeddings(for: vocabulary)
                return (tokens.reshaped([tokens.dim(-2), tokens.dim(-1)]), classes, seconds(t0, t1), seconds(t1, .now()))
            })
        }
        thread.stackSize = 8 << 20
        thread.start()
        let t0 = DispatchTime.now()
        let embedding = boxes.isEmpty ? nil : predictor.setImage(image)
        timings.samEncoder = seconds(t0, .now())
        let (clipTokens, classes, clipTime, textTime) = try side.wait().get()
        (timings.clipEncoder, timings.textEmbeddings) = (clipTime, textTime)
        timings.encoders = seconds(t0, .now())

        guard let embedding else {
            timings.total = seconds(start, .now())
            return Recognition(regions: [], probabilities: Tensor(shape: [0, vocabulary.count]), timings: timings)
        }
        let t1 = DispatchTime.now()
        let prediction = try predictor.predict(boxes: boxes, on: embedding, multimask: false, masks: masks)
        timings.samDecoder = seconds(t1, .now())

        let t2 = DispatchTime.now()
        let maskTokens = Self.firstMaskToken(prediction.maskTokens)  // [N, 256]
        let regionFeatures = try fusion.regionFeatures(maskTokens: maskTokens, clipFeatures: clipTokens)
        let logits = RegionSpotModel.logits(regionFeatures: regionFeatures, classEmbeddings: classes, logitScale: logitScale)
        let probabilities = Scoring.probabilities(logits: logits)
        let labels = Scoring.topLabels(probabilities: probabilities, k: topK)
        let ious = prediction.iouPredictions
        let regions = boxes.indices.map { i in
            RecognizedRegion(box: boxes[i], boxScore: boxScores?[i], labels: labels[i],
                             maskScore: ious.scalars[i * ious.shape[1]], mask: masks ? prediction.masks[i] : nil)
        }
        timings.fusion = seconds(t2, .now())
        timings.total = seconds(start, .now())
        return Recognition(regions: regions, probabilities: probabilities, timings: timings)
    }

    /// Mask token 0 of each prompt ([B, masks, E] → [B, E]): RegionSpot's region feature.
    static func firstMaskToken(_ tokens: Tensor) -> Tensor {
        let (batch, count, width) = (tokens.shape[0], tokens.shape[1], tokens.shape[2])
        return Tensor(shape: [batch, width]) { out in
            for b in 0..<batch {
                for j in 0..<width { out[b * width + j] = tokens.scalars[b * count * width + j] }
            }
        }
    }
}

func seconds(_ from: DispatchTime, _ to: DispatchTime) -> Double {
    Double(to.uptimeNanoseconds - from.uptimeNanoseconds) / 1e9
}

/// A value produced on another thread, waited for once.
final class ConcurrentResult<Value>: @unchecked Sendable {
    private var value: Result<Value, any Error>?
    private let done = DispatchSemaphore(value: 0)

    func set(_ result: Result<Value, any Error>) {
        value = result
        done.signal()
    }

    func wait() -> Result<Value, any Error> {
        done.wait()
        return value!
    }
}
