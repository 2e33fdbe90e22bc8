import CVision
import Foundation
import Tensors

/// The formats images are written in.
public enum EncodedFormat: Sendable, Equatable {
    case png
    /// Baseline JPEG with quality 0…100.
    case jpeg(quality: Int)

    /// The format a file name's extension asks for (.png, .jpg/.jpeg), if any.
    public init?(pathExtension: String, jpegQuality: Int = 95) {
        switch pathExtension.lowercased() {
        case "png": self = .png
        case "jpg", "jpeg": self = .jpeg(quality: jpegQuality)
        default: return nil
        }
    }
}

extension RGBImage {
    /// The image encoded as PNG (lossless) or JPEG.
    public func encoded(as format: EncodedFormat) throws -> Data {
        try encode(pixels, width: width, height: height, channels: 3, format: format)
    }

    /// Writes the encoded image to `url` through a temporary file and a rename, so readers
    /// never see a partial file. `format` defaults to the one the extension names.
    public func write(to url: URL, format: EncodedFormat? = nil) throws {
        let data = try encoded(as: resolveFormat(format, for: url))
        try writeAtomically(data, to: url)
    }
}

/// An 8-bit single-channel image, such as a SAM binary mask (0 or 255).
public struct GrayImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public internal(set) var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0, "image size \(width)x\(height) must be positive")
        precondition(pixels.count == width * height, "\(width)x\(height) gray needs \(width * height) bytes, got \(pixels.count)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A binary mask as 255 where true and 0 elsewhere (row-major, `width`×`height`).
    public init(mask: [Bool], width: Int, height: Int) {
        self.init(width: width, height: height, pixels: mask.map { $0 ? 255 : 0 })
    }

    public func encoded(as format: EncodedFormat) throws -> Data {
        try encode(pixels, width: width, height: height, channels: 1, format: format)
    }

    public func write(to url: URL, format: EncodedFormat? = nil) throws {
        let data = try encoded(as: resolveFormat(format, for: url))
        try writeAtomically(data, to: url)
    }
}

private func encode(_ pixels: [UInt8], width: Int, height: Int, channels: Int32, format: EncodedFormat) throws -> Data {
    let (code, quality): (Int32, Int32)
    switch format {
    case .png: (code, quality) = (Int32(CVISION_FORMAT_PNG), 0)
    case .jpeg(let q): (code, quality) = (Int32(CVISION_FORMAT_JPEG), Int32(clamping: q))
    }
    var bytes = cvision_bytes()
    defer { cvision_bytes_free(&bytes) }
    try pixels.withUnsafeBufferPointer { source in
        try cvisionCall("encoding \(width)x\(height) image") {
            cvision_encode(source.baseAddress, Int32(width), Int32(height), channels, code, quality, &bytes, $0, $1)
        }
    }
    return Data(bytes: bytes.data, count: bytes.size)
}

private func resolveFormat(_ format: EncodedFormat?, for url: URL) throws -> EncodedFormat {
    if let format { return format }
    guard let format = EncodedFormat(pathExtension: url.pathExtension) else {
        throw ImageError(.invalidArgument, source: url.path, detail: "cannot tell the image format from the extension; use .png, .jpg or .jpeg")
    }
    return format
}

/// Writes `data` atomically (a temporary file beside `url`, then a rename).
func writeAtomically(_ data: Data, to url: URL) throws {
    do {
        try AtomicFile.write(data, to: url)
    } catch let TensorFileError.writeFailed(_, reason) {
        throw ImageError(.io, source: url.path, detail: reason)
    }
}
