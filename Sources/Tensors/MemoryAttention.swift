/// Training attention of queries to a frozen memory (RegionSpot's cross-attention to the CLIP
/// token map) without projecting the memory. With K = M·W_kᵀ + b_k and V = M·W_vᵀ + b_v per
/// head, the same products are reassociated around the few queries instead of the many memory
/// rows (32 regions against 197–257 tokens per image):
///   scores = scale · (Q_h·W_k,h)·Mᵀ         (q·b_k is the same for every key: softmax drops it)
///   heads  = (weights·M)·W_v,hᵀ + rowsum(weights)·b_v,h
/// which needs about half the multiply-adds of projecting every memory row, forward and
/// backward (the memory gets no gradient). Queries [sequences·nq, inner], memory
/// [sequences·nk, width]; the key and value weights are rows of a packed [3·inner, width]
/// in-projection. Probabilities are [sequences, heads, nq, nk], as `MaterializedAttention`'s.
public enum MemoryAttention {
    /// What the backward needs.
    public struct Trace: Sendable {
        public let queries: Tensor, memory: Tensor
        /// Q_h·W_k,h and weights·M, per head: [heads, sequences·nq, width].
        let projectedQueries: Tensor, attendedMemory: Tensor
        public let probabilities: Tensor, weights: Tensor, dropoutMask: Tensor?
        let rowSums: Tensor  // [sequences, heads, nq]
        let sequences: Int, heads: Int, scale: Float
    }

    /// Sizes, and the packed weight's rows for keys (`keyRow`) and values (`valueRow`).
    struct Layout {
        let sequences: Int, heads: Int, nq: Int, nk: Int, inner: Int, width: Int, headDim: Int
        let keyRow: Int, valueRow: Int

        init(queries: Tensor, memory: Tensor, weight: Tensor, sequences: Int, heads: Int) {
            inner = queries.dim(-1)
            width = memory.dim(-1)
            precondition(queries.rank == 2 && memory.rank == 2 && heads > 0 && inner % heads == 0 && sequences > 0
                         && queries.dim(0) % sequences == 0 && memory.dim(0) % sequences == 0
                         && weight.shape == [3 * inner, width],
                         "memory attention: queries \(queries.shape), memory \(memory.shape), weight \(weight.shape), \(sequences) sequences, \(heads) heads")
            (self.sequences, self.heads) = (sequences, heads)
            (nq, nk, headDim) = (queries.dim(0) / sequences, memory.dim(0) / sequences, inner / heads)
            (keyRow, valueRow) = (inner, 2 * inner)
        }
        var rows: Int { sequences * nq }
    }

