import Foundation
import Tensors

/// `--val-split F`: a fraction of a dataset's images held out for validation, chosen from the
/// seed, and the ground truth of just those images (the annotation file filtered, every other
/// field kept) for the evaluator.
public struct ValidationSplit {
    public let dataset: TrainingDataset
    /// Indices into `dataset.images` held out.
    public let heldOut: [Int]

    public init(_ dataset: TrainingDataset, fraction: Double, seed: UInt64) throws {
        let count = Int((Double(dataset.images.count) * fraction).rounded())
        guard count >= 1, count < dataset.images.count else {
            throw TrainingError.badOption("--val-split \(fraction) of \(dataset.images.count) images leaves \(count) for validation "
                                          + "and \(dataset.images.count - count) for training; both need at least one")
        }
        self.dataset = dataset
        heldOut = DataOrder.permutation(dataset.images.count, seed: seed, dataset: -1, epoch: 0).prefix(count).sorted()
    }

    /// Writes the annotation file reduced to the held-out images and their annotations.
    public func writeGroundTruth(to url: URL) throws {
        let source = dataset.source.annotations
        guard var root = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: source))) as? [String: Any] else {
            throw TrainingError.badData("\(source): not a JSON object")
        }
        let ids = Set(heldOut.map { dataset.images[$0].id })
        root["images"] = (root["images"] as? [[String: Any]] ?? []).filter { ($0["id"] as? Int).map(ids.contains) ?? false }
        root["annotations"] = (root["annotations"] as? [[String: Any]] ?? []).filter { ($0["image_id"] as? Int).map(ids.contains) ?? false }
        try AtomicFile.write(JSONSerialization.data(withJSONObject: root), to: url)
    }
}
