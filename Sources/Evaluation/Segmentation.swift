import Imaging

/// A segmentation as a file writes it; turned into an `RLE` once the image size is known,
/// the way pycocotools `annToRLE` does.
enum Segmentation: Sendable {
    /// Polygon parts [x0, y0, x1, y1, ...]; all parts are merged into one mask.
    case polygons([[Double]])
    /// `{"counts": [...], "size": [h, w]}` or a compressed string: already an RLE of its own size.
    case rle(RLE)

    /// Reads a `segmentation` value: a list of polygons, or an RLE object.
    static func read(_ s: inout JSONScanner, record: String) throws -> Segmentation {
        switch try s.peekKind() {
        case .array:
            var parts: [[Double]] = []
            try s.beginArray()
            var first = true
            while try s.nextElement(&first) { parts.append(try s.numberArray()) }
            // pycocotools' frPyObjects takes a first part of 4 numbers for a box, and
            // cannot read one shorter: it fails on both.
            guard let head = parts.first, head.count > 4 else {
                throw EvaluationError.invalidRecord(
                    file: s.file, record: record, field: "segmentation",
                    reason: "a polygon list must start with a polygon of at least 3 points (more than 4 numbers)")
            }
            for part in parts where part.contains(where: { !$0.isFinite || abs($0) > 1e8 }) {
                throw EvaluationError.invalidRecord(
                    file: s.file, record: record, field: "segmentation", reason: "polygon coordinate is not a finite number of sane size")
            }
            return .polygons(parts)
        case .object:
            try s.beginObject()
            var size: [Double]? = nil
            var counts: [UInt32]? = nil
            var first = true
            while let key = try s.nextKey(&first) {
                if s.matches(key, "size") {
                    size = try s.numberArray()
                } else if s.matches(key, "counts") {
                    if try s.peekKind() == .string {
                        // The size is attached below, once read. '\\' is a valid count
                        // character, so JSON escapes do occur.
                        let raw = try s.rawString()
                        if raw.hasEscapes {
                            counts = RLE(compressed: Array(try s.decode(raw).utf8), height: 0, width: 0).counts
                        } else {
                            counts = RLE(compressed: UnsafeBufferPointer(start: s.bytes + raw.start, count: raw.end - raw.start),
                                         height: 0, width: 0).counts
                        }
                    } else {
                        let values = try s.numberArray()
                        guard values.allSatisfy({ $0 >= 0 && $0 <= Double(UInt32.max) && $0 == $0.rounded() }) else {
                            throw EvaluationError.invalidRecord(file: s.file, record: record, field: "segmentation.counts",
                                                                reason: "run lengths must be non-negative integers")
                        }
                        counts = values.map { UInt32($0) }
                    }
                } else {
                    try s.skipValue()
                }
            }
            guard let size, size.count == 2, size.allSatisfy({ $0 >= 0 && $0 == $0.rounded() && $0 < 1e9 }) else {
                throw EvaluationError.invalidRecord(file: s.file, record: record, field: "segmentation.size",
                                                    reason: "an RLE needs size [height, width] of non-negative integers")
            }
            guard let counts else {
                throw EvaluationError.invalidRecord(file: s.file, record: record, field: "segmentation.counts", reason: "missing")
            }
            return .rle(RLE(height: Int(size[0]), width: Int(size[1]), counts: counts))
        default:
            throw EvaluationError.invalidRecord(file: s.file, record: record, field: "segmentation",
                                                reason: "expected a list of polygons or an RLE object")
        }
    }

    /// The mask on an image of this size (`annToRLE`: polygons merged, RLEs as they are).
    func rle(height: Int, width: Int) -> RLE {
        switch self {
        case let .polygons(parts):
            return RLE.merge(parts.map { RLE(polygon: $0, height: height, width: width) })
        case let .rle(rle):
            return rle
        }
    }

    var isCompressedOrUncompressedRLE: Bool {
        if case .rle = self { return true }
        return false
    }
}
