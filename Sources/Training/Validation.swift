import Evaluation
import Foundation
import RegionSpot
import Tensors

/// Validation as RegionSpot evaluates with ground-truth boxes as prompts (detector.py
/// `inference_gt_box`): every image's GT boxes are classified over the validation vocabulary,
/// its top 900 (box, class) pairs become detections, and the evaluator gives AP, APr, APc, APf.
public struct Validation {
    public struct Result: Sendable, Equatable {
        public let ap: Double, apr: Double, apc: Double, apf: Double
    }

    let dataset: TrainingDataset
    let groundTruth: GroundTruth
    let features: [(maskTokens: Tensor, tokenMap: Tensor)]
    let classEmbeddings: Tensor
    let logitScale: Float

    /// `groundTruth` is the file the evaluator reads (the validation annotations, or the
    /// held-out split written out); `features` are the dataset's images', in order.
    public init(dataset: TrainingDataset, groundTruth: String, features: [(maskTokens: Tensor, tokenMap: Tensor)],
                classEmbeddings: Tensor, logitScale: Float) throws {
        self.dataset = dataset
        self.groundTruth = try GroundTruth(contentsOf: groundTruth, format: dataset.source.format == .lvis ? .lvis : .coco, iouType: .bbox)
        self.features = features
        self.classEmbeddings = classEmbeddings
        self.logitScale = logitScale
    }

    public func evaluate(_ model: RegionSpotModel) throws -> Result {
        var records: [LVISResult] = []
        for (image, feature) in zip(dataset.images, features) {
            let regions = try model.regionFeatures(maskTokens: feature.maskTokens, clipFeatures: feature.tokenMap)
            let logits = RegionSpotModel.logits(regionFeatures: regions, classEmbeddings: classEmbeddings, logitScale: logitScale)
            let detections = Scoring.detections(probabilities: Scoring.probabilities(logits: logits))
            records += try LVISResults.records(imageID: image.id, detections: detections, boxes: image.boxes, categoryIDs: dataset.categoryIDs)
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("regionspot-validation-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try LVISResults.write(records, to: file)
        let evaluation = Evaluation(groundTruth: groundTruth, detections: try Detections(contentsOf: file.path, groundTruth: groundTruth, iouType: .bbox),
                                    iouType: .bbox)
        let metrics = Dictionary(evaluation.metrics.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        if groundTruth.format == .lvis {
            return Result(ap: metrics["AP"] ?? -1, apr: metrics["APr"] ?? -1, apc: metrics["APc"] ?? -1, apf: metrics["APf"] ?? -1)
        }
        return Result(ap: metrics["AP"] ?? -1, apr: -1, apc: -1, apf: -1)
    }
}
