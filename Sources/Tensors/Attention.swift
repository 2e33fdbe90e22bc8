import Foundation

/// An additive term on attention scores before the softmax (relative positions, masks).
///
/// Attention never materialises the full [queries × keys] score matrix for long sequences,
/// so a bias is asked for one tile at a time. A bias computed from the queries themselves
/// (relative positions) prepares per-query state once per block of queries, in the worker's
/// cache, instead of for every tile or for the whole sequence up front.
public protocol AttentionBias: Sendable {
    /// Floats of per-query state that `prepare` writes; 0 (the default) for biases that need none.
    var preparedRowSize: Int { get }

    /// Writes the state of `queries` of one sequence and head to `rows`, `preparedRowSize`
    /// floats per query. Attention calls it once per block of queries, before the block's adds.
    func prepare(sequence: Int, head: Int, queries: Range<Int>, into rows: UnsafeMutablePointer<Float>)

    /// Adds bias[head, q, k] for q in `queries`, k in `keys` into `tile`, whose row i holds
    /// query `queries.lowerBound + i` and column j key `keys.lowerBound + j`. Query and key
    /// indices count within `sequence`, the sequence's index in a batched call. `prepared`
    /// holds the prepared state of query `queries.lowerBound`, then of the following ones.
    func add(sequence: Int, head: Int, queries: Range<Int>, keys: Range<Int>, prepared: UnsafePointer<Float>,
             to tile: UnsafeMutablePointer<Float>, rowStride: Int)

    /// Like `add` into a tile whose contents are undefined: writes the bias itself, so that
    /// scores can then accumulate onto it. Columns from `keys.count` to `rowStride` of each row
    /// may be overwritten. The default zeroes the rows and adds.
    func write(sequence: Int, head: Int, queries: Range<Int>, keys: Range<Int>, prepared: UnsafePointer<Float>,
               to tile: UnsafeMutablePointer<Float>, rowStride: Int)
}

extension AttentionBias {
    public var preparedRowSize: Int { 0 }
    public func prepare(sequence: Int, head: Int, queries: Range<Int>, into rows: UnsafeMutablePointer<Float>) {}

    public func write(sequence: Int, head: Int, queries: Range<Int>, keys: Range<Int>, prepared: UnsafePointer<Float>,
                      to tile: UnsafeMutablePointer<Float>, rowStride: Int) {
        for row in 0..<queries.count { (tile + row * rowStride).update(repeating: 0, count: keys.count) }
        add(sequence: sequence, head: head, queries: queries, keys: keys, prepared: prepared, to: tile, rowStride: rowStride)
    }
}

/// The causal mask of a text transformer: query i sees keys 0...i.
public struct CausalMask: AttentionBias {
    public init() {}

    public func add(sequence: Int, head: Int, queries: Range<Int>, keys: Range<Int>, prepared: UnsafePointer<Float>,
                    to tile: UnsafeMutablePointer<Float>, rowStride: Int) {
        for (row, query) in queries.enumerated() where query + 1 < keys.upperBound {
            let firstMasked = max(query + 1, keys.lowerBound)
            let rowPointer = tile + row * rowStride
            for key in firstMasked..<keys.upperBound { rowPointer[key - keys.lowerBound] = -.infinity }
        }
    }
}

/// A bias given in full: [heads, Nq, Nk], or [1, Nq, Nk] shared by every head.
public struct DenseAttentionBias: AttentionBias {
    public let bias: Tensor

    public init(_ bias: Tensor) {
        precondition(bias.rank == 3, "DenseAttentionBias needs [heads or 1, Nq, Nk], got \(bias.shape)")
        self.bias = bias
    }

    public func add(sequence: Int, head: Int, queries: Range<Int>, keys: Range<Int>, prepared: UnsafePointer<Float>,
                    to tile: UnsafeMutablePointer<Float>, rowStride: Int) {
        let queryCount = bias.shape[1], keyCount = bias.shape[2]
        let headOffset = (bias.shape[0] == 1 ? 0 : head) * queryCount * keyCount
        bias.withUnsafeBufferPointer { values in
            for (row, query) in queries.enumerated() {
                let source = values.baseAddress! + headOffset + query * keyCount + keys.lowerBound
                FastMath.add(source, plus: 0, to: tile + row * rowStride, count: keys.count)
            }
        }
    }
}

