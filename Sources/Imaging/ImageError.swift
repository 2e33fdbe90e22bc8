import CVision

/// Why an image could not be read, converted or written, and which input it was.
public struct ImageError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: Sendable, Equatable {
        case notAnImage, unsupported, truncated, tooManyPixels, corrupt, invalidArgument, failed, io
    }

    public let kind: Kind
    /// The file path, URL or caller-supplied name of the input or output.
    public let source: String
    public let detail: String

    public init(_ kind: Kind, source: String, detail: String) {
        self.kind = kind
        self.source = source
        self.detail = detail
    }

    public var description: String {
        let what: String
        switch kind {
        case .notAnImage: what = "not an image"
        case .unsupported: what = "unsupported image"
        case .truncated: what = "truncated image"
        case .tooManyPixels: what = "image too large"
        case .corrupt: what = "corrupt image"
        case .invalidArgument: what = "invalid argument"
        case .failed: what = "image operation failed"
        case .io: what = "cannot read or write"
        }
        return "\(source): \(what): \(detail)"
    }
}

/// Calls a CVision entry point and turns its status and message into an `ImageError`.
func cvisionCall(_ source: String, _ body: (UnsafeMutablePointer<CChar>, Int) -> Int32) throws {
    var message = [CChar](repeating: 0, count: 512)
    let status = message.withUnsafeMutableBufferPointer { body($0.baseAddress!, $0.count) }
    guard Int(status) != CVISION_OK else { return }
    let detail = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let kind: ImageError.Kind
    switch Int(status) {
    case CVISION_NOT_AN_IMAGE: kind = .notAnImage
    case CVISION_UNSUPPORTED: kind = .unsupported
    case CVISION_TRUNCATED: kind = .truncated
    case CVISION_TOO_MANY_PIXELS: kind = .tooManyPixels
    case CVISION_CORRUPT: kind = .corrupt
    case CVISION_INVALID_ARGUMENT: kind = .invalidArgument
    default: kind = .failed
    }
    throw ImageError(kind, source: source, detail: detail)
}

/// OpenCV as linked into this process (for `regionspot doctor`).
public enum OpenCVLibrary {
    public static var version: String { String(cString: cvision_opencv_version()) }
}
