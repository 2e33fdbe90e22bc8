import Tensors

/// How a batch of images with different region counts becomes one [images, slots] block.
///
/// `repeating` is RegionSpot's (util/preprocessing.py `prepare_prompt_train`): every image's
/// regions are repeated (`repeat_interleave`) up to the largest count, the last
/// `slots % count` regions once more than the others; repeats attend to each other and count in
/// the loss, and each image's loss is divided by the slot count. `masked` puts the real regions
/// first and fills the rest with zero rows that self-attention ignores (a key-padding mask)
/// and the loss leaves out; each image's loss is divided by its own region count.
public enum RegionPadding: String, Sendable, Codable, CaseIterable {
    case repeating, masked
}

/// Where each slot of a padded batch comes from, and what it weighs in the loss.
public struct PaddedRegions: Sendable, Equatable {
    public let padding: RegionPadding
    public let regionCounts: [Int]
    /// Slots per image: the largest region count.
    public let slots: Int
    /// For each of the images·slots rows, the region it holds (an index into all the batch's
    /// regions, image after image), or nil for a masked padding row.
    public let source: [Int?]
    /// Each row's factor in the loss: 1/slots (repeating), 1/count for real rows and 0 for
    /// padding (masked).
    public let lossWeights: [Float]

    public init(regionCounts: [Int], padding: RegionPadding = .repeating) throws {
        guard !regionCounts.isEmpty else { throw TrainingError.badBatch("a batch needs at least one image") }
        if let empty = regionCounts.firstIndex(where: { $0 < 1 }) {
            throw TrainingError.badBatch("image \(empty) of the batch has \(regionCounts[empty]) regions; every image needs at least one")
        }
        self.padding = padding
        self.regionCounts = regionCounts
        slots = regionCounts.max()!
        var source: [Int?] = [], weights: [Float] = [], first = 0
        for count in regionCounts {
            switch padding {
            case .repeating:
                let base = slots / count, extra = slots % count
                for region in 0..<count {
                    let repeats = region < count - extra ? base : base + 1
                    source += Array(repeating: first + region, count: repeats)
                }
                weights += Array(repeating: 1 / Float(slots), count: slots)
            case .masked:
                source += (first..<(first + count)).map { $0 } + Array(repeating: nil, count: slots - count)
                weights += Array(repeating: 1 / Float(count), count: count) + Array(repeating: 0, count: slots - count)
            }
            first += count
        }
        self.source = source
        lossWeights = weights
    }

    public var images: Int { regionCounts.count }
    public var rows: Int { source.count }

    /// Per image and slot, whether self-attention must ignore it as a key (masked padding only).
    public var keyPadding: [Bool]? { padding == .masked ? source.map { $0 == nil } : nil }

    /// The batch's rows [regions, W] (image after image) laid out as [images·slots, W].
    public func gather(_ regions: Tensor) -> Tensor {
        precondition(regions.rank == 2 && regions.dim(0) == regionCounts.reduce(0, +),
                     "gather: \(regions.shape) is not one row for each of the batch's \(regionCounts.reduce(0, +)) regions")
        let width = regions.dim(1)
        return Tensor(shape: [rows, width]) { out in
            regions.withUnsafeBufferPointer { r in
                for (row, region) in source.enumerated() {
                    let target = out.baseAddress! + row * width
                    if let region { target.update(from: r.baseAddress! + region * width, count: width) } else { target.update(repeating: 0, count: width) }
                }
            }
        }
    }

    /// The regions' labels per row; a padding row takes the label 0, which its weight 0 ignores.
    public func gather(labels: [Int]) -> [Int] {
        precondition(labels.count == regionCounts.reduce(0, +), "gather: \(labels.count) labels for \(regionCounts.reduce(0, +)) regions")
        return source.map { $0.map { labels[$0] } ?? 0 }
    }
}
