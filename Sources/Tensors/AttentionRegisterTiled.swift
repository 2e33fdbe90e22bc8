import COpenBLAS

extension Attention {
    /// Queries per task of the register-tiled path (a multiple of `RegisterTile.rows`).
    static let registerTiledQueryBlock = 96
    /// Keys per block: the block's transposed keys and values (2 × 128 KiB at 64 dims) stay in L2
    /// while every strip of queries passes, and a strip's 6 × 512 scores (12 KiB) in L1.
    static let registerTiledKeyBlock = 512

    /// Whether `compute` takes the register-tiled path: value heads must be whole vectors, and
    /// the shapes large enough that padding rows to 6 and keys to 16 costs little.
    static func usesRegisterTiles(queryCount: Int, keyCount: Int, valueDim: Int) -> Bool {
        valueDim % RegisterTile.narrowColumns == 0 && queryCount >= 4 * RegisterTile.rows && keyCount >= 32
    }

    /// `compute` with both products on `RegisterTile`. Keys are first transposed per head
    /// ([d, keys], zero columns up to a multiple of 16) so that a key block is a run of vectors;
    /// each task then takes one sequence, head and block of queries (scaled and zero-padded to
    /// whole tiles) through every key block with the same online softmax as the BLAS path.
    static func computeRegisterTiled(
        queries: UnsafePointer<Float>, queryStride: Int,
        keys: UnsafePointer<Float>, keyStride: Int,
        values: UnsafePointer<Float>, valueStride: Int,
        output: UnsafeMutablePointer<Float>, outputStride: Int,
        queryCount: Int, keyCount: Int, heads: Int, headDim: Int, valueDim: Int,
        scale: Float, bias: (any AttentionBias)?, sequences: Int
    ) {
        let lanes = RegisterTile.narrowColumns
        let paddedKeys = RegisterTile.paddedColumns(keyCount)
        let transposedKeys = UnsafeMutablePointer<Float>.allocate(capacity: sequences * heads * headDim * paddedKeys)
        defer { transposedKeys.deallocate() }
        Parallel.forEach(sequences * heads) { item in
            let (sequence, head) = (item / heads, item % heads)
            let source = keys + sequence * keyCount * keyStride + head * headDim
            let target = transposedKeys + item * headDim * paddedKeys
            cblas_somatcopy(CblasRowMajor, CblasTrans, Int32(keyCount), Int32(headDim), 1, source, Int32(keyStride),
                            target, Int32(paddedKeys))
            for channel in 0..<headDim {
                (target + channel * paddedKeys + keyCount).update(repeating: 0, count: paddedKeys - keyCount)
            }
        }

        let queryBlock = registerTiledQueryBlock
        let keyBlock = min(registerTiledKeyBlock, paddedKeys)
        // A vector of room past each row of scores, for biases that write whole vectors.
        let scoreStride = keyBlock + lanes
        let queryBlocks = (queryCount + queryBlock - 1) / queryBlock
        Parallel.forEach(sequences * heads * queryBlocks) { item in
            let sequence = item / (heads * queryBlocks)
            let head = (item / queryBlocks) % heads
            let firstQuery = (item % queryBlocks) * queryBlock
            let rows = min(queryBlock, queryCount - firstQuery)
            let tiles = (rows + RegisterTile.rows - 1) / RegisterTile.rows
            let paddedRows = tiles * RegisterTile.rows
            let keysT = UnsafePointer(transposedKeys + (sequence * heads + head) * headDim * paddedKeys)
            let values = values + sequence * keyCount * valueStride + head * valueDim

            // Per-task scratch: scaled queries, scores, output accumulator, running max and sum.
            let scaledQueries = UnsafeMutablePointer<Float>.allocate(capacity: paddedRows * headDim)
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: RegisterTile.rows * scoreStride)
            let accumulator = UnsafeMutablePointer<Float>.allocate(capacity: paddedRows * valueDim)
            let rowMax = UnsafeMutablePointer<Float>.allocate(capacity: rows)
            let rowSum = UnsafeMutablePointer<Float>.allocate(capacity: rows)
            let preparedRowSize = bias?.preparedRowSize ?? 0
            let prepared = UnsafeMutablePointer<Float>.allocate(capacity: rows * preparedRowSize)
            defer {
                scaledQueries.deallocate(); scores.deallocate(); accumulator.deallocate(); rowMax.deallocate(); rowSum.deallocate()
                prepared.deallocate()
            }
            bias?.prepare(sequence: sequence, head: head, queries: firstQuery..<(firstQuery + rows), into: prepared)
            // q·scale, as the references scale q before the product; padding rows are zero.
            scaledQueries.initialize(repeating: 0, count: paddedRows * headDim)
            let querySource = queries + (sequence * queryCount + firstQuery) * queryStride + head * headDim
            for row in 0..<rows {
                for channel in 0..<headDim {
                    scaledQueries[row * headDim + channel] = querySource[row * queryStride + channel] * scale
                }
            }
            accumulator.initialize(repeating: 0, count: paddedRows * valueDim)
            rowMax.initialize(repeating: -.infinity, count: rows)
            rowSum.initialize(repeating: 0, count: rows)

            var firstKey = 0
            while firstKey < keyCount {
                let columns = min(keyBlock, keyCount - firstKey)
                let paddedColumns = RegisterTile.paddedColumns(columns)
                // One strip of 6 queries at a time from scores to output, so that the strip's scores
                // stay in L1 while the key block's K and V stay in L2 for all strips.
                for tile in 0..<tiles {
                    let firstRow = tile * RegisterTile.rows, stripRows = min(RegisterTile.rows, rows - firstRow)
                    // scores = bias (or 0) + q·scale · K_blockᵀ
                    if let bias {
                        bias.write(sequence: sequence, head: head, queries: (firstQuery + firstRow)..<(firstQuery + firstRow + stripRows),
                                   keys: firstKey..<(firstKey + columns), prepared: prepared + firstRow * preparedRowSize,
                                   to: scores, rowStride: scoreStride)
                        // Padding rows start from zero (padding columns become −∞ below).
                        (scores + stripRows * scoreStride).update(repeating: 0, count: (RegisterTile.rows - stripRows) * scoreStride)
                    } else {
                        scores.update(repeating: 0, count: RegisterTile.rows * scoreStride)
                    }
                    RegisterTile.multiplyAdd(
                        a: scaledQueries + firstRow * headDim, aRowStride: headDim,
                        b: keysT + firstKey, bRowStride: paddedKeys,
                        c: scores, cRowStride: scoreStride, depth: headDim, columns: paddedColumns)
                    // Padding keys get −∞, so that the softmax runs over whole vectors and gives them 0.
                    for row in 0..<stripRows {
                        (scores + row * scoreStride + columns).update(repeating: -.infinity, count: paddedColumns - columns)
                    }
                    onlineSoftmaxStep(scores: scores, rowStride: scoreStride, rows: stripRows, columns: paddedColumns,
                                      rowMax: rowMax + firstRow, rowSum: rowSum + firstRow,
                                      accumulator: accumulator + firstRow * valueDim, valueDim: valueDim, rescale: firstKey > 0)
                    // accumulator += P · V_block (padding rows of P are zero)
                    RegisterTile.multiplyAdd(
                        a: scores, aRowStride: scoreStride,
                        b: values + firstKey * valueStride, bRowStride: valueStride,
                        c: accumulator + firstRow * valueDim, cRowStride: valueDim, depth: columns, columns: valueDim)
                }
                firstKey += columns
            }
            writeNormalized(accumulator: accumulator, rowSum: rowSum, rows: rows, valueDim: valueDim,
                            to: output + (sequence * queryCount + firstQuery) * outputStride + head * valueDim,
                            outputStride: outputStride)
        }
    }
}
