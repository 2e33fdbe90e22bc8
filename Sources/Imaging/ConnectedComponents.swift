import CVision

/// The connected regions of a binary mask, labelled by OpenCV (`cv::connectedComponentsWithStats`).
public struct ConnectedComponents: Sendable {
    /// Number of labels, background (label 0) included.
    public let count: Int
    /// Per pixel, row-major: 0 outside the mask, 1…count−1 for its regions.
    public let labels: [Int32]
    /// Pixels per label, background first (OpenCV's `CC_STAT_AREA`).
    public let areas: [Int]

    /// Labels the `true` pixels of `mask`; `connectivity` is 4 or 8.
    public init(_ mask: BinaryMask, connectivity: Int = 8) {
        precondition(connectivity == 4 || connectivity == 8, "connectivity must be 4 or 8, got \(connectivity)")
        let bytes = mask.pixels.map { $0 ? UInt8(1) : 0 }
        var labels = [Int32](repeating: 0, count: bytes.count)
        var count: Int32 = 0
        if !bytes.isEmpty {
            labels.withUnsafeMutableBufferPointer { out in
                do {
                    try cvisionCall("connected components") {
                        cvision_connected_components(bytes, Int32(mask.width), Int32(mask.height), Int32(connectivity),
                                                     out.baseAddress, &count, $0, $1)
                    }
                } catch {
                    fatalError("\(error)")  // only reachable through out-of-memory: the arguments are checked above
                }
            }
        }
        var areas = [Int](repeating: 0, count: max(1, Int(count)))
        for label in labels { areas[Int(label)] += 1 }
        (self.count, self.labels, self.areas) = (max(1, Int(count)), labels, areas)
    }
}
