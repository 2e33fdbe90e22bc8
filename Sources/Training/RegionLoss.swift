import Tensors

/// The classification loss over region logits [rows, classes] (one row per padded slot) against
/// each row's class index, every row scaled by its weight (`PaddedRegions.lossWeights`):
/// loss = Σ_rows weight · Σ_classes ℓ. With RegionSpot's repeat padding the weights are
/// 1/slots, which is its `sigmoid_focal_loss(...).mean(1).sum() / n_box · n_box`.
public enum RegionLoss: Sendable, Equatable, Codable {
    /// RegionSpot's loss (regionspot/modeling/regionspot.py `sigmoid_focal_loss`): binary
    /// cross-entropy of every class against one-hot targets over the whole vocabulary, times
    /// (1 − p_t)^gamma and alpha (targets) or 1 − alpha (the rest); alpha < 0 weighs both by 1.
    case sigmoidFocal(alpha: Float = 0.25, gamma: Float = 2)
    /// Softmax cross-entropy over the vocabulary, −log softmax(logits)[label], reduced as above.
    case softmaxCrossEntropy

    /// The loss and its gradient with respect to the logits (same shape).
    public func evaluate(logits: Tensor, labels: [Int], weights: [Float]) throws -> (loss: Double, gradient: Tensor) {
        guard logits.rank == 2, labels.count == logits.dim(0), weights.count == logits.dim(0) else {
            throw TrainingError.badBatch("logits \(logits.shape) need one label and one weight per row, got \(labels.count) and \(weights.count)")
        }
        let classes = logits.dim(1)
        if let row = labels.firstIndex(where: { !(0..<classes).contains($0) }) {
            throw TrainingError.badBatch("row \(row) has label \(labels[row]); the vocabulary has \(classes) classes")
        }
        var rowLosses = [Double](repeating: 0, count: labels.count)
        let gradient = Tensor(shape: logits.shape) { out in
            logits.withUnsafeBufferPointer { x in
                rowLosses.withUnsafeMutableBufferPointer { losses in
                    let losses = losses.baseAddress!
                    Parallel.forEachChunk(labels.count, minimumPerChunk: max(1, 8192 / max(1, classes))) { rows in
                        for r in rows {
                            let (row, gradientRow) = (x.baseAddress! + r * classes, out.baseAddress! + r * classes)
                            switch self {
                            case let .sigmoidFocal(alpha, gamma):
                                losses[r] = SigmoidFocalLoss.row(row, classes: classes, label: labels[r], weight: weights[r],
                                                                 alpha: alpha, gamma: gamma, gradient: gradientRow)
                            case .softmaxCrossEntropy:
                                losses[r] = SoftmaxCrossEntropy.row(row, classes: classes, label: labels[r], weight: weights[r],
                                                                    gradient: gradientRow)
                            }
                        }
                    }
                }
            }
        }
        // Summed in row order, so the value does not depend on how rows were split over workers.
        return (zip(rowLosses, weights).reduce(0) { $0 + $1.0 * Double($1.1) }, gradient)
    }
}
