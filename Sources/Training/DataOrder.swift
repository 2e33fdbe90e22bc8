import Tensors

/// Which images each step trains on, as a small value a checkpoint stores: datasets take turns
/// (sampled equally, each batch from one dataset), and each dataset walks through a shuffled
/// permutation of its images, reshuffled every epoch from (seed, dataset, epoch), so the order
/// depends only on the seed and is restored exactly on resume.
public struct DataOrder: Sendable, Codable, Equatable {
    public let seed: UInt64
    public let imageCounts: [Int]
    /// Batches drawn so far.
    public private(set) var batches: Int = 0
    /// Per dataset: its current epoch and how far into that epoch's permutation it is.
    public private(set) var epochs: [Int]
    public private(set) var positions: [Int]

    public init(seed: UInt64, imageCounts: [Int]) {
        self.seed = seed
        self.imageCounts = imageCounts
        epochs = imageCounts.map { _ in 0 }
        positions = imageCounts.map { _ in 0 }
    }

    /// The next batch: its dataset and `size` image indices (an epoch boundary continues into the next permutation).
    public mutating func next(size: Int) -> (dataset: Int, images: [Int]) {
        let dataset = batches % imageCounts.count
        batches += 1
        var images: [Int] = []
        var permutation = Self.permutation(imageCounts[dataset], seed: seed, dataset: dataset, epoch: epochs[dataset])
        while images.count < size {
            if positions[dataset] == imageCounts[dataset] {
                epochs[dataset] += 1
                positions[dataset] = 0
                permutation = Self.permutation(imageCounts[dataset], seed: seed, dataset: dataset, epoch: epochs[dataset])
            }
            images.append(permutation[positions[dataset]])
            positions[dataset] += 1
        }
        return (dataset, images)
    }

    /// Fisher–Yates over 0..<count from SplitMix64.
    static func permutation(_ count: Int, seed: UInt64, dataset: Int, epoch: Int) -> [Int] {
        var generator = SplitMix64(seed: seed ^ (UInt64(bitPattern: Int64(dataset)) &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(epoch) &* 0xD1B5_4A32_D192_ED03))
        var order = Array(0..<count)
        for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, Int(generator.next() % UInt64(i + 1))) }
        return order
    }
}
