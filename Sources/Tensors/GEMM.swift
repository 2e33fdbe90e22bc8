import COpenBLAS

/// Matrix products through OpenBLAS's sgemm, split over `Parallel.threadCount` workers.
///
/// All matrices are row-major with explicit leading dimensions, so callers can multiply
/// sub-blocks (a head's columns, a tile of keys) without copying.
public enum GEMM {
    /// Below this many multiply-adds a product runs on the calling thread.
    static let parallelThreshold = 1 << 18

    /// A multiple of the row tiles of OpenBLAS's x86 sgemm kernels (Haswell's and Zen's take
    /// rows 12 at a time, SkylakeX's 16). A partial tile is summed differently from a whole one,
    /// so rows in whole tiles get the same bits however many rows share the product, as long as
    /// its columns are cut the same way (see `columnSplitMinimumWidth`).
    public static let rowTileMultiple = 48

    /// Products at least this wide are split by columns whatever their row count: where the
    /// columns are cut changes their sums on OpenBLAS's Haswell kernel, so the cut must not
    /// depend on the rows. Narrower products split whichever side is longer. Measured at 2
    /// workers over 4096 rows, columns took 0.89-1.02x the time of rows for widths 768-3072.
    public static let columnSplitMinimumWidth = 512

    /// C[m×n] = alpha · op(A) · op(B) + beta · C, where op(A) is m×k and op(B) is k×n.
    /// `transA`: A is stored k×m; `transB`: B is stored n×k.
    public static func sgemm(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, transA: Bool = false,
        b: UnsafePointer<Float>, ldb: Int, transB: Bool = false,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        alpha: Float = 1, beta: Float = 0
    ) {
        guard m > 0, n > 0 else { return }
        BLASRuntime.ensureConfigured()
        if m * n * k < parallelThreshold || Parallel.threadCount == 1 {
            serial(m: m, n: n, k: k, a: a, lda: lda, transA: transA, b: b, ldb: ldb, transB: transB,
                   c: c, ldc: ldc, alpha: alpha, beta: beta)
        } else if m >= n && n < columnSplitMinimumWidth {
            // Split the rows of C (and of op(A)).
            Parallel.forEachChunk(m, minimumPerChunk: 16) { rows in
                let aStart = transA ? a + rows.lowerBound : a + rows.lowerBound * lda
                serial(m: rows.count, n: n, k: k, a: aStart, lda: lda, transA: transA, b: b, ldb: ldb,
                       transB: transB, c: c + rows.lowerBound * ldc, ldc: ldc, alpha: alpha, beta: beta)
            }
        } else {
            // Split the columns of C (and of op(B)).
            Parallel.forEachChunk(n, minimumPerChunk: 16) { cols in
                let bStart = transB ? b + cols.lowerBound * ldb : b + cols.lowerBound
                serial(m: m, n: cols.count, k: k, a: a, lda: lda, transA: transA, b: bStart, ldb: ldb,
                       transB: transB, c: c + cols.lowerBound, ldc: ldc, alpha: alpha, beta: beta)
            }
        }
    }

    /// One sgemm call on the calling thread (OpenBLAS runs single-threaded here).
    public static func serial(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, transA: Bool = false,
        b: UnsafePointer<Float>, ldb: Int, transB: Bool = false,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        alpha: Float = 1, beta: Float = 0
    ) {
        guard m > 0, n > 0 else { return }
        BLASRuntime.ensureConfigured()
        if k == 0 {
            // BLAS leaves C untouched when k == 0 only if beta == 1; make beta·C explicit.
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
                    beta, c, blasint(ldc))
    }

    /// `count` independent products with fixed strides between consecutive matrices.
    /// Many small products are spread over workers; few large ones are split internally.
    public static func batched(
        count: Int, m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, strideA: Int, transA: Bool = false,
        b: UnsafePointer<Float>, ldb: Int, strideB: Int, transB: Bool = false,
        c: UnsafeMutablePointer<Float>, ldc: Int, strideC: Int,
        alpha: Float = 1, beta: Float = 0
    ) {
        if count >= Parallel.threadCount {
            Parallel.forEach(count) { i in
                serial(m: m, n: n, k: k, a: a + i * strideA, lda: lda, transA: transA,
                       b: b + i * strideB, ldb: ldb, transB: transB,
                       c: c + i * strideC, ldc: ldc, alpha: alpha, beta: beta)
            }
        } else {
            for i in 0..<count {
                sgemm(m: m, n: n, k: k, a: a + i * strideA, lda: lda, transA: transA,
                      b: b + i * strideB, ldb: ldb, transB: transB,
                      c: c + i * strideC, ldc: ldc, alpha: alpha, beta: beta)
            }
        }
    }
}

extension Tensor {
    /// Matrix product of the last two dimensions; leading dimensions of `self` are batch
    /// dimensions, `other` is either 2-D (shared) or has the same batch dimensions.
    public func matmul(_ other: Tensor, transposeOther: Bool = false) -> Tensor {
        precondition(rank >= 2 && other.rank >= 2, "matmul needs rank ≥ 2, got \(shape) and \(other.shape)")
        let m = dim(-2), k = dim(-1)
        let otherK = transposeOther ? other.dim(-1) : other.dim(-2)
        let n = transposeOther ? other.dim(-2) : other.dim(-1)
        precondition(k == otherK, "matmul: inner dimensions differ, \(shape) × \(other.shape)\(transposeOther ? "ᵀ" : "")")
        let batch = count / max(1, m * k)
        let shared = other.rank == 2
        precondition(shared || other.count / max(1, k * n) == batch, "matmul: batch dimensions differ, \(shape) × \(other.shape)")
        let outShape = Array(shape.dropLast(2)) + [m, n]
        return Tensor(shape: outShape) { out in
            guard !out.isEmpty else { return }
            scalars.withUnsafeBufferPointer { a in
                other.scalars.withUnsafeBufferPointer { b in
                    let ldb = transposeOther ? k : n
                    if shared {
                        // A shared right-hand side: the batch folds into one tall product.
                        GEMM.sgemm(m: batch * m, n: n, k: k, a: a.baseAddress!, lda: k,
                                   b: b.baseAddress!, ldb: ldb, transB: transposeOther, c: out.baseAddress!, ldc: n)
                    } else {
                        GEMM.batched(count: batch, m: m, n: n, k: k,
                                     a: a.baseAddress!, lda: k, strideA: m * k,
                                     b: b.baseAddress!, ldb: ldb, strideB: k * n, transB: transposeOther,
                                     c: out.baseAddress!, ldc: n, strideC: m * n)
                    }
                }
            }
        }
    }
}
