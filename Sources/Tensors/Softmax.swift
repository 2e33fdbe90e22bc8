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

enum Softmax {
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

    /// The row maximum, and whether any entry is NaN (vector max instructions drop NaNs).
    @inline(__always)
    static func maximumAndNaN(_ x: UnsafePointer<Float>, _ n: Int) -> (Float, Bool) {
        var best = VectorMath.Vector(repeating: -.infinity)
        var nan = SIMDMask<VectorMath.Vector.MaskStorage>()
        var i = 0
        while i + VectorMath.width <= n {
            let v = VectorMath.load(x + i)
            best = pointwiseMax(best, v)
            nan .|= v .!= v
            i += VectorMath.width
        }
        var result = best.max(), hasNaN = any(nan)
        while i < n {
            result = Swift.max(result, x[i])
            hasNaN = hasNaN || x[i].isNaN
            i += 1
        }
        return (result, hasNaN)
    }
}
