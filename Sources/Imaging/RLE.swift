import Foundation

/// A binary mask in COCO run-length encoding: column-major runs alternating background and
/// foreground, starting with background. A port of pycocotools `common/maskApi.c`; every
/// operation is bit-identical to it (its unsigned 32-bit arithmetic included). Rasterising
/// polygons, merging and IoU, which only evaluation needs, are in the Evaluation module.
public struct RLE: Equatable, Sendable {
    public var height: Int
    public var width: Int
    public var counts: [UInt32]

    public init(height: Int, width: Int, counts: [UInt32]) {
        self.height = height
        self.width = width
        self.counts = counts
    }

    // MARK: - Masks

    /// Encodes a column-major mask (`rleEncode`).
    public init(mask: [UInt8], height: Int, width: Int) {
        precondition(mask.count == height * width, "mask size")
        var counts: [UInt32] = []
        var previous: UInt8 = 0
        var run: UInt32 = 0
        for value in mask {
            if value != previous {
                counts.append(run)
                run = 0
                previous = value
            }
            run &+= 1
        }
        counts.append(run)
        self.init(height: height, width: width, counts: counts)
    }

    /// The column-major mask (`rleDecode`); nil when the runs overflow height × width.
    public func decoded() -> [UInt8]? {
        let size = height * width
        var mask = [UInt8](repeating: 0, count: size)
        var position = 0
        var value: UInt8 = 0
        for run in counts {
            guard position + Int(run) <= size else { return nil }
            if value == 1 { for i in position..<position + Int(run) { mask[i] = 1 } }
            position += Int(run)
            value ^= 1
        }
        return mask
    }

    /// Foreground pixel count (`rleArea`, wrapping as uint32 does).
    public var area: UInt32 {
        var total: UInt32 = 0
        var j = 1
        while j < counts.count {
            total &+= counts[j]
            j += 2
        }
        return total
    }

    /// Tight box [x, y, w, h] (`rleToBbox`).
    public var boundingBox: [Double] {
        let h = UInt32(truncatingIfNeeded: height), w = UInt32(truncatingIfNeeded: width)
        let m = (counts.count / 2) * 2
        if m == 0 { return [0, 0, 0, 0] }
        var xs = w, ys = h, xe: UInt32 = 0, ye: UInt32 = 0, cc: UInt32 = 0
        for j in 0..<m {
            let start = cc
            cc &+= counts[j]
            if j % 2 == 0 || counts[j] == 0 { continue }
            let yStart = start % h, xStart = (start &- yStart) / h
            let yEnd = (cc &- 1) % h, xEnd = (cc &- 1 &- yEnd) / h
            xs = min(xs, xStart)
            xe = max(xe, xEnd)
            if xStart < xEnd {
                ys = 0
                ye = h &- 1
            } else {
                ys = min(ys, yStart)
                ye = max(ye, yEnd)
            }
        }
        return [Double(xs), Double(ys), Double(xe &- xs &+ 1), Double(ye &- ys &+ 1)]
    }

    // MARK: - Compressed strings

    /// Decodes COCO's compressed counts string (`rleFrString`). Inlinable so that callers in
    /// other modules (evaluation reads one per detection) get it specialised for their bytes.
    @inlinable
    public init(compressed string: some Collection<UInt8>, height: Int, width: Int) {
        var counts: [UInt32] = []
        var iterator = string.makeIterator()
        var pending = iterator.next()
        while let firstByte = pending {
            var x: Int64 = 0
            var k: Int64 = 0
            var more = true
            var byte: UInt8? = firstByte
            while more, let b = byte {
                let c = Int64(Int8(bitPattern: b &- 48))
                x |= (c & 0x1f) << (5 * k)
                more = c & 0x20 != 0
                k += 1
                if !more && c & 0x10 != 0 { x |= -1 << (5 * k) }
                byte = iterator.next()
            }
            pending = byte
            if counts.count > 2 { x += Int64(counts[counts.count - 2]) }
            counts.append(UInt32(truncatingIfNeeded: x))
            if more { break } // the string ended inside a count
        }
        self.init(height: height, width: width, counts: counts)
    }

    /// COCO's compressed counts string (`rleToString`).
    public var compressedString: String {
        var out: [UInt8] = []
        out.reserveCapacity(counts.count * 2)
        for i in 0..<counts.count {
            var x = Int64(counts[i])
            if i > 2 { x -= Int64(counts[i - 2]) }
            var more = true
            while more {
                var c = UInt8(truncatingIfNeeded: x & 0x1f)
                x >>= 5
                more = c & 0x10 != 0 ? x != -1 : x != 0
                if more { c |= 0x20 }
                out.append(c &+ 48)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
