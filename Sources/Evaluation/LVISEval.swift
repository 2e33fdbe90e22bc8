/// lvis-api `LVISEval`: federated LVIS AP with the 300-per-image cap, split by frequency.
public enum LVISEval {
    /// `summarize()`'s keys, in its order.
    public static let metricKeys = ["AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf",
                                    "AR@300", "ARs@300", "ARm@300", "ARl@300"]

    public static func summarize(_ result: EvaluationResult) -> [(key: String, value: Double)] {
        let groups = Frequency.allCases.map { frequency in
            result.categories.indices.filter { result.categories[$0].frequency == frequency }
        }
        return [
            ("AP", result.summarize(precision: true)),
            ("AP50", result.summarize(precision: true, iou: 0.50)),
            ("AP75", result.summarize(precision: true, iou: 0.75)),
            ("APs", result.summarize(precision: true, area: 1)),
            ("APm", result.summarize(precision: true, area: 2)),
            ("APl", result.summarize(precision: true, area: 3)),
            ("APr", result.summarize(precision: true, categories: groups[0])),
            ("APc", result.summarize(precision: true, categories: groups[1])),
            ("APf", result.summarize(precision: true, categories: groups[2])),
            ("AR@300", result.summarize(precision: false)),
            ("ARs@300", result.summarize(precision: false, area: 1)),
            ("ARm@300", result.summarize(precision: false, area: 2)),
            ("ARl@300", result.summarize(precision: false, area: 3)),
        ]
    }
}
