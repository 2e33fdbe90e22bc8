/// An axis-aligned box in image pixels, corners (x0, y0) and (x1, y1) with x0 ≤ x1, y0 ≤ y1: the
/// prompt format of SAM (`XYXY`) and RegionSpot.
public struct Box: Sendable, Equatable, Hashable, Codable {
    public var x0: Float, y0: Float, x1: Float, y1: Float

    public init(x0: Float, y0: Float, x1: Float, y1: Float) {
        (self.x0, self.y0, self.x1, self.y1) = (x0, y0, x1, y1)
    }

    /// From [x0, y0, x1, y1]; nil unless there are exactly four numbers.
    public init?(_ corners: [Float]) {
        guard corners.count == 4 else { return nil }
        self.init(x0: corners[0], y0: corners[1], x1: corners[2], y1: corners[3])
    }

    /// From COCO's [x, y, width, height].
    public init(xywh: [Float]) {
        precondition(xywh.count == 4, "Box(xywh:) needs 4 numbers, got \(xywh.count)")
        self.init(x0: xywh[0], y0: xywh[1], x1: xywh[0] + xywh[2], y1: xywh[1] + xywh[3])
    }

    /// [x0, y0, x1, y1].
    public var corners: [Float] { [x0, y0, x1, y1] }
    /// COCO's [x, y, width, height].
    public var xywh: [Float] { [x0, y0, x1 - x0, y1 - y0] }
    public var width: Float { x1 - x0 }
    public var height: Float { y1 - y0 }

    /// All four corners finite and ordered (x0 ≤ x1, y0 ≤ y1).
    public var isValid: Bool {
        [x0, y0, x1, y1].allSatisfy(\.isFinite) && x0 <= x1 && y0 <= y1
    }
}

/// JSON `[x0, y0, x1, y1]`, as the boxes files and results formats write it.
extension Box {
    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        var corners: [Float] = []
        while !container.isAtEnd { corners.append(try container.decode(Float.self)) }
        guard let box = Box(corners) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "a box is 4 numbers x0, y0, x1, y1, got \(corners.count)"))
        }
        self = box
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(contentsOf: corners)
    }
}

/// `[x0, y0, x1, y1]` written in code.
extension Box: ExpressibleByArrayLiteral {
    public init(arrayLiteral corners: Float...) {
        precondition(corners.count == 4, "a Box literal needs 4 numbers x0, y0, x1, y1, got \(corners.count)")
        self.init(corners)!
    }
}

extension Box: CustomStringConvertible {
    public var description: String { "[\(x0), \(y0), \(x1), \(y1)]" }
}
