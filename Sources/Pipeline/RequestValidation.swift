import Foundation
import Imaging
import PipelineProtocol

/// Why the daemon refuses a request: a status code and a message that starts with the field at fault.
public struct RequestRefusal: Error, Equatable, CustomStringConvertible {
    public let code: Regionspot_V1_Code
    public let message: String

    public init(_ code: Regionspot_V1_Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// The checks a recognition request passes before it takes a place in the queues (`check`, on the
/// broker's thread: no image work), and those its image passes on a decode thread (`decode`).
enum RequestValidation {
    static let maxRequestIDBytes = 256
    /// CLIP reads 77 tokens; a longer name is a mistake or an attack.
    static let maxClassNameBytes = 1000
    static let defaultTopK: UInt32 = 5

    /// `readsPaths`: the daemon has an image root, so `image_path` is looked at (on a decode thread).
    /// `isRegistered` says whether a `vocabulary_name` names a registered vocabulary.
    static func check(_ request: Regionspot_V1_RecognizeRequest, limits: PipelineConfiguration.Limits,
                      readsPaths: Bool = false, isRegistered: (String) -> Bool = { _ in false }) -> RequestRefusal? {
        if request.requestID.utf8.count > maxRequestIDBytes {
            return RequestRefusal(.invalidArgument, "request_id: \(request.requestID.utf8.count) bytes, at most \(maxRequestIDBytes) allowed")
        }
        switch request.imageSource {
        case nil:
            return RequestRefusal(.invalidArgument, "image: missing (send the encoded image's bytes)")
        case .imagePath where !readsPaths:
            return RequestRefusal(.permissionDenied, "image_path: this daemon reads no files (it was started without an image root); send the image's bytes in `image`")
        case .imagePath(let path) where path.isEmpty:
            return RequestRefusal(.invalidArgument, "image_path: empty")
        case .imagePath:
            break
        case .image(let data) where data.isEmpty:
            return RequestRefusal(.invalidArgument, "image: empty")
        case .image:
            break
        }
        switch request.proposals {
        case .none where request.boxes.isEmpty:
            return RequestRefusal(.invalidArgument, "boxes: empty (give at least one box, or proposals PROPOSALS_SAM)")
        case .none: break
        case .sam where !request.boxes.isEmpty:
            return RequestRefusal(.invalidArgument, "boxes: \(request.boxes.count) given with proposals PROPOSALS_SAM, "
                                  + "which proposes the boxes itself (send no boxes, or PROPOSALS_NONE)")
        case .sam: break  // at most max_boxes proposals are kept (the localize stage's max_proposals)
        case .UNRECOGNIZED(let value): return RequestRefusal(.invalidArgument, "proposals: unknown value \(value)")
        }
        if request.boxes.count > limits.maxBoxes {
            return RequestRefusal(.invalidArgument, "boxes: \(request.boxes.count) boxes, at most \(limits.maxBoxes) allowed")
        }
        for (index, box) in request.boxes.enumerated() {
            let corners = [box.x0, box.y0, box.x1, box.y1]
            guard corners.allSatisfy(\.isFinite) else {
                return RequestRefusal(.invalidArgument, "boxes[\(index)]: corners must be finite numbers, got \(corners)")
            }
            guard box.x0 <= box.x1, box.y0 <= box.y1 else {
                return RequestRefusal(.invalidArgument, "boxes[\(index)]: expected x0 ≤ x1 and y0 ≤ y1, got \(corners)")
            }
            if box.hasScore, !(box.score >= 0 && box.score <= 1) {
                return RequestRefusal(.invalidArgument, "boxes[\(index)].score: expected a number in [0, 1], got \(box.score)")
            }
        }
        if !request.vocabulary.isEmpty && !request.vocabularyName.isEmpty {
            return RequestRefusal(.invalidArgument, "vocabulary, vocabulary_name: give one of them, not both")
        }
        if !request.vocabularyName.isEmpty {
            return isRegistered(request.vocabularyName) ? nil
                : RequestRefusal(.notFound, "vocabulary_name: no vocabulary named '\(request.vocabularyName.prefix(128))' is registered")
        }
        if request.vocabulary.isEmpty {
            return RequestRefusal(.invalidArgument, "vocabulary: empty (give class names, or a registered vocabulary_name)")
        }
        return check(classNames: request.vocabulary, field: "vocabulary", limits: limits)
    }

    /// Class names as a request or a registration gives them: at most `max_classes`, none empty,
    /// too long or repeated. `field` names them in the message.
    static func check(classNames: [String], field: String, limits: PipelineConfiguration.Limits) -> RequestRefusal? {
        if classNames.count > limits.maxClasses {
            return RequestRefusal(.invalidArgument, "\(field): \(classNames.count) classes, at most \(limits.maxClasses) allowed")
        }
        var seen: [String: Int] = [:]
        for (index, name) in classNames.enumerated() {
            if name.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                return RequestRefusal(.invalidArgument, "\(field)[\(index)]: empty class name")
            }
            if name.utf8.count > maxClassNameBytes {
                return RequestRefusal(.invalidArgument, "\(field)[\(index)]: \(name.utf8.count) bytes, at most \(maxClassNameBytes) allowed")
            }
            if let first = seen[name] {
                return RequestRefusal(.invalidArgument, "\(field)[\(index)]: '\(name)' repeats \(field)[\(first)]")
            }
            seen[name] = index
        }
        return nil
    }

    /// Decodes the request's image (read from under `imageRoot` for an `image_path`, at most
    /// `maxFileBytes`), refusing a bad file, more than `maxPixels` pixels (read from the header
    /// before any pixel is decoded: decompression bombs) and boxes outside the image. The encoded
    /// bytes come back too: the image-embedding cache knows an image by their digest.
    static func decode(_ request: Regionspot_V1_RecognizeRequest, maxPixels: Int, imageRoot: ImageRoot? = nil,
                       maxFileBytes: Int = .max) -> Result<(image: RGBImage, bytes: Data), RequestRefusal> {
        let bytes: Data, source: String
        switch request.imageSource {
        case .imagePath(let path)?:
            guard let imageRoot else { return .failure(RequestRefusal(.permissionDenied, "image_path: this daemon reads no files")) }
            switch imageRoot.read(path, maxBytes: maxFileBytes) {
            case .success(let data): (bytes, source) = (data, "image_path '\(path)'")
            case .failure(let refusal): return .failure(refusal)
            }
        case .image(let data)?: (bytes, source) = (data, "image")
        case nil: return .failure(RequestRefusal(.invalidArgument, "image: missing"))
        }
        let image: RGBImage
        do {
            let header = try RGBImage.header(of: bytes, source: source)
            let pixels = header.width * header.height
            guard pixels <= maxPixels else {
                return .failure(RequestRefusal(.invalidArgument, "\(source): \(header.width)×\(header.height) = \(pixels) pixels exceeds "
                                               + "max_image_pixels (\(maxPixels)); a decompression bomb?"))
            }
            image = try RGBImage(decoding: bytes, source: source, maxPixels: maxPixels)
        } catch {
            return .failure(RequestRefusal(.invalidArgument, "\(error)"))
        }
        let width = Float(image.width), height = Float(image.height)
        for (index, box) in request.boxes.enumerated() where box.x0 < 0 || box.y0 < 0 || box.x1 > width || box.y1 > height {
            return .failure(RequestRefusal(.invalidArgument, "boxes[\(index)]: [\(box.x0), \(box.y0), \(box.x1), \(box.y1)] lies outside "
                                           + "the \(image.width)×\(image.height) image"))
        }
        return .success((image, bytes))
    }
}
