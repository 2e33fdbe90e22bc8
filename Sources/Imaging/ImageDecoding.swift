import CVision
import Foundation

/// The container formats RegionSpot reads.
public enum ImageFormat: String, Sendable {
    case jpeg, png, webp, bmp
}

/// What an image file's header says, read without decoding pixels.
public struct ImageHeader: Sendable, Equatable {
    public let format: ImageFormat
    /// Size as stored, before the EXIF orientation is applied.
    public let width: Int
    public let height: Int
    /// EXIF orientation 1…8 (1 when absent), read as Pillow's `getexif()` does (EXIF, else XMP).
    public let orientation: Int
    public let channels: Int
    public let bitDepth: Int

    /// Size after the orientation is applied (5…8 swap the axes).
    public var orientedWidth: Int { orientation >= 5 ? height : width }
    public var orientedHeight: Int { orientation >= 5 ? width : height }
}

extension RGBImage {
    /// Pillow's decompression-bomb error threshold, 2 × `Image.MAX_IMAGE_PIXELS`
    /// (2 × 89,478,485): `Image.open` raises above it, so the reference reads nothing larger.
    public static let defaultMaxPixels = 178_956_970

    /// Reads format, size and orientation, and checks the file is complete, without decoding.
    public static func header(of data: Data, source: String) throws -> ImageHeader {
        var raw = cvision_header()
        try data.withUnsafeBytes { bytes in
            try cvisionCall(source) { cvision_probe(bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count, &raw, $0, $1) }
        }
        let formats: [Int32: ImageFormat] = [
            Int32(CVISION_FORMAT_JPEG): .jpeg, Int32(CVISION_FORMAT_PNG): .png,
            Int32(CVISION_FORMAT_WEBP): .webp, Int32(CVISION_FORMAT_BMP): .bmp,
        ]
        guard let format = formats[raw.format] else {
            throw ImageError(.failed, source: source, detail: "the shim reported unknown format \(raw.format)")
        }
        return ImageHeader(format: format, width: Int(raw.width), height: Int(raw.height), orientation: Int(raw.orientation),
                           channels: Int(raw.channels), bitDepth: Int(raw.bit_depth))
    }

    /// Decodes JPEG, PNG, WebP or BMP bytes to RGB the way the reference reads images
    /// (Pillow `Image.open`, EXIF transpose, `.convert("RGB")`): orientation applied, alpha
    /// dropped, gray replicated. Refuses truncated data, other formats and images with more
    /// than `maxPixels` pixels, checked from the header before any pixel buffer is allocated.
    /// `source` names the input in errors.
    public init(decoding data: Data, source: String, maxPixels: Int = RGBImage.defaultMaxPixels) throws {
        let header = try RGBImage.header(of: data, source: source)
        let pixelCount = header.width * header.height
        guard pixelCount <= maxPixels else {
            throw ImageError(.tooManyPixels, source: source,
                             detail: "\(header.width)x\(header.height) = \(pixelCount) pixels exceeds the limit of \(maxPixels) (possible decompression bomb)")
        }
        var width: Int32 = 0, height: Int32 = 0
        var pixels = [UInt8](repeating: 0, count: pixelCount * 3)
        try data.withUnsafeBytes { bytes in
            try pixels.withUnsafeMutableBufferPointer { out in
                try cvisionCall(source) {
                    cvision_decode_rgb(bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count, UInt64(maxPixels),
                                       out.baseAddress, out.count, &width, &height, $0, $1)
                }
            }
        }
        self.init(width: Int(width), height: Int(height), pixels: pixels)
    }

    /// Reads and decodes the image file at `url` (see `init(decoding:source:maxPixels:)`).
    public init(contentsOf url: URL, maxPixels: Int = RGBImage.defaultMaxPixels) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw ImageError(.io, source: url.path, detail: (error as NSError).localizedDescription)
        }
        try self.init(decoding: data, source: url.path, maxPixels: maxPixels)
    }
}
