import Tensors

/// One (region, class) pair with its score.
public struct ScoredLabel: Sendable, Equatable, Codable {
    /// Index into the vocabulary.
    public var classIndex: Int
    public var score: Float

    public init(classIndex: Int, score: Float) {
        self.classIndex = classIndex
        self.score = score
    }
}

/// A detection: one of an image's best (box, class) pairs.
public struct Detection: Sendable, Equatable {
    /// Index of the box (region) it came from.
    public var regionIndex: Int
    public var classIndex: Int
    /// Class probability, times the box's own score when the box came with one.
    public var score: Float
}

/// RegionSpot's scoring, as in Surrey-UP-Lab/RegionSpot:regionspot/detector.py
/// (`inference_gt_box`, `inference_pred_box`) and regionspot/predictor.py (`predict_torch`):
/// a softmax over the vocabulary per region; for detection output the image's top 900
/// (region, class) pairs by probability, each then multiplied by its box's score when the
/// boxes came from a detector (the order stays that of the probabilities, as upstream).
public enum Scoring {
    /// Upstream's `top_num = min(900, len(probs_flattened))`.
    public static let detectionsPerImage = 900

    /// Softmax over the vocabulary: logits [regions, classes] → probabilities.
    public static func probabilities(logits: Tensor) -> Tensor {
        precondition(logits.rank == 2, "logits must be [regions, classes], got \(logits.shape)")
        return logits.softmax()
    }

    /// The `k` most probable classes of each region, best first (ties: lower class index first).
    public static func topLabels(probabilities: Tensor, k: Int) -> [[ScoredLabel]] {
        precondition(probabilities.rank == 2, "probabilities must be [regions, classes], got \(probabilities.shape)")
        let regions = probabilities.shape[0], classes = probabilities.shape[1]
        let keep = min(max(k, 0), classes)
        return probabilities.withUnsafeBufferPointer { p in
            (0..<regions).map { r in
                let row = UnsafeBufferPointer(rebasing: p[(r * classes)..<((r + 1) * classes)])
                return best(keep, of: row).map { ScoredLabel(classIndex: $0, score: row[$0]) }
            }
        }
    }

    /// The image's top `limit` (region, class) pairs by probability; scores are multiplied by
    /// `boxScores[region]` when given (one per region).
    public static func detections(
        probabilities: Tensor, boxScores: [Float]? = nil, limit: Int = detectionsPerImage
    ) -> [Detection] {
        precondition(probabilities.rank == 2, "probabilities must be [regions, classes], got \(probabilities.shape)")
        let classes = probabilities.shape[1]
        if let boxScores {
            precondition(boxScores.count == probabilities.shape[0],
                         "\(boxScores.count) box scores for \(probabilities.shape[0]) regions")
        }
        let top = probabilities.withUnsafeBufferPointer { best(min(max(limit, 0), $0.count), of: $0) }
        return top.map { flat in
            let region = flat / classes
            let probability = probabilities.scalars[flat]
            return Detection(regionIndex: region, classIndex: flat % classes,
                             score: boxScores.map { $0[region] * probability } ?? probability)
        }
    }

    /// Indices of the `k` largest values, largest first, ties broken by lower index.
    static func best(_ k: Int, of values: UnsafeBufferPointer<Float>) -> [Int] {
        guard k > 0 else { return [] }
        let before: (Int, Int) -> Bool = { a, b in
            values[a] > values[b] || (values[a] == values[b] && a < b)
        }
        if k * 8 >= values.count {
            return Array(values.indices.sorted(by: before).prefix(k))
        }
        // Partial selection: keep a sorted window of the k best seen so far.
        var window = Array(values.indices.prefix(k)).sorted(by: before)
        for i in values.indices.dropFirst(k) where before(i, window[k - 1]) {
            var position = k - 1
            while position > 0 && before(i, window[position - 1]) { position -= 1 }
            window.insert(i, at: position)
            window.removeLast()
        }
        return window
    }
}
