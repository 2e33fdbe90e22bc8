/// A binary mask, row-major, `true` inside: what SAM predicts for a prompt, at the image's size.
public struct BinaryMask: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var pixels: [Bool]

    public init(width: Int, height: Int, pixels: [Bool]) {
        precondition(pixels.count == width * height, "mask \(width)x\(height) needs \(width * height) pixels, got \(pixels.count)")
        (self.width, self.height, self.pixels) = (width, height, pixels)
    }

    /// 0/1 bytes in column-major (Fortran) order, the layout COCO RLE encodes (`RLE(mask:height:width:)`).
    public var columnMajorBytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: pixels.count)
        for y in 0..<height { for x in 0..<width where pixels[y * width + x] { out[x * height + y] = 1 } }
        return out
    }
}

extension RLE {
    /// COCO's run-length encoding of `mask`.
    public init(_ mask: BinaryMask) {
        self.init(mask: mask.columnMajorBytes, height: mask.height, width: mask.width)
    }
}

extension BinaryMask {
    /// The mask `rle` encodes; nil when its counts do not cover height × width.
    public init?(_ rle: RLE) {
        guard let columnMajor = rle.decoded() else { return nil }
        let (height, width) = (rle.height, rle.width)
        var pixels = [Bool](repeating: false, count: height * width)
        for x in 0..<width { for y in 0..<height where columnMajor[x * height + y] != 0 { pixels[y * width + x] = true } }
        self.init(width: width, height: height, pixels: pixels)
    }
}
