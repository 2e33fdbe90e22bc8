import Foundation

extension Tensor {
    /// Softmax over the last dimension (PyTorch `softmax(dim=-1)`), subtracting the row max.
    /// −∞ entries (masked positions) get probability 0. A row that is entirely −∞ becomes all
    /// zeros, where PyTorch gives NaN: a fully masked query then contributes nothing instead
    /// of poisoning what follows. NaN inputs give NaN rows.
    /// - self: [..., N]. Returns the same shape.
    public func softmax() -> Tensor {
        precondition(rank >= 1, "softmax needs at least one dimension")
        let width = dim(-1)
        var result = self
        guard width > 0, count > 0 else { return result }
        let rows = count / width
        result.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            Parallel.forEachChunk(rows, minimumPerChunk: max(1, 8192 / width)) { chunk in
                for row in chunk { Softmax.row(base + row * width, width) }
            }
        }
        return result
    }
}

extension Tensor {
    /// Softmax down the columns of row groups, in place: self is [groups·T, N] and for every group
    /// g and column c, entries (g·T + i, c), i < T, are normalised together. This is softmax over
    /// dim −2 of [groups, T, N]; it serves short softmax axes (T of a few) with long vector rows.
    /// Inputs must be finite (scores, not masks).
    public mutating func softmaxOverRows(groups: Int) {
        precondition(rank == 2 && groups > 0 && dim(0) % groups == 0, "softmaxOverRows: \(shape) does not split into \(groups) groups")
        let (t, n) = (dim(0) / groups, dim(1))
        guard t > 0, n > 0 else { return }
        withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            Parallel.forEachChunk(groups * ((n + VectorMath.width - 1) / VectorMath.width), minimumPerChunk: 64) { items in
                let strips = (n + VectorMath.width - 1) / VectorMath.width
                for item in items {
                    let group = base + (item / strips) * t * n
                    let first = (item % strips) * VectorMath.width
                    if first + VectorMath.width <= n {
                        Softmax.columnStrip(group + first, rows: t, stride: n)
                    } else {
                        for c in first..<n { Softmax.column(group + c, rows: t, stride: n) }
                    }
                }
            }
        }
    }
}

enum Softmax {
    /// Softmax down `rows` entries `stride` apart for a vector of adjacent columns.
    @inline(__always)
    static func columnStrip(_ x: UnsafeMutablePointer<Float>, rows: Int, stride: Int) {
        var maximum = VectorMath.load(x)
        for r in 1..<max(1, rows) {
            let v = VectorMath.load(x + r * stride)
            maximum.replace(with: v, where: v .> maximum)
        }
        var sum = VectorMath.Vector()
        for r in 0..<rows {
            let e = FastMath.exp(VectorMath.load(x + r * stride) - maximum)
            VectorMath.store(e, x + r * stride)
            sum += e
        }
        let inverse = 1 / sum
        for r in 0..<rows { VectorMath.store(VectorMath.load(x + r * stride) * inverse, x + r * stride) }
    }

    /// The same for one column (the tail of a row shorter than a vector).
    static func column(_ x: UnsafeMutablePointer<Float>, rows: Int, stride: Int) {
        var maximum = -Float.infinity
        for r in 0..<rows { maximum = max(maximum, x[r * stride]) }
        var sum: Float = 0
        for r in 0..<rows {
            let e = Foundation.exp(x[r * stride] - maximum)
            x[r * stride] = e
            sum += e
        }
        for r in 0..<rows { x[r * stride] /= sum }
    }

    /// In place: x ← exp(x − max x) / Σ exp(x − max x).
    @inline(__always)
    static func row(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        let (maximum, hasNaN) = maximumAndNaN(x, n)
        if hasNaN || maximum == -.infinity {
            // NaN anywhere poisons the row (as in PyTorch); an all −∞ row becomes zeros.
            x.update(repeating: hasNaN ? .nan : 0, count: n)
            return
        }
        let sum = FastMath.expSubtractingInPlace(x, count: n, shift: maximum)
        FastMath.scale(x, count: n, by: 1 / sum)
    }

    /// In place, the gradient through `row`: g ← p·(g − Σ p·g), given its output p and the
    /// output's gradient g.
    @inline(__always)
    static func backwardRow(_ p: UnsafePointer<Float>, _ g: UnsafeMutablePointer<Float>, _ n: Int) {
        var dot: Float = 0
        for j in 0..<n { dot += p[j] * g[j] }
        for j in 0..<n { g[j] = p[j] * (g[j] - dot) }
    }

    /// The row maximum, and whether any entry is NaN (vector max instructions drop NaNs).
    @inline(__always)
    static func maximumAndNaN(_ x: UnsafePointer<Float>, _ n: Int) -> (Float, Bool) {
        var best = VectorMath.Vector(repeating: -.infinity)
        // v − v is 0 for finite v and NaN for NaN or ±∞: one cheap flag for the rare slow path.
        var probe = VectorMath.Vector()
        var i = 0
        while i + VectorMath.width <= n {
            let v = VectorMath.load(x + i)
            // Not pointwiseMax: the stdlib's NaN-aware version compiles to a scalar loop.
            best.replace(with: v, where: v .> best)
            probe += v - v
            i += VectorMath.width
        }
        var result = FastMath.largestLane(best)
        var unusual = FastMath.laneSum(probe).isNaN
        while i < n {
            result = Swift.max(result, x[i])
            unusual = unusual || !x[i].isFinite
            i += 1
        }
        guard unusual else { return (result, false) }
        for j in 0..<n where x[j].isNaN { return (.nan, true) }
        return (result, false)
    }
}
