import Foundation

/// One evaluation run: load both files, match, accumulate, summarize.
public struct Evaluation: Sendable {
    public let result: EvaluationResult
    /// The reference's summary numbers under its own keys, in its order.
    public let metrics: [(key: String, value: Double)]
    public let groundTruth: GroundTruth

    public init(groundTruth gtPath: String, detections dtPath: String, iouType: IoUType, format: DatasetFormat) throws {
        let gt = try GroundTruth(contentsOf: gtPath, format: format, iouType: iouType)
        let dt = try Detections(contentsOf: dtPath, groundTruth: gt, iouType: iouType)
        self.init(groundTruth: gt, detections: dt, iouType: iouType)
    }

    public init(groundTruth gt: GroundTruth, detections dt: Detections, iouType: IoUType) {
        groundTruth = gt
        result = Evaluator.evaluate(gt: gt, dt: dt, iouType: iouType)
        metrics = gt.format == .lvis ? LVISEval.summarize(result) : COCOeval.summarize(result)
    }

    /// Per category: id, name, frequency and AP (−1 without ground truth).
    public var perCategory: [(category: Category, ap: Double)] {
        result.categories.indices.map { (result.categories[$0], result.categoryAP($0)) }
    }
}
