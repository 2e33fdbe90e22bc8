/// Scaled dot-product attention that keeps its probabilities, for training: the forward writes
/// P = softmax(scale·QKᵀ) per sequence and head, the caller may drop some of them (attention
/// dropout), and the backward takes the gradient of the output to those of Q, K and V.
/// (Inference uses `Attention.compute`, whose online softmax never stores P.)
///
/// Queries [sequences·nq, inner], keys and values [sequences·nk, inner]: each sequence's rows
/// contiguous, head h in columns h·d..<(h+1)·d. Probabilities are [sequences, heads, nq, nk].
/// Work is split over (sequence, head) pairs, each one's products on one thread.
public enum MaterializedAttention {
    /// P, with keys whose `keyPadding` flag is set (per sequence and key, [sequences·nk]) at
    /// probability 0, as PyTorch's key_padding_mask does.
    public static func probabilities(queries: Tensor, keys: Tensor, sequences: Int, heads: Int, scale: Float,
                                     keyPadding: [Bool]? = nil) -> Tensor {
        let shape = Shape(queries: queries, keys: keys, sequences: sequences, heads: heads)
        if let keyPadding { precondition(keyPadding.count == sequences * shape.nk, "probabilities: padding for \(keyPadding.count) keys, not \(sequences * shape.nk)") }
        return Tensor(shape: [sequences, heads, shape.nq, shape.nk]) { p in
            queries.withUnsafeBufferPointer { q in
                keys.withUnsafeBufferPointer { k in
                    Parallel.forEach(sequences * heads) { item in
                        let (s, h) = (item / heads, item % heads)
                        let block = p.baseAddress! + item * shape.nq * shape.nk
                        GEMM.serial(m: shape.nq, n: shape.nk, k: shape.headDim, a: q.baseAddress! + shape.head(s, h, rows: shape.nq), lda: shape.inner,
                                    b: k.baseAddress! + shape.head(s, h, rows: shape.nk), ldb: shape.inner, transB: true,
                                    c: block, ldc: shape.nk, alpha: scale)
                        for i in 0..<shape.nq {
                            let row = block + i * shape.nk
                            if let keyPadding {
                                for j in 0..<shape.nk where keyPadding[s * shape.nk + j] { row[j] = -.infinity }
                            }
                            Softmax.row(row, shape.nk)
                        }
                    }
                }
            }
        }
    }

    /// Σ_j weights[s, h, i, j] · V[s, j, h] → [sequences·nq, inner].
    public static func weightedValues(_ weights: Tensor, values: Tensor, sequences: Int, heads: Int) -> Tensor {
        let (nq, nk, inner) = (weights.dim(2), weights.dim(3), values.dim(-1))
        precondition(weights.shape == [sequences, heads, nq, nk] && values.count == sequences * nk * inner,
                     "weightedValues: weights \(weights.shape), values \(values.shape)")
        let headDim = inner / heads
        return Tensor(shape: [sequences * nq, inner]) { out in
            weights.withUnsafeBufferPointer { w in
                values.withUnsafeBufferPointer { v in
                    Parallel.forEach(sequences * heads) { item in
                        let (s, h) = (item / heads, item % heads)
                        GEMM.serial(m: nq, n: headDim, k: nk, a: w.baseAddress! + item * nq * nk, lda: nk,
                                    b: v.baseAddress! + s * nk * inner + h * headDim, ldb: inner,
                                    c: out.baseAddress! + s * nq * inner + h * headDim, ldc: inner)
                    }
                }
            }
        }
    }