/// Scaled dot-product multi-head attention, tiled with an online softmax.
///
/// Per head and block of queries, scores against a block of keys are one GEMM; a running row
/// maximum and sum rescale the output accumulator as later key blocks arrive (FlashAttention's
/// recurrence), so memory is O(tile) per worker whatever the sequence length. Short key ranges
/// take a single pass. Work is spread over (head, query block) pairs.
public enum Attention {
    /// Queries per tile and keys per tile: a 64×1024 score tile is 256 KiB, cache-resident.
    public static let queryTile = 256
    public static let keyTile = 1024

    /// Multi-head attention on PyTorch's layout after the in-projection: heads are contiguous
    /// column blocks. queries [Nq, H·d] or [B, Nq, H·d]; keys [Nk, H·d] (or [B, Nk, H·d]);
    /// values [Nk, H·dv] → [Nq, H·dv] (or [B, Nq, H·dv]). `scale` defaults to 1/√d.
    public static func multiHead(
        queries: Tensor, keys: Tensor, values: Tensor, heads: Int,
        scale: Float? = nil, bias: (any AttentionBias)? = nil
    ) -> Tensor {
        let batched = queries.rank == 3
        precondition(queries.rank == keys.rank && keys.rank == values.rank && (queries.rank == 2 || batched),
                     "attention: ranks differ or are not 2/3: \(queries.shape), \(keys.shape), \(values.shape)")
        let batch = batched ? queries.shape[0] : 1
        let queryCount = queries.dim(-2), keyCount = keys.dim(-2)
        let width = queries.dim(-1), valueWidth = values.dim(-1)
        precondition(keys.dim(-1) == width && values.dim(-2) == keyCount && (!batched || keys.shape[0] == batch && values.shape[0] == batch),
                     "attention: shapes do not agree: \(queries.shape), \(keys.shape), \(values.shape)")
        precondition(width % heads == 0 && valueWidth % heads == 0, "attention: widths \(width), \(valueWidth) not divisible by \(heads) heads")
        let headDim = width / heads
        let outShape = batched ? [batch, queryCount, valueWidth] : [queryCount, valueWidth]
        return Tensor(shape: outShape) { out in
            guard !out.isEmpty else { return }
            queries.withUnsafeBufferPointer { q in
                keys.withUnsafeBufferPointer { k in
                    values.withUnsafeBufferPointer { v in
                        compute(
                            queries: q.baseAddress!, queryStride: width, keys: k.baseAddress!, keyStride: width,
                            values: v.baseAddress!, valueStride: valueWidth, output: out.baseAddress!, outputStride: valueWidth,
                            queryCount: queryCount, keyCount: keyCount, heads: heads,
                            headDim: headDim, valueDim: valueWidth / heads,
                            scale: scale ?? 1 / Float(headDim).squareRoot(), bias: bias, sequences: batch)
                    }
                }
            }
        }
    }

