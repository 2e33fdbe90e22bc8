/// Copies that rearrange elements: permutation, transpose, slicing and concatenation.
extension Tensor {
    /// PyTorch `permute(axes).contiguous()`: output dimension i is input dimension axes[i].
    public func permuted(_ axes: [Int]) -> Tensor {
        precondition(axes.sorted() == Array(0..<rank), "permuted: \(axes) is not a permutation of the \(rank) axes of \(shape)")
        let outShape = axes.map { shape[$0] }
        let plan = Permutation(shape: shape, axes: axes)
        return Tensor(shape: outShape) { out in
            guard count > 0 else { return }
            scalars.withUnsafeBufferPointer { source in
                plan.copy(from: source.baseAddress!, to: out.baseAddress!)
            }
        }
    }

    /// Swaps the last two dimensions: [..., M, N] → [..., N, M].
    public func transposed() -> Tensor {
        precondition(rank >= 2, "transposed needs at least two dimensions, got \(shape)")
        return permuted(Array(0..<(rank - 2)) + [rank - 1, rank - 2])
    }

    /// Elements `range` along `axis` (negative axes count from the end); other dimensions kept.
    public func slice(axis: Int, range: Range<Int>) -> Tensor {
        let axis = axis < 0 ? rank + axis : axis
        precondition(axis >= 0 && axis < rank, "slice: axis out of range for \(shape)")
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[axis],
                     "slice: range \(range) outside 0..<\(shape[axis]) on axis \(axis) of \(shape)")
        let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
        var outShape = shape
        outShape[axis] = range.count
        return Tensor(shape: outShape) { out in
            guard out.count > 0 else { return }
            scalars.withUnsafeBufferPointer { source in
                let block = range.count * inner
                for o in 0..<outer {
                    (out.baseAddress! + o * block).update(
                        from: source.baseAddress! + (o * shape[axis] + range.lowerBound) * inner, count: block)
                }
            }
        }
    }

    /// Concatenation along `axis`; every other dimension must agree (`torch.cat`).
    public static func concatenate(_ parts: [Tensor], axis: Int) -> Tensor {
        precondition(!parts.isEmpty, "concatenate needs at least one tensor")
        let rank = parts[0].rank
        let axis = axis < 0 ? rank + axis : axis
        precondition(axis >= 0 && axis < rank, "concatenate: axis out of range for \(parts[0].shape)")
        for part in parts {
            var a = part.shape, b = parts[0].shape
            precondition(a.count == rank, "concatenate: ranks differ, \(part.shape) and \(parts[0].shape)")
            a[axis] = 0; b[axis] = 0
            precondition(a == b, "concatenate along \(axis): shapes \(part.shape) and \(parts[0].shape) differ off that axis")
        }
        let outer = parts[0].shape[..<axis].reduce(1, *), inner = parts[0].shape[(axis + 1)...].reduce(1, *)
        var outShape = parts[0].shape
        outShape[axis] = parts.reduce(0) { $0 + $1.shape[axis] }
        let rowSize = outShape[axis] * inner
        return Tensor(shape: outShape) { out in
            var offset = 0
            for part in parts {
                let block = part.shape[axis] * inner
                part.scalars.withUnsafeBufferPointer { source in
                    for o in 0..<outer where block > 0 {
                        (out.baseAddress! + o * rowSize + offset).update(from: source.baseAddress! + o * block, count: block)
                    }
                }
                offset += block
            }
        }
    }
}

/// A permutation copy reduced to its essentials: adjacent axes that stay adjacent are
/// merged, so most model permutes become a batched 2-D transpose or a copy of long rows.
struct Permutation {
    /// Output extents and the matching input strides, outermost first, after merging.
    let extents: [Int]
    let strides: [Int]

    init(shape: [Int], axes: [Int]) {
        var inputStrides = [Int](repeating: 1, count: shape.count)
        for i in stride(from: shape.count - 2, through: 0, by: -1) { inputStrides[i] = inputStrides[i + 1] * shape[i + 1] }
        var extents: [Int] = [], strides: [Int] = []
        for axis in axes where shape[axis] != 1 {
            // Merge with the previous output axis when it is the next-outer input axis.
            if let last = strides.last, last == inputStrides[axis] * shape[axis] {
                extents[extents.count - 1] *= shape[axis]
                strides[strides.count - 1] = inputStrides[axis]
            } else {
                extents.append(shape[axis])
                strides.append(inputStrides[axis])
            }
        }
        self.extents = extents.isEmpty ? [1] : extents
        self.strides = strides.isEmpty ? [1] : strides
    }

    func copy(from source: UnsafePointer<Float>, to target: UnsafeMutablePointer<Float>) {
        let n = extents.count
        let total = extents.reduce(1, *)
        if strides[n - 1] == 1 {
            // Rows of the innermost extent are contiguous in the input: copy them whole.
            let width = extents[n - 1]
            Parallel.forEachChunk(total / width, minimumPerChunk: max(1, 16384 / width)) { rows in
                for row in rows {
                    (target + row * width).update(from: source + offset(ofRow: row, dropping: 1), count: width)
                }
            }
            return
        }
        if n >= 2 && strides[n - 2] == 1 {
            // A batch of 2-D transposes: out[i, j] = in[j, i], done in cache-sized tiles.
            let rows = extents[n - 2], columns = extents[n - 1], inputRowStride = strides[n - 1]
            let matrices = total / (rows * columns)
            let tile = 32
            let tilesDown = (rows + tile - 1) / tile
            Parallel.forEachChunk(matrices * tilesDown, minimumPerChunk: max(1, 16384 / (tile * columns))) { items in
                for item in items {
                    let matrix = item / tilesDown, top = (item % tilesDown) * tile
                    let from = source + offset(ofRow: matrix, dropping: 2), to = target + matrix * rows * columns
                    let bottom = min(rows, top + tile)
                    var left = 0
                    while left < columns {
                        let right = min(columns, left + tile)
                        for i in top..<bottom {
                            for j in left..<right { to[i * columns + j] = from[j * inputRowStride + i] }
                        }
                        left = right
                    }
                }
            }
            return
        }
        // General case: strided inner loop.
        let width = extents[n - 1], step = strides[n - 1]
        Parallel.forEachChunk(total / width, minimumPerChunk: max(1, 16384 / width)) { rows in
            for row in rows {
                let from = source + offset(ofRow: row, dropping: 1), to = target + row * width
                for j in 0..<width { to[j] = from[j * step] }
            }
        }
    }

    /// Input offset of output "row" `row`, where rows index all but the last `dropping` extents.
    @inline(__always)
    private func offset(ofRow row: Int, dropping: Int) -> Int {
        var remaining = row, result = 0
        for axis in stride(from: extents.count - 1 - dropping, through: 0, by: -1) {
            result += (remaining % extents[axis]) * strides[axis]
            remaining /= extents[axis]
        }
        return result
    }
}
