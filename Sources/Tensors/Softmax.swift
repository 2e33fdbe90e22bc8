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
        var result = best.max()
        var unusual = probe.sum().isNaN
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