    /// Pointer-level attention. Row r of head h's queries is `queries[r·queryStride + h·headDim ..< +headDim]`
    /// (likewise keys and values), so q, k and v can be column slices of one fused qkv buffer.
    /// Writes output[r·outputStride + h·valueDim ..< +valueDim].
    ///
    /// `sequences` independent attentions (windows, prompts) lie one after another: sequence s
    /// owns query and output rows s·queryCount…, key and value rows s·keyCount…. One call spreads
    /// all of them over the workers.
    public static func compute(
        queries: UnsafePointer<Float>, queryStride: Int,
        keys: UnsafePointer<Float>, keyStride: Int,
        values: UnsafePointer<Float>, valueStride: Int,
        output: UnsafeMutablePointer<Float>, outputStride: Int,
        queryCount: Int, keyCount: Int, heads: Int, headDim: Int, valueDim: Int,
        scale: Float, bias: (any AttentionBias)?, sequences: Int = 1
    ) {
        guard queryCount > 0, heads > 0, sequences > 0 else { return }
        if usesRegisterTiles(queryCount: queryCount, keyCount: keyCount, valueDim: valueDim) {
            computeRegisterTiled(
                queries: queries, queryStride: queryStride, keys: keys, keyStride: keyStride,
                values: values, valueStride: valueStride, output: output, outputStride: outputStride,
                queryCount: queryCount, keyCount: keyCount, heads: heads, headDim: headDim, valueDim: valueDim,
                scale: scale, bias: bias, sequences: sequences)
            return
        }
        let queryBlocks = (queryCount + queryTile - 1) / queryTile
        let keyBlock = min(keyCount, keyTile)
        Parallel.forEach(sequences * heads * queryBlocks) { item in
            let sequence = item / (heads * queryBlocks)
            let head = (item / queryBlocks) % heads
            let firstQuery = (item % queryBlocks) * queryTile
            let queries = queries + sequence * queryCount * queryStride, output = output + sequence * queryCount * outputStride
            let keys = keys + sequence * keyCount * keyStride, values = values + sequence * keyCount * valueStride
            let rows = min(queryTile, queryCount - firstQuery)
            // Per-task scratch: scores, accumulator, running max and sum.
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: rows * max(1, keyBlock))
            let accumulator = UnsafeMutablePointer<Float>.allocate(capacity: rows * valueDim)
            let rowMax = UnsafeMutablePointer<Float>.allocate(capacity: rows)
            let rowSum = UnsafeMutablePointer<Float>.allocate(capacity: rows)
            let prepared = UnsafeMutablePointer<Float>.allocate(capacity: rows * (bias?.preparedRowSize ?? 0))
            defer {
                scores.deallocate(); accumulator.deallocate(); rowMax.deallocate(); rowSum.deallocate(); prepared.deallocate()
            }
            bias?.prepare(sequence: sequence, head: head, queries: firstQuery..<(firstQuery + rows), into: prepared)
            accumulator.initialize(repeating: 0, count: rows * valueDim)
            rowMax.initialize(repeating: -.infinity, count: rows)
            rowSum.initialize(repeating: 0, count: rows)

            let queryBase = queries + firstQuery * queryStride + head * headDim
            var firstKey = 0
            while firstKey < keyCount {
                let columns = min(keyBlock, keyCount - firstKey)
                // scores = scale · Q_block · K_blockᵀ (+ bias)
                GEMM.serial(m: rows, n: columns, k: headDim,
                            a: queryBase, lda: queryStride,
                            b: keys + firstKey * keyStride + head * headDim, ldb: keyStride, transB: true,
                            c: scores, ldc: columns, alpha: scale)
                bias?.add(sequence: sequence, head: head, queries: firstQuery..<(firstQuery + rows),
                          keys: firstKey..<(firstKey + columns), prepared: prepared, to: scores, rowStride: columns)
                onlineSoftmaxStep(scores: scores, rowStride: columns, rows: rows, columns: columns,
                                  rowMax: rowMax, rowSum: rowSum, accumulator: accumulator, valueDim: valueDim,
                                  rescale: firstKey > 0)
                // accumulator += P · V_block
                GEMM.serial(m: rows, n: valueDim, k: columns,
                            a: scores, lda: columns,
                            b: values + firstKey * valueStride + head * valueDim, ldb: valueStride,
                            c: accumulator, ldc: valueDim, beta: firstKey == 0 ? 0 : 1)
                firstKey += columns
            }
            writeNormalized(accumulator: accumulator, rowSum: rowSum, rows: rows, valueDim: valueDim,
                            to: output + firstQuery * outputStride + head * valueDim, outputStride: outputStride)
        }
    }

    /// One key block of the online softmax: turns each row of scores into e^(score − running max),
    /// and where the maximum rose, rescales the row's accumulated output and sum by
    /// e^(old max − new max) (`rescale` is false for the first block, whose accumulator is empty).
    static func onlineSoftmaxStep(
        scores: UnsafeMutablePointer<Float>, rowStride: Int, rows: Int, columns: Int,
        rowMax: UnsafeMutablePointer<Float>, rowSum: UnsafeMutablePointer<Float>,
        accumulator: UnsafeMutablePointer<Float>, valueDim: Int, rescale: Bool
    ) {
        for row in 0..<rows {
            let rowScores = scores + row * rowStride
            let newMax = max(rowMax[row], FastMath.maximum(rowScores, count: columns))
            if newMax == -.infinity {
                // Every key so far is masked for this row: contributes nothing yet. Unless the
                // maximum skipped NaNs: then the row's output is NaN, as in PyTorch.
                let poisoned = (0..<columns).contains { rowScores[$0].isNaN }
                rowScores.update(repeating: poisoned ? .nan : 0, count: columns)
                if poisoned { rowSum[row] = .nan }
                continue
            }
            let correction = rowMax[row] == -.infinity ? 0 : Foundation.exp(rowMax[row] - newMax)
            let blockSum = FastMath.expSubtractingInPlace(rowScores, count: columns, shift: newMax)
            if rescale && correction != 1 {
                FastMath.scale(accumulator + row * valueDim, count: valueDim, by: correction)
            }
            rowSum[row] = rowSum[row] * correction + blockSum
            rowMax[row] = newMax
        }
    }

    /// output row r = accumulator row r / rowSum[r]. A row with every key masked has no
    /// defined softmax; it yields zeros.
    static func writeNormalized(
        accumulator: UnsafePointer<Float>, rowSum: UnsafePointer<Float>, rows: Int, valueDim: Int,
        to output: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        for row in 0..<rows {
            let inverse: Float = rowSum[row] > 0 ? 1 / rowSum[row] : 0
            let target = output + row * outputStride, source = accumulator + row * valueDim
            for j in 0..<valueDim { target[j] = source[j] * inverse }
        }
    }

    /// The textbook computation with the full score matrix in Double: the reference that
    /// tests hold `multiHead` to. Same layouts and arguments as `multiHead`.
    public static func naive(
        queries: Tensor, keys: Tensor, values: Tensor, heads: Int,
        scale: Float? = nil, bias: (any AttentionBias)? = nil
    ) -> Tensor {
        let queryCount = queries.dim(-2), keyCount = keys.dim(-2)
        let width = queries.dim(-1), valueWidth = values.dim(-1)
        let headDim = width / heads, valueDim = valueWidth / heads
        let batch = queries.rank == 3 ? queries.shape[0] : 1
        let factor = Double(scale ?? 1 / Float(headDim).squareRoot())
        var out = [Float](repeating: 0, count: batch * queryCount * valueWidth)
        var biasTile = [Float](repeating: 0, count: queryCount * keyCount)
        for b in 0..<batch {
            for h in 0..<heads {
                for i in biasTile.indices { biasTile[i] = 0 }
                var prepared = [Float](repeating: 0, count: max(1, queryCount * (bias?.preparedRowSize ?? 0)))
                prepared.withUnsafeMutableBufferPointer { state in
                    bias?.prepare(sequence: b, head: h, queries: 0..<queryCount, into: state.baseAddress!)
                    biasTile.withUnsafeMutableBufferPointer {
                        bias?.add(sequence: b, head: h, queries: 0..<queryCount, keys: 0..<keyCount, prepared: state.baseAddress!,
                                  to: $0.baseAddress!, rowStride: keyCount)
                    }
                }
                for i in 0..<queryCount {
                    var logits = [Double](repeating: 0, count: keyCount)
                    for j in 0..<keyCount {
                        var dot = 0.0
                        for c in 0..<headDim {
                            dot += Double(queries.scalars[(b * queryCount + i) * width + h * headDim + c])
                                * Double(keys.scalars[(b * keyCount + j) * width + h * headDim + c])
                        }
                        logits[j] = dot * factor + Double(biasTile[i * keyCount + j])
                    }
                    let top = logits.max() ?? 0
                    guard top > -.infinity else { continue }
                    let weights = logits.map { Foundation.exp($0 - top) }
                    let total = weights.reduce(0, +)
                    for c in 0..<valueDim {
                        var acc = 0.0
                        for j in 0..<keyCount {
                            acc += weights[j] * Double(values.scalars[(b * keyCount + j) * valueWidth + h * valueDim + c])
                        }
                        out[(b * queryCount + i) * valueWidth + h * valueDim + c] = Float(acc / total)
                    }
                }
            }
        }
        return Tensor(shape: Array(queries.shape.dropLast()) + [valueWidth], scalars: out)
    }
}
