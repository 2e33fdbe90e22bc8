/// An 8-bit RGB image: `pixels` holds `height` rows of `width` interleaved (r, g, b) triples.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public internal(set) var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0, "image size \(width)x\(height) must be positive")
        precondition(pixels.count == width * height * 3, "\(width)x\(height) RGB needs \(width * height * 3) bytes, got \(pixels.count)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// An image filled with one colour.
    public init(width: Int, height: Int, color: RGB) {
        precondition(width > 0 && height > 0, "image size \(width)x\(height) must be positive")
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in stride(from: 0, to: pixels.count, by: 3) {
            pixels[i] = color.red
            pixels[i + 1] = color.green
            pixels[i + 2] = color.blue
        }
        self.init(width: width, height: height, pixels: pixels)
    }

    public subscript(x: Int, y: Int) -> RGB {
        precondition(x >= 0 && x < width && y >= 0 && y < height, "pixel (\(x), \(y)) outside \(width)x\(height)")
        let i = (y * width + x) * 3
        return RGB(pixels[i], pixels[i + 1], pixels[i + 2])
    }

    /// The part of the image inside `x..<x+width`, `y..<y+height`, which must lie inside it.
    public func cropped(x: Int, y: Int, width: Int, height: Int) -> RGBImage {
        precondition(x >= 0 && y >= 0 && width > 0 && height > 0 && x + width <= self.width && y + height <= self.height,
                     "crop \(width)x\(height) at (\(x), \(y)) outside \(self.width)x\(self.height)")
        var result = [UInt8]()
        result.reserveCapacity(width * height * 3)
        for row in y..<(y + height) {
            let start = (row * self.width + x) * 3
            result.append(contentsOf: pixels[start..<(start + width * 3)])
        }
        return RGBImage(width: width, height: height, pixels: result)
    }

    /// The image extended at the bottom and right to `width`×`height` with `value`
    /// (SAM pads its resized input to 1024² this way).
    public func padded(toWidth width: Int, height: Int, value: RGB = RGB(0, 0, 0)) -> RGBImage {
        precondition(width >= self.width && height >= self.height,
                     "cannot pad \(self.width)x\(self.height) to the smaller \(width)x\(height)")
        var result = RGBImage(width: width, height: height, color: value)
        for row in 0..<self.height {
            let source = row * self.width * 3, target = row * width * 3
            result.pixels.replaceSubrange(target..<(target + self.width * 3), with: pixels[source..<(source + self.width * 3)])
        }
        return result
    }
}

/// One 8-bit RGB colour.
public struct RGB: Sendable, Equatable, Hashable {
    public var red: UInt8
    public var green: UInt8
    public var blue: UInt8

    public init(_ red: UInt8, _ green: UInt8, _ blue: UInt8) {
        self.red = red
        self.green = green
        self.blue = blue
    }
}
