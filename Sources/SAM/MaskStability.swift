// Port of segment-anything's utils/amg.py calculate_stability_score.

enum MaskStability {
    /// The IoU of the masks `logits > threshold + offset` and `logits > threshold − offset`: the
    /// first lies inside the second, so it is a ratio of pixel counts (NaN when both are empty,
    /// as in the reference). Thresholds compare in float32, as PyTorch compares with a scalar.
    static func score(_ logits: UnsafeBufferPointer<Float>, threshold: Float, offset: Double) -> Float {
        let high = Float(Double(threshold) + offset), low = Float(Double(threshold) - offset)
        var intersection = 0, union = 0
        for value in logits {
            intersection += value > high ? 1 : 0
            union += value > low ? 1 : 0
        }
        return Float(intersection) / Float(union)
    }
}
