import Tensors

/// Several images' regions in one matrix for the fusion head's row-wise layers, each image's rows
/// in a block padded with zero rows to a multiple of `alignment`.
///
/// Why padded: sgemm kernels work on tiles of rows, and a row's sums can depend on the tile it
/// falls in (see `GEMM.rowTileMultiple`). When every block starts and ends on a tile boundary,
/// no tile mixes images and none is partial, so an image gets the same numbers bit for bit,
/// alone or stacked with others.
struct RowBlocks {
    /// 1 (no padding) or `GEMM.rowTileMultiple`.
    let alignment: Int

    /// Each image's real rows.
    let counts: [Int]

    /// Each image's block, padding included.
    var blockSizes: [Int] { counts.map { ($0 + alignment - 1) / alignment * alignment } }

    /// [Σ blocks, D] from each image's rows [counts[i], D]; the padding rows are zeros.
    func pack(_ parts: [Tensor]) -> Tensor {
        precondition(parts.map { $0.dim(0) } == counts, "parts of \(parts.map { $0.dim(0) }) rows for blocks of \(counts)")
        let width = parts[0].dim(1)
        return Tensor.concatenate(zip(parts, blockSizes).flatMap { part, size in
            size == part.dim(0) ? [part] : [part, Tensor(shape: [size - part.dim(0), width])]
        })
    }

    /// Each image's real rows of a packed [Σ blocks, D].
    func unpack(_ x: Tensor) -> [Tensor] {
        var start = 0
        return zip(counts, blockSizes).map { count, size in
            defer { start += size }
            return x.slice(axis: 0, range: start..<start + count)
        }
    }
}