    /// The gradients of Q, K and V from that of the output [sequences·nq, inner]. `weights` are
    /// what multiplied V (P, or P times a dropout mask), `dropoutMask` that mask (nil: none),
    /// `probabilities` P itself.
    public static func backward(outputGradient: Tensor, queries: Tensor, keys: Tensor, values: Tensor,
                                probabilities: Tensor, weights: Tensor, dropoutMask: Tensor?, sequences: Int, heads: Int,
                                scale: Float) -> (queries: Tensor, keys: Tensor, values: Tensor) {
        let shape = Shape(queries: queries, keys: keys, sequences: sequences, heads: heads)
        let (nq, nk, d, inner) = (shape.nq, shape.nk, shape.headDim, shape.inner)
        precondition(outputGradient.shape == queries.shape && values.shape == keys.shape
                     && probabilities.shape == [sequences, heads, nq, nk] && weights.shape == probabilities.shape
                     && (dropoutMask == nil || dropoutMask!.shape == probabilities.shape),
                     "attention backward: shapes \(outputGradient.shape), \(values.shape), \(probabilities.shape), \(weights.shape)")
        var dq = Tensor(shape: queries.shape), dk = Tensor(shape: keys.shape), dv = Tensor(shape: values.shape)
        outputGradient.withUnsafeBufferPointer { dout in
        queries.withUnsafeBufferPointer { q in
        keys.withUnsafeBufferPointer { k in
        values.withUnsafeBufferPointer { v in
        probabilities.withUnsafeBufferPointer { p in
        weights.withUnsafeBufferPointer { w in
        dq.withUnsafeMutableBufferPointer { dqb in
        dk.withUnsafeMutableBufferPointer { dkb in
        dv.withUnsafeMutableBufferPointer { dvb in
            let mask = dropoutMask?.scalars
            let (dout, q, k, v, p, w) = (dout.baseAddress!, q.baseAddress!, k.baseAddress!, v.baseAddress!, p.baseAddress!, w.baseAddress!)
            let (dqp, dkp, dvp) = (dqb.baseAddress!, dkb.baseAddress!, dvb.baseAddress!)
            Parallel.forEach(sequences * heads) { item in
                let (s, h) = (item / heads, item % heads)
                let block = item * nq * nk
                let gradientOut = dout + shape.head(s, h, rows: nq)
                // dV = weightsᵀ · dOut
                GEMM.serial(m: nk, n: d, k: nq, a: w + block, lda: nk, transA: true, b: gradientOut, ldb: inner,
                            c: dvp + shape.head(s, h, rows: nk), ldc: inner)
                withUnsafeTemporaryAllocation(of: Float.self, capacity: nq * nk) { scratch in
                    let ds = scratch.baseAddress!
                    // d weights = dOut · Vᵀ, through the dropout mask, then through the softmax.
                    GEMM.serial(m: nq, n: nk, k: d, a: gradientOut, lda: inner, b: v + shape.head(s, h, rows: nk), ldb: inner,
                                transB: true, c: ds, ldc: nk)
                    if let mask { for i in 0..<(nq * nk) { ds[i] *= mask[block + i] } }
                    for i in 0..<nq { Softmax.backwardRow(p + block + i * nk, ds + i * nk, nk) }
                    // dQ = scale · dS · K, dK = scale · dSᵀ · Q
                    GEMM.serial(m: nq, n: d, k: nk, a: ds, lda: nk, b: k + shape.head(s, h, rows: nk), ldb: inner,
                                c: dqp + shape.head(s, h, rows: nq), ldc: inner, alpha: scale)
                    GEMM.serial(m: nk, n: d, k: nq, a: ds, lda: nk, transA: true, b: q + shape.head(s, h, rows: nq), ldb: inner,
                                c: dkp + shape.head(s, h, rows: nk), ldc: inner, alpha: scale)
                }
            }
        } } } } } } } } }
        return (dq, dk, dv)
    }

    /// Sizes shared by the forward and backward, and where a sequence's head starts.
    struct Shape {
        let nq: Int, nk: Int, inner: Int, headDim: Int

        init(queries: Tensor, keys: Tensor, sequences: Int, heads: Int) {
            inner = queries.dim(-1)
            precondition(queries.rank == 2 && keys.rank == 2 && keys.dim(-1) == inner && heads > 0 && inner % heads == 0
                         && sequences > 0 && queries.dim(0) % sequences == 0 && keys.dim(0) % sequences == 0,
                         "attention: queries \(queries.shape), keys \(keys.shape) do not split into \(sequences) sequences of \(heads) heads")
            (nq, nk, headDim) = (queries.dim(0) / sequences, keys.dim(0) / sequences, inner / heads)
        }

        /// Offset of sequence s's head h in a [sequences·rows, inner] tensor.
        @inline(__always)
        func head(_ s: Int, _ h: Int, rows: Int) -> Int { s * rows * inner + h * headDim }
    }
}