    /// The heads' outputs [sequences·nq, inner] (before out_proj) and the trace. `dropoutMask`
    /// (or nil) multiplies the probabilities; `weight`/`bias` are the packed in-projection's.
    public static func forward(queries: Tensor, memory: Tensor, weight: Tensor, bias: Tensor, sequences: Int, heads: Int,
                               scale: Float, dropoutMask: (Tensor) -> Tensor?) -> (heads: Tensor, trace: Trace) {
        let l = Layout(queries: queries, memory: memory, weight: weight, sequences: sequences, heads: heads)
        var projected = Tensor(shape: [heads, l.rows, l.width])
        queries.withUnsafeBufferPointer { q in
            weight.withUnsafeBufferPointer { w in
                projected.withUnsafeMutableBufferPointer { out in
                    for h in 0..<heads {  // Q_h·W_k,h: [rows, d]·[d, width]
                        GEMM.sgemm(m: l.rows, n: l.width, k: l.headDim, a: q.baseAddress! + h * l.headDim, lda: l.inner,
                                   b: w.baseAddress! + (l.keyRow + h * l.headDim) * l.width, ldb: l.width,
                                   c: out.baseAddress! + h * l.rows * l.width, ldc: l.width)
                    }
                }
            }
        }
        let probabilities = Tensor(shape: [sequences, heads, l.nq, l.nk]) { p in
            projected.withUnsafeBufferPointer { pq in
                memory.withUnsafeBufferPointer { m in
                    Parallel.forEach(sequences * heads) { item in
                        let (s, h) = (item / heads, item % heads)
                        let block = p.baseAddress! + item * l.nq * l.nk
                        GEMM.serial(m: l.nq, n: l.nk, k: l.width, a: pq.baseAddress! + (h * l.rows + s * l.nq) * l.width, lda: l.width,
                                    b: m.baseAddress! + s * l.nk * l.width, ldb: l.width, transB: true, c: block, ldc: l.nk, alpha: scale)
                        for i in 0..<l.nq { Softmax.row(block + i * l.nk, l.nk) }
                    }
                }
            }
        }
        let mask = dropoutMask(probabilities)
        let weights = mask.map { probabilities * $0 } ?? probabilities
        var rowSums = Tensor(shape: [sequences, heads, l.nq])
        var attended = Tensor(shape: [heads, l.rows, l.width])
        weights.withUnsafeBufferPointer { wt in
            memory.withUnsafeBufferPointer { m in
                attended.withUnsafeMutableBufferPointer { a in
                    rowSums.withUnsafeMutableBufferPointer { r in
                        Parallel.forEach(sequences * heads) { item in
                            let (s, h) = (item / heads, item % heads)
                            let block = wt.baseAddress! + item * l.nq * l.nk
                            GEMM.serial(m: l.nq, n: l.width, k: l.nk, a: block, lda: l.nk, b: m.baseAddress! + s * l.nk * l.width, ldb: l.width,
                                        c: a.baseAddress! + (h * l.rows + s * l.nq) * l.width, ldc: l.width)
                            for i in 0..<l.nq {
                                var sum: Float = 0
                                for j in 0..<l.nk { sum += block[i * l.nk + j] }
                                r[item * l.nq + i] = sum
                            }
                        }
                    }
                }
            }
        }
        let output = Tensor(shape: [l.rows, l.inner]) { out in
            attended.withUnsafeBufferPointer { a in
                weight.withUnsafeBufferPointer { w in
                    bias.withUnsafeBufferPointer { b in
                        rowSums.withUnsafeBufferPointer { r in
                            for h in 0..<heads {  // (weights·M)·W_v,hᵀ into head h's columns
                                GEMM.sgemm(m: l.rows, n: l.headDim, k: l.width, a: a.baseAddress! + h * l.rows * l.width, lda: l.width,
                                           b: w.baseAddress! + (l.valueRow + h * l.headDim) * l.width, ldb: l.width, transB: true,
                                           c: out.baseAddress! + h * l.headDim, ldc: l.inner)
                            }
                            for s in 0..<sequences {
                                for h in 0..<heads {
                                    for i in 0..<l.nq {
                                        let row = out.baseAddress! + (s * l.nq + i) * l.inner + h * l.headDim
                                        let sum = r[(s * heads + h) * l.nq + i], valueBias = b.baseAddress! + l.valueRow + h * l.headDim
                                        for c in 0..<l.headDim { row[c] += sum * valueBias[c] }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (output, Trace(queries: queries, memory: memory, projectedQueries: projected, attendedMemory: attended,
                              probabilities: probabilities, weights: weights, dropoutMask: mask, rowSums: rowSums,
                              sequences: sequences, heads: heads, scale: scale))
    }

    /// From the gradient of the heads' outputs [sequences·nq, inner]: returns that of the
    /// queries, and adds the key and value weights' gradients (and the value bias's) into the
    /// packed gradients `weightGradient` [3·inner, width] and `biasGradient` [3·inner]. The key
    /// bias's gradient is exactly zero and is left alone.
    public static func backward(_ dHeads: Tensor, trace t: Trace, weight: Tensor, bias: Tensor,
                                weightGradient: inout Tensor, biasGradient: inout Tensor) -> Tensor {
        let l = Layout(queries: t.queries, memory: t.memory, weight: weight, sequences: t.sequences, heads: t.heads)
        precondition(dHeads.shape == t.queries.shape, "memory attention backward: gradient \(dHeads.shape) for \(t.queries.shape)")
        var dAttended = Tensor(shape: [l.heads, l.rows, l.width])
        var dProjected = Tensor(shape: [l.heads, l.rows, l.width])
        var dQueries = Tensor(shape: t.queries.shape)
        dHeads.withUnsafeBufferPointer { dOut in
        weight.withUnsafeBufferPointer { w in
        weightGradient.withUnsafeMutableBufferPointer { dW in
        biasGradient.withUnsafeMutableBufferPointer { dB in
        t.attendedMemory.withUnsafeBufferPointer { a in
        t.rowSums.withUnsafeBufferPointer { r in
        dAttended.withUnsafeMutableBufferPointer { dA in
            let (dOut, w, dW, a) = (dOut.baseAddress!, w.baseAddress!, dW.baseAddress!, a.baseAddress!)
            for h in 0..<l.heads {
                let headOut = dOut + h * l.headDim
                // dW_v,h += dOut_hᵀ·(weights·M); d(weights·M) = dOut_h·W_v,h
                GEMM.sgemm(m: l.headDim, n: l.width, k: l.rows, a: headOut, lda: l.inner, transA: true,
                           b: a + h * l.rows * l.width, ldb: l.width, c: dW + (l.valueRow + h * l.headDim) * l.width, ldc: l.width, beta: 1)
                GEMM.sgemm(m: l.rows, n: l.width, k: l.headDim, a: headOut, lda: l.inner,
                           b: w + (l.valueRow + h * l.headDim) * l.width, ldb: l.width, c: dA.baseAddress! + h * l.rows * l.width, ldc: l.width)
                // db_v,h += Σ_rows rowsum · dOut_h
                for s in 0..<l.sequences {
                    for i in 0..<l.nq {
                        let sum = r[(s * l.heads + h) * l.nq + i], row = headOut + (s * l.nq + i) * l.inner
                        for c in 0..<l.headDim { dB[l.valueRow + h * l.headDim + c] += sum * row[c] }
                    }
                }
            }
        } } } } } } }
        dHeads.withUnsafeBufferPointer { dOut in
        bias.withUnsafeBufferPointer { b in
        dAttended.withUnsafeBufferPointer { dA in
        dProjected.withUnsafeMutableBufferPointer { dPQ in
        t.memory.withUnsafeBufferPointer { m in
        t.probabilities.withUnsafeBufferPointer { p in
            let mask = t.dropoutMask?.scalars
            let (dOut, b, dA, dPQ, m, p) = (dOut.baseAddress!, b.baseAddress!, dA.baseAddress!, dPQ.baseAddress!, m.baseAddress!, p.baseAddress!)
            Parallel.forEach(l.sequences * l.heads) { item in
                let (s, h) = (item / l.heads, item % l.heads)
                let block = item * l.nq * l.nk
                let memory = m + s * l.nk * l.width, offset = (h * l.rows + s * l.nq) * l.width
                withUnsafeTemporaryAllocation(of: Float.self, capacity: l.nq * l.nk) { scratch in
                    let ds = scratch.baseAddress!
                    // d weights = d(weights·M)·Mᵀ + dOut_h·b_v,h (the row sum's share), through the mask and the softmax.
                    GEMM.serial(m: l.nq, n: l.nk, k: l.width, a: dA + offset, lda: l.width, b: memory, ldb: l.width, transB: true, c: ds, ldc: l.nk)
                    for i in 0..<l.nq {
                        let row = dOut + (s * l.nq + i) * l.inner + h * l.headDim, valueBias = b + l.valueRow + h * l.headDim
                        var share: Float = 0
                        for c in 0..<l.headDim { share += row[c] * valueBias[c] }
                        for j in 0..<l.nk { ds[i * l.nk + j] += share }
                    }
                    if let mask { for i in 0..<(l.nq * l.nk) { ds[i] *= mask[block + i] } }
                    for i in 0..<l.nq { Softmax.backwardRow(p + block + i * l.nk, ds + i * l.nk, l.nk) }
                    // d(Q_h·W_k,h) = scale · dS·M
                    GEMM.serial(m: l.nq, n: l.width, k: l.nk, a: ds, lda: l.nk, b: memory, ldb: l.width, c: dPQ + offset, ldc: l.width, alpha: t.scale)
                }
            }
        } } } } } }
        t.queries.withUnsafeBufferPointer { q in
        weight.withUnsafeBufferPointer { w in
        weightGradient.withUnsafeMutableBufferPointer { dW in
        dProjected.withUnsafeBufferPointer { dPQ in
        dQueries.withUnsafeMutableBufferPointer { dQ in
            for h in 0..<l.heads {
                let keyRows = (l.keyRow + h * l.headDim) * l.width
                // dQ_h = d(Q_h·W_k,h)·W_k,hᵀ; dW_k,h += Q_hᵀ·d(Q_h·W_k,h)
                GEMM.sgemm(m: l.rows, n: l.headDim, k: l.width, a: dPQ.baseAddress! + h * l.rows * l.width, lda: l.width,
                           b: w.baseAddress! + keyRows, ldb: l.width, transB: true, c: dQ.baseAddress! + h * l.headDim, ldc: l.inner)
                GEMM.sgemm(m: l.headDim, n: l.width, k: l.rows, a: q.baseAddress! + h * l.headDim, lda: l.inner, transA: true,
                           b: dPQ.baseAddress! + h * l.rows * l.width, ldb: l.width, c: dW.baseAddress! + keyRows, ldc: l.width, beta: 1)
            }
        } } } } }
        return dQueries
    }
}
