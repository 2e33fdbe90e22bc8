/// pycocotools `COCOeval`: COCO AP with crowd regions and maxDets 1/10/100 per image and category.
public enum COCOeval {
    /// `stats` of `summarize()`, named.
    public static let metricKeys = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]

    public static func summarize(_ result: EvaluationResult) -> [(key: String, value: Double)] {
        [
            ("AP", result.summarize(precision: true, maxDet: 100)),
            ("AP50", result.summarize(precision: true, iou: 0.50, maxDet: 100)),
            ("AP75", result.summarize(precision: true, iou: 0.75, maxDet: 100)),
            ("APs", result.summarize(precision: true, area: 1, maxDet: 100)),
            ("APm", result.summarize(precision: true, area: 2, maxDet: 100)),
            ("APl", result.summarize(precision: true, area: 3, maxDet: 100)),
            ("AR1", result.summarize(precision: false, maxDet: 1)),
            ("AR10", result.summarize(precision: false, maxDet: 10)),
            ("AR100", result.summarize(precision: false, maxDet: 100)),
            ("ARs", result.summarize(precision: false, area: 1, maxDet: 100)),
            ("ARm", result.summarize(precision: false, area: 2, maxDet: 100)),
            ("ARl", result.summarize(precision: false, area: 3, maxDet: 100)),
        ]
    }
}
