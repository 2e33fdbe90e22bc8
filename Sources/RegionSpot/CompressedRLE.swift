import Imaging

/// A compressed RLE mask as pycocotools writes it in results files: `{"size": [h, w], "counts": "..."}`.
public struct CompressedRLE: Sendable, Equatable, Codable {
    public var size: [Int]
    public var counts: String

    public init(height: Int, width: Int, counts: String) {
        self.size = [height, width]
        self.counts = counts
    }

    /// `mask` in COCO's compressed string form.
    public init(_ mask: BinaryMask) {
        self.init(height: mask.height, width: mask.width, counts: RLE(mask).compressedString)
    }
}
