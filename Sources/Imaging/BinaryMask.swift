/// A binary mask, row-major, `true` inside: what SAM predicts for a prompt, at the image's size.
public struct BinaryMask: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var pixels: [Bool]

    public init(width: Int, height: Int, pixels: [Bool]) {
        precondition(pixels.count == width * height, "mask \(width)x\(height) needs \(width * height) pixels, got \(pixels.count)")
        (self.width, self.height, self.pixels) = (width, height, pixels)
    }

    /// Each pixel repeated as a `factor`×`factor` square, as `RGBImage.enlarged(by:)` does.
    public func enlarged(by factor: Int) -> BinaryMask {
        precondition(factor >= 1, "enlargement factor \(factor) must be at least 1")
        guard factor > 1 else { return self }
        let wide = width * factor
        return BinaryMask(width: wide, height: height * factor,
                          pixels: (0..<wide * height * factor).map { pixels[($0 / wide / factor) * width + ($0 % wide) / factor] })
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

    /// The encoding of a `width` × `height` mask that is `mask` with its top-left corner at (x, y)
    /// and empty elsewhere, without building that larger mask. `mask` must lie inside it.
    public init(_ mask: BinaryMask, at x: Int, _ y: Int, width: Int, height: Int) {
        precondition(x >= 0 && y >= 0 && x + mask.width <= width && y + mask.height <= height,
                     "mask \(mask.width)x\(mask.height) at (\(x), \(y)) outside \(width)x\(height)")
        var counts: [UInt32] = [], value = false, run = 0
        func extend(_ pixel: Bool, _ length: Int) {
            guard length > 0 else { return }
            if pixel != value {
                counts.append(UInt32(run))
                (value, run) = (pixel, 0)
            }
            run += length
        }
        extend(false, x * height)
        for column in 0..<mask.width {
            extend(false, y)
            for row in 0..<mask.height { extend(mask.pixels[row * mask.width + column], 1) }
            extend(false, height - y - mask.height)
        }
        extend(false, (width - x - mask.width) * height)
        counts.append(UInt32(run))
        self.init(height: height, width: width, counts: counts)
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
