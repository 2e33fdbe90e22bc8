import Foundation
import Imaging

// The pycocotools `common/maskApi.c` operations evaluation needs on top of the RLE type:
// polygons and boxes to masks, merging, and mask and box IoU, bit-identical to C.

extension RLE {
    // MARK: - Polygons and boxes

    /// Rasterises one polygon [x0, y0, x1, y1, ...] (`rleFrPoly`): points are upsampled ×5
    /// along the boundary, then column crossings are downsampled onto pixel centres.
    public init(polygon xy: [Double], height: Int, width: Int) {
        let k = xy.count / 2
        let scale = 5.0
        var x = [Int](repeating: 0, count: k + 1), y = [Int](repeating: 0, count: k + 1)
        for j in 0..<k {
            x[j] = cInt(scale * xy[2 * j] + 0.5)
            y[j] = cInt(scale * xy[2 * j + 1] + 0.5)
        }
        if k > 0 {
            x[k] = x[0]
            y[k] = y[0]
        }
        var m = 0
        for j in 0..<k { m += max(abs(x[j] - x[j + 1]), abs(y[j] - y[j + 1])) + 1 }
        var u = [Int](repeating: 0, count: m), v = [Int](repeating: 0, count: m)
        m = 0
        for j in 0..<k {
            var xs = x[j], xe = x[j + 1], ys = y[j], ye = y[j + 1]
            let dx = abs(xe - xs), dy = abs(ys - ye)
            let flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye)
            if flip {
                swap(&xs, &xe)
                swap(&ys, &ye)
            }
            if dx >= dy {
                // dx == dy == 0 makes C's slope NaN; that point's v is never read.
                let s = dx == 0 ? 0 : Double(ye - ys) / Double(dx)
                for d in 0...dx {
                    let t = flip ? dx - d : d
                    u[m] = t + xs
                    v[m] = cInt(Double(ys) + s * Double(t) + 0.5)
                    m += 1
                }
            } else {
                let s = Double(xe - xs) / Double(dy)
                for d in 0...dy {
                    let t = flip ? dy - d : d
                    v[m] = t + ys
                    u[m] = cInt(Double(xs) + s * Double(t) + 0.5)
                    m += 1
                }
            }
        }
        // Points on the y-boundary, downsampled.
        let points = m
        var bx: [Int] = [], by: [Int] = []
        bx.reserveCapacity(points)
        by.reserveCapacity(points)
        let wMinusOne = Double(UInt64(truncatingIfNeeded: width) &- 1)
        if points > 1 {
            for j in 1..<points where u[j] != u[j - 1] {
                var xd = Double(u[j] < u[j - 1] ? u[j] : u[j] - 1)
                xd = (xd + 0.5) / scale - 0.5
                if xd.rounded(.down) != xd || xd < 0 || xd > wMinusOne { continue }
                var yd = Double(v[j] < v[j - 1] ? v[j] : v[j - 1])
                yd = (yd + 0.5) / scale - 0.5
                if yd < 0 { yd = 0 } else if yd > Double(height) { yd = Double(height) }
                yd = yd.rounded(.up)
                bx.append(Int(xd))
                by.append(Int(yd))
            }
        }
        // Run lengths from the sorted boundary positions.
        var a = [UInt32](repeating: 0, count: bx.count + 1)
        let h32 = Int32(truncatingIfNeeded: height)
        for j in 0..<bx.count {
            a[j] = UInt32(truncatingIfNeeded: Int32(truncatingIfNeeded: bx[j]) &* h32 &+ Int32(truncatingIfNeeded: by[j]))
        }
        a[bx.count] = UInt32(truncatingIfNeeded: height &* width)
        a.sort()
        var p: UInt32 = 0
        for j in 0..<a.count {
            let t = a[j]
            a[j] &-= p
            p = t
        }
        var b: [UInt32] = [a[0]]
        b.reserveCapacity(a.count)
        var j = 1
        while j < a.count {
            if a[j] > 0 {
                b.append(a[j])
                j += 1
            } else {
                j += 1
                if j < a.count {
                    b[b.count - 1] &+= a[j]
                    j += 1
                }
            }
        }
        self.init(height: height, width: width, counts: b)
    }

    /// A box [x, y, w, h] rasterised as its 4-corner polygon (`rleFrBbox`).
    public init(box: [Double], height: Int, width: Int) {
        let xs = box[0], xe = xs + box[2], ys = box[1], ye = ys + box[3]
        self.init(polygon: [xs, ys, xs, ye, xe, ye, xe, ys], height: height, width: width)
    }

    /// Union (or intersection) of masks of one size (`rleMerge`); mismatched sizes give an
    /// empty 0×0 mask, as in C.
    public static func merge(_ rles: [RLE], intersect: Bool = false) -> RLE {
        guard let first = rles.first else { return RLE(height: 0, width: 0, counts: []) }
        if rles.count == 1 { return first }
        var h = first.height, w = first.width
        var cnts = first.counts
        for i in 1..<rles.count {
            let B = rles[i]
            if B.height != h || B.width != w {
                h = 0
                w = 0
                cnts = []
                break
            }
            let A = cnts
            var out: [UInt32] = []
            out.reserveCapacity(A.count + B.counts.count)
            var ca = A.first ?? 0, cb = B.counts.first ?? 0
            var v = false, va = false, vb = false
            var a = 1, b = 1
            var cc: UInt32 = 0, ct: UInt32 = 1
            while ct > 0 {
                let c = min(ca, cb)
                cc &+= c
                ct = 0
                ca &-= c
                if ca == 0 && a < A.count { ca = A[a]; a += 1; va.toggle() }
                ct &+= ca
                cb &-= c
                if cb == 0 && b < B.counts.count { cb = B.counts[b]; b += 1; vb.toggle() }
                ct &+= cb
                let vp = v
                v = intersect ? (va && vb) : (va || vb)
                if v != vp || ct == 0 {
                    out.append(cc)
                    cc = 0
                }
            }
            cnts = out
        }
        return RLE(height: h, width: w, counts: cnts)
    }

    // MARK: - IoU

    /// IoU of a detection and a ground-truth mask (`rleIou`): 0 when their boxes miss, −1 for
    /// different sizes; a crowd region's union is the detection's area.
    public static func iou(_ dt: RLE, _ gt: RLE, dtBox: [Double], gtBox: [Double], crowd: Bool) -> Double {
        let boxIoU = boxIoU(dtBox, gtBox, crowd: crowd)
        guard boxIoU > 0 else { return boxIoU }
        if dt.height != gt.height || dt.width != gt.width { return -1 }
        guard !dt.counts.isEmpty, !gt.counts.isEmpty else { return 0 }
        let ka = dt.counts.count, kb = gt.counts.count
        var ca = dt.counts[0], cb = gt.counts[0]
        var va = false, vb = false
        var a = 1, b = 1
        var i: UInt32 = 0, u: UInt32 = 0, ct: UInt32 = 1
        while ct > 0 {
            let c = min(ca, cb)
            if va || vb {
                u &+= c
                if va && vb { i &+= c }
            }
            ct = 0
            ca &-= c
            if ca == 0 && a < ka { ca = dt.counts[a]; a += 1; va.toggle() }
            ct &+= ca
            cb &-= c
            if cb == 0 && b < kb { cb = gt.counts[b]; b += 1; vb.toggle() }
            ct &+= cb
        }
        if i == 0 { u = 1 } else if crowd { u = dt.area }
        return Double(i) / Double(u)
    }

    /// Box IoU in doubles (`bbIou`), boxes [x, y, w, h].
    @inline(__always)
    public static func boxIoU(_ d: [Double], _ g: [Double], crowd: Bool) -> Double {
        boxIoU(d[0], d[1], d[2], d[3], g[0], g[1], g[2], g[3], crowd: crowd)
    }

    @inline(__always)
    static func boxIoU(_ d0: Double, _ d1: Double, _ d2: Double, _ d3: Double,
                       _ g0: Double, _ g1: Double, _ g2: Double, _ g3: Double, crowd: Bool) -> Double {
        let ga = g2 * g3, da = d2 * d3
        let w = fmin(d2 + d0, g2 + g0) - fmax(d0, g0)
        if w <= 0 { return 0 }
        let h = fmin(d3 + d1, g3 + g1) - fmax(d1, g1)
        if h <= 0 { return 0 }
        let i = w * h
        let u = crowd ? da : da + ga - i
        return i / u
    }
}

/// C's `(int)` cast of a double: truncation toward zero, 32-bit wrap for huge values.
@inline(__always) private func cInt(_ value: Double) -> Int {
    guard value.isFinite, abs(value) < 9.2e18 else { return Int(Int32.min) }
    return Int(Int32(truncatingIfNeeded: Int64(value)))
}
