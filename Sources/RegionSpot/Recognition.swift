import Foundation
import Imaging
import SAM
import Tensors

/// What a front end asks: name what is in each box of one image, from a vocabulary given now.
public struct RecognitionRequest: Sendable {
    /// The image as a file's bytes (JPEG, PNG, WebP, BMP…), or already decoded.
    public enum Image: Sendable {
        case encoded(Data, source: String)
        case decoded(RGBImage)
    }

    public var image: Image
    /// In original image pixels.
    public var boxes: [Box]
    /// A detector's score per box, when one was given.
    public var boxScores: [Float]?
    public var vocabulary: [String]
    public var topK: Int
    /// Also return each box's mask at the image's size.
    public var masks: Bool
    /// When set, `boxes` is empty and SAM's automatic mask generator proposes the regions
    /// (`Recognizer.Regions.proposals`).
    public var proposals: AutomaticMaskGenerator.Options?

    public init(image: Image, boxes: [Box], boxScores: [Float]? = nil, vocabulary: [String], topK: Int = 5, masks: Bool = false,
                proposals: AutomaticMaskGenerator.Options? = nil) {
        self.proposals = proposals
        self.image = image
        self.boxes = boxes
        self.boxScores = boxScores
        self.vocabulary = vocabulary
        self.topK = topK
        self.masks = masks
    }
}

/// Anything that answers recognition requests: the in-process engine (`Recognizer`) or a client
/// of a running pipeline. Front ends (watch mode, batch prediction) depend on this only.
/// Calls block; run them on threads of your own, never on Swift's cooperative pool.
public protocol Recognizing: Sendable {
    func recognize(_ request: RecognitionRequest) throws -> Recognition
}

/// One recognized box.
public struct RecognizedRegion: Sendable {
    /// In original image pixels, as given.
    public var box: Box
    /// The detector's score for the box, when one was given.
    public var boxScore: Float?
    /// The `topK` most probable classes, best first.
    public var labels: [ScoredLabel]
    /// SAM's predicted IoU of the mask.
    public var maskScore: Float
    /// The mask at the original image size (only when requested).
    public var mask: BinaryMask?

    public init(box: Box, boxScore: Float?, labels: [ScoredLabel], maskScore: Float, mask: BinaryMask?) {
        self.box = box
        self.boxScore = boxScore
        self.labels = labels
        self.maskScore = maskScore
        self.mask = mask
    }
}

/// Wall-clock seconds per stage of one recognition.
public struct StageTimings: Sendable, Codable, Equatable {
    /// SAM image encoder (ResizeLongestSide, normalisation, ViT).
    public var samEncoder: Double = 0
    /// CLIP squash + vision transformer.
    public var clipEncoder: Double = 0
    /// Class embeddings (0 when cached).
    public var textEmbeddings: Double = 0
    /// Both encoders and the class embeddings, as the caller waits for them.
    public var encoders: Double = 0
    /// SAM prompt encoder + mask decoder (+ mask upsampling) for every box.
    public var samDecoder: Double = 0
    /// Fusion head, logits, softmax, top-k.
    public var fusion: Double = 0
    public var total: Double = 0

    public init() {}
}

/// The result for one image.
public struct Recognition: Sendable {
    public var regions: [RecognizedRegion]
    /// Softmax over the vocabulary, [boxes, classes].
    public var probabilities: Tensor
    public var timings: StageTimings
    public var imageWidth: Int
    public var imageHeight: Int

    public init(regions: [RecognizedRegion], probabilities: Tensor, timings: StageTimings, imageWidth: Int, imageHeight: Int) {
        self.regions = regions
        self.probabilities = probabilities
        self.timings = timings
        self.imageWidth = imageWidth
        self.imageHeight = imageHeight
    }
}

public enum RecognizerError: Error, CustomStringConvertible, Equatable {
    case emptyVocabulary
    case badBox(index: Int, box: Box)
    case boxScoreCount(boxes: Int, scores: Int)
    case badTopK(Int)
    case widthMismatch(what: String, expected: Int, actual: Int, file: String)
    case stageInput(String)

    public var description: String {
        switch self {
        case .emptyVocabulary:
            return "vocabulary: no class names given"
        case let .badBox(index, box):
            return "box \(index): expected 4 finite numbers x0,y0,x1,y1 with x0 ≤ x1 and y0 ≤ y1, got \(box)"
        case let .boxScoreCount(boxes, scores):
            return "box scores: \(scores) scores for \(boxes) boxes"
        case let .badTopK(k):
            return "top_k: must be at least 1, got \(k)"
        case let .widthMismatch(what, expected, actual, file):
            return "\(file): \(what) is \(actual) wide, the fusion head expects \(expected)"
        case let .stageInput(message):
            return "stage input: \(message)"
        }
    }
}
