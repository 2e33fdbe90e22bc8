extension Tensor {
    /// Mean over `axis` (negative counts from the end), which is removed from the shape
    /// (PyTorch `mean(dim=axis)`, keepdim=False).
    public func mean(axis: Int) -> Tensor {
        let axis = axis < 0 ? rank + axis : axis
        precondition(axis >= 0 && axis < rank, "mean: axis out of range for \(shape)")
        let outer = shape[..<axis].reduce(1, *), length = shape[axis], inner = shape[(axis + 1)...].reduce(1, *)
        var outShape = shape
        outShape.remove(at: axis)
        return Tensor(shape: outShape) { out in
            guard out.count > 0 else { return }
            scalars.withUnsafeBufferPointer { source in
                let x = source.baseAddress, y = out.baseAddress!
                let scale = 1 / Float(length)
                Parallel.forEachChunk(outer, minimumPerChunk: max(1, 16384 / max(1, length * inner))) { range in
                    for o in range {
                        let target = y + o * inner
                        if inner == 1 {
                            target[0] = length == 0 ? .nan : Normalization.sum(x! + o * length, length) * scale
                            continue
                        }
                        // Sum whole rows so the loop runs along contiguous memory.
                        target.update(repeating: 0, count: inner)
                        for k in 0..<length {
                            let row = x! + (o * length + k) * inner
                            for i in 0..<inner { target[i] += row[i] }
                        }
                        for i in 0..<inner { target[i] *= scale }
                    }
                }
            }
        }
    }

    /// Σ over every row of the last-dimension columns (a bias's gradient): [..., W] → [W]. Each
    /// column is summed down the rows in order, whatever the thread count.
    public func columnSums() -> Tensor {
        precondition(rank >= 1, "columnSums needs at least one dimension")
        let width = dim(-1), rows = width == 0 ? 0 : count / width
        return Tensor(shape: [width]) { out in
            guard width > 0 else { return }
            out.update(repeating: 0)
            scalars.withUnsafeBufferPointer { x in
                let (x, y) = (x.baseAddress!, out.baseAddress!)
                Parallel.forEachChunk(width, minimumPerChunk: max(16, 16384 / max(1, rows))) { columns in
                    for r in 0..<rows {
                        let row = x + r * width
                        for c in columns { y[c] += row[c] }
                    }
                }
            }
        }
    }

    /// Each last-dimension row divided by its Euclidean norm (`F.normalize(x, dim=-1)`:
    /// the norm is clamped below at 1e-12, so a zero row stays zero).
    /// - self: [..., N]. Returns the same shape.
    public func l2Normalized() -> Tensor {
        precondition(rank >= 1, "l2Normalized needs at least one dimension")
        let width = dim(-1)
        var result = self
        guard width > 0, count > 0 else { return result }
        result.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            Parallel.forEachChunk(count / width, minimumPerChunk: max(1, 16384 / width)) { rows in
                for row in rows {
                    let x = base + row * width
                    var squares = VectorMath.Vector(), i = 0
                    while i + VectorMath.width <= width {
                        let v = VectorMath.load(x + i)
                        squares += v * v
                        i += VectorMath.width
                    }
                    var tail: Float = 0
                    while i < width { tail += x[i] * x[i]; i += 1 }
                    FastMath.scale(x, count: width, by: 1 / max((FastMath.laneSum(squares) + tail).squareRoot(), 1e-12))
                }
            }
        }
        return result
    }

    /// Each last-dimension row times `scale / (‖row‖ + epsilon)`: RegionSpot's `get_logits`
    /// normalisation, x / (‖x‖ + 1e-7), which is not `l2Normalized`'s max(‖x‖, 1e-12).
    /// - self: [..., N]. Returns the same shape.
    public func scaledByInverseNorm(_ scale: Float, epsilon: Float) -> Tensor {
        precondition(rank >= 1, "scaledByInverseNorm needs at least one dimension")
        let width = dim(-1)
        var result = self
        guard width > 0, count > 0 else { return result }
        result.withUnsafeMutableBufferPointer { p in
            for r in 0..<(count / width) {
                let row = UnsafeMutableBufferPointer(rebasing: p[(r * width)..<((r + 1) * width)])
                var sum: Float = 0
                for v in row { sum += v * v }
                let inverse = scale / (sum.squareRoot() + epsilon)
                for j in row.indices { row[j] *= inverse }
            }
        }
        return result
    }

    /// The gradient through `scaledByInverseNorm(scale, epsilon:)` of self, given the gradient
    /// `upstream` of its output (same shape). Per row, with n = ‖x‖:
    /// dx = s/(n+ε)·dy − s·(x·dy)/(n·(n+ε)²)·x; a zero row, where the second term vanishes, passes s/ε·dy.
    public func scaledByInverseNormBackward(_ upstream: Tensor, scale: Float, epsilon: Float) -> Tensor {
        precondition(upstream.shape == shape, "scaledByInverseNormBackward: gradient \(upstream.shape) for input \(shape)")
        let width = dim(-1)
        guard width > 0, count > 0 else { return upstream }
        return Tensor(shape: shape) { out in
            scalars.withUnsafeBufferPointer { x in
                upstream.withUnsafeBufferPointer { dy in
                    Parallel.forEachChunk(count / width, minimumPerChunk: max(1, 16384 / width)) { rows in
                        for r in rows {
                            let (xr, dyr, dxr) = (x.baseAddress! + r * width, dy.baseAddress! + r * width, out.baseAddress! + r * width)
                            var squares: Float = 0, dot: Float = 0
                            for j in 0..<width {
                                squares += xr[j] * xr[j]
                                dot += xr[j] * dyr[j]
                            }
                            let norm = squares.squareRoot(), shifted = norm + epsilon
                            let direct = scale / shifted
                            let radial = norm > 0 ? scale * dot / (norm * shifted * shifted) : 0
                            for j in 0..<width { dxr[j] = direct * dyr[j] - radial * xr[j] }
                        }
                    }
                }
            }
        }
    }
}
