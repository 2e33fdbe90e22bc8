import Foundation
import Layers
import Tensors

// Port of segment_anything/modeling/image_encoder.py (ImageEncoderViT, Block, Attention,
// window_partition/unpartition, add_decomposed_rel_pos).
//
// Activations stay in token layout [H·W, C] (the reference's B×H×W×C). Windowed blocks run
// one qkv GEMM over all zero-padded windows, then attention per window with the decomposed
// relative positions added tile by tile; global blocks use the same tiled attention over all
// tokens, so the 4096×4096 score matrix is never held.

/// SAM's ViT image encoder (vit_b / vit_l / vit_h), configured from the weights.
public struct ImageEncoderViT: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var imageSize: Int
        public var patchSize: Int
        public var embedDim: Int
        public var depth: Int
        public var heads: Int
        public var windowSize: Int
        /// Blocks that attend over the whole grid (2, 5, 8, 11 for vit_b).
        public var globalAttentionIndexes: [Int]
        public var outChannels: Int

        public var gridSize: Int { imageSize / patchSize }
    }

    public let configuration: Configuration
    let patchEmbed: PatchEmbedding  // patch_embed.proj
    let posEmbed: Tensor  // [g·g, C]
    let blocks: [Block]
    let neck: Neck

    /// Loads from `loader` scoped at the encoder (`image_encoder`), inferring the configuration.
    public init(_ loader: WeightLoader) throws {
        let projKey = "patch_embed.proj.weight"
        guard let proj = loader.shape(of: projKey), proj.count == 4, proj[1] == 3, proj[2] == proj[3] else {
            throw SAMError.inconsistentWeights(key: loader.key(projKey), reason: "expected a [C, 3, p, p] patch convolution")
        }
        let (embed, patch) = (proj[0], proj[2])
        guard let pos = loader.shape(of: "pos_embed"), pos.count == 4, pos[0] == 1, pos[1] == pos[2], pos[3] == embed else {
            throw SAMError.inconsistentWeights(key: loader.key("pos_embed"), reason: "expected [1, g, g, \(embed)]")
        }
        let grid = pos[1]
        var depth = 0
        while loader.contains("blocks.\(depth).norm1.weight") { depth += 1 }
        guard depth > 0 else { throw SAMError.inconsistentWeights(key: loader.key("blocks.0.norm1.weight"), reason: "no blocks") }

        patchEmbed = try PatchEmbedding(loader.scoped("patch_embed.proj"), embedDim: embed, patchSize: patch, bias: true)
        posEmbed = try loader.tensor("pos_embed", shape: [1, grid, grid, embed]).reshaped([grid * grid, embed])
        var blocks: [Block] = []
        for i in 0..<depth {
            blocks.append(try Block(loader.scoped("blocks").scoped(i), dim: embed, grid: grid))
        }
        self.blocks = blocks
        neck = try Neck(loader.scoped("neck"), inputs: embed)
        let heads = blocks[0].attention.heads
        guard blocks.allSatisfy({ $0.attention.heads == heads }) else {
            throw SAMError.inconsistentWeights(key: loader.key("blocks"), reason: "blocks disagree on the head count")
        }
        configuration = Configuration(
            imageSize: grid * patch, patchSize: patch, embedDim: embed, depth: depth, heads: heads,
            windowSize: blocks.first { $0.windowSize > 0 }?.windowSize ?? 0,
            globalAttentionIndexes: blocks.indices.filter { blocks[$0].windowSize == 0 },
            outChannels: neck.outChannels)
    }

    /// pixels [3, S, S] (normalised and padded, S = image size) → image embedding [out, g, g].
    public func callAsFunction(_ pixels: Tensor) -> Tensor {
        let c = configuration
        precondition(pixels.shape == [3, c.imageSize, c.imageSize], "ImageEncoderViT: pixels \(pixels.shape), expected [3, \(c.imageSize), \(c.imageSize)]")
        var x = patchEmbed(pixels)  // [g·g, C]
        x.addInPlace(broadcast: posEmbed)
        for block in blocks { block(&x, grid: c.gridSize) }
        return neck(x, grid: c.gridSize)  // [out, g, g]
    }
}

extension ImageEncoderViT {
    /// `image_encoder.Block`: x += attn(norm1(x)) (windowed or global), x += mlp(norm2(x)).
    struct Block: Sendable {
        let norm1: LayerNorm
        let attention: RelPosAttention
        let mlp: MLPBlock  // with norm2
        /// 0 for global attention.
        let windowSize: Int

        init(_ loader: WeightLoader, dim: Int, grid: Int) throws {
            norm1 = try LayerNorm(loader.scoped("norm1"), dim: dim, eps: 1e-6)
            attention = try RelPosAttention(loader.scoped("attn"), dim: dim)
            let norm2 = try LayerNorm(loader.scoped("norm2"), dim: dim, eps: 1e-6)
            mlp = try MLPBlock(loader.scoped("mlp"), dim: dim, activation: .gelu, norm: norm2.feedForwardNorm)
            // The rel-pos table spans 2·size − 1 offsets: the window size, or the grid for global blocks.
            windowSize = attention.span >= grid ? 0 : attention.span
        }

        func callAsFunction(_ x: inout Tensor, grid: Int) {
            // qkv of the real tokens only: a zero-padded token's qkv is the qkv bias.
            let qkv = attention.qkv(norm1(x))  // [g·g, 3C]
            if windowSize == 0 {
                x.addLinear(attention.attend(qkv, windows: 1, height: grid, width: grid), weight: attention.proj.weight,
                            bias: attention.proj.bias)
            } else {
                let (windows, padded) = windowPartition(qkv, grid: grid, window: windowSize, padRow: attention.qkv.bias)
                let attended = attention.attend(windows, windows: (padded / windowSize) * (padded / windowSize),
                                                height: windowSize, width: windowSize)  // [nW·ws², C]
                x.addLinear(windowMerge(attended, grid: grid, window: windowSize), weight: attention.proj.weight,
                            bias: attention.proj.bias)
            }
            mlp.addResidual(to: &x)
        }
    }

    /// `image_encoder.Attention` with `use_rel_pos`: qkv [3C, C] laid out [q | k | v], each split by head.
    struct RelPosAttention: Sendable {
        let qkv: Linear
        let proj: Linear
        /// rel_pos_h and rel_pos_w (rows reversed: see DecomposedRelativePosition), transposed to
        /// [hd, offsets] with zero columns up to whole vectors: the B operand of a RegisterTile product.
        let relPosHTransposed: Tensor
        let relPosWReversedTransposed: Tensor
        let heads: Int
        let span: Int

        init(_ loader: WeightLoader, dim: Int) throws {
            qkv = try Linear(loader.scoped("qkv"), inputs: dim, outputs: 3 * dim)
            proj = try Linear(loader.scoped("proj"), inputs: dim, outputs: dim)
            guard let table = loader.shape(of: "rel_pos_h"), table.count == 2, table[0] % 2 == 1, table[1] > 0, dim % table[1] == 0 else {
                throw SAMError.inconsistentWeights(key: loader.key("rel_pos_h"),
                                                   reason: "expected [2·size − 1, head_dim] relative positions (use_rel_pos=True)")
            }
            let relPosH = try loader.tensor("rel_pos_h", shape: table)
            let relPosW = try loader.tensor("rel_pos_w", shape: table)
            let relPosWReversed = Tensor(shape: table, scalars: (0..<table[0]).reversed().flatMap {
                relPosW.scalars[($0 * table[1])..<(($0 + 1) * table[1])]
            })
            let columns = RegisterTile.paddedColumns(table[0])
            func padded(_ transposed: Tensor) -> Tensor {
                Tensor.concatenate([transposed, Tensor(shape: [table[1], columns - table[0]])], axis: 1)
            }
            relPosHTransposed = padded(relPosH.transposed())
            relPosWReversedTransposed = padded(relPosWReversed.transposed())
            heads = dim / table[1]
            span = (table[0] + 1) / 2
        }

        /// qkv [windows·h·w, 3C], each window an h×w grid of tokens → attention output before
        /// `proj`, [windows·h·w, C].
        func attend(_ qkvOut: Tensor, windows: Int, height: Int, width: Int) -> Tensor {
            let dim = qkv.inputs, headDim = dim / heads, tokens = height * width
            precondition(height == span && width == span, "rel-pos tables are for \(span)×\(span), got \(height)×\(width)")
            let bias = DecomposedRelativePosition(qkv: qkvOut, tableH: relPosHTransposed, tableWReversed: relPosWReversedTransposed,
                                                  headDim: headDim, tokens: tokens, width: width, span: span)
            var out = Tensor(shape: [windows * tokens, dim], unsafeUninitialized: { _ in })
            qkvOut.withUnsafeBufferPointer { q in
                out.withUnsafeMutableBufferPointer { o in
                    Attention.compute(
                        queries: q.baseAddress!, queryStride: 3 * dim, keys: q.baseAddress! + dim, keyStride: 3 * dim,
                        values: q.baseAddress! + 2 * dim, valueStride: 3 * dim, output: o.baseAddress!, outputStride: dim,
                        queryCount: tokens, keyCount: tokens, heads: heads, headDim: headDim, valueDim: headDim,
                        scale: 1 / Float(headDim).squareRoot(), bias: bias, sequences: windows)
                }
            }
            return out
        }
    }

    /// `add_decomposed_rel_pos` for equal query and key grids: bias[q, k] =
    /// relH[q, qh − kh + span − 1] + relW[q, qw − kw + span − 1], where relH = q·rel_pos_hᵀ and
    /// relW = q·rel_pos_wᵀ per head (q unscaled). Each block of queries prepares its rows of relH and
    /// relW in the worker's cache. relW is kept with its offsets reversed (index kw − qw + span − 1),
    /// so along a row of keys it is read forwards, a vector at a time.
    struct DecomposedRelativePosition: AttentionBias {
        typealias Vector = SIMD16<Float>

        let qkv: Tensor  // [windows·tokens, 3C]: q of head h in columns h·hd…
        let tableH: Tensor  // [hd, offsets rounded up to whole vectors]
        let tableWReversed: Tensor
        let headDim: Int
        let tokens: Int  // per window
        let width: Int
        let span: Int

        /// Columns per prepared logits row: the 2·span − 1 offsets and room for a whole vector
        /// read from any key-row start.
        var logitsStride: Int { RegisterTile.paddedColumns(2 * span - 1 + Vector.scalarCount - 1) }
        /// A query's relH row, then its reversed relW row.
        var preparedRowSize: Int { 2 * logitsStride }

        func prepare(sequence: Int, head: Int, queries: Range<Int>, into rows: UnsafeMutablePointer<Float>) {
            rows.update(repeating: 0, count: queries.count * preparedRowSize)
            let queryStride = qkv.shape[1], columns = tableH.shape[1]
            qkv.withUnsafeBufferPointer { q in
                let firstQuery = q.baseAddress! + (sequence * tokens + queries.lowerBound) * queryStride + head * headDim
                for (table, offset) in [(tableH, 0), (tableWReversed, logitsStride)] {
                    table.withUnsafeBufferPointer { t in
                        RegisterTile.multiplyAdd(
                            rows: queries.count, a: firstQuery, aRowStride: queryStride, b: t.baseAddress!, bRowStride: columns,
                            c: rows + offset, cRowStride: preparedRowSize, depth: headDim, columns: columns)
                    }
                }
            }
        }

        func add(sequence: Int, head: Int, queries: Range<Int>, keys: Range<Int>, prepared: UnsafePointer<Float>,
                 to tile: UnsafeMutablePointer<Float>, rowStride: Int) {
            withUnsafeTemporaryAllocation(of: Float.self, capacity: keys.count + Vector.scalarCount - 1) { buffer in
                for (i, query) in queries.enumerated() {
                    assemble(query: query, keys: keys, prepared: prepared + i * preparedRowSize, into: buffer.baseAddress!)
                    FastMath.add(buffer.baseAddress!, plus: 0, to: tile + i * rowStride, count: keys.count)
                }
            }
        }

        func write(sequence: Int, head: Int, queries: Range<Int>, keys: Range<Int>, prepared: UnsafePointer<Float>,
                   to tile: UnsafeMutablePointer<Float>, rowStride: Int) {
            guard rowStride >= keys.count + Vector.scalarCount - 1 else {
                for row in 0..<queries.count { (tile + row * rowStride).update(repeating: 0, count: keys.count) }
                return add(sequence: sequence, head: head, queries: queries, keys: keys, prepared: prepared, to: tile, rowStride: rowStride)
            }
            for (i, query) in queries.enumerated() {
                assemble(query: query, keys: keys, prepared: prepared + i * preparedRowSize, into: tile + i * rowStride)
            }
        }

        /// Writes the bias of `query` against `keys` to `row` left to right in whole vectors, each
        /// overwriting the previous one's spill past its key row: up to 15 floats past the range.
        @inline(__always)
        private func assemble(query: Int, keys: Range<Int>, prepared relH: UnsafePointer<Float>, into row: UnsafeMutablePointer<Float>) {
            let hRow = relH + query / width + span - 1  // hRow[-kh]
            let wRow = UnsafeRawPointer(relH + logitsStride + span - 1 - query % width)  // wRow[kw]
            let target = UnsafeMutableRawPointer(row)
            var (kh, kw) = keys.lowerBound.quotientAndRemainder(dividingBy: width)
            var key = 0
            while key < keys.count {
                let count = min(keys.count - key, width - kw)
                let h = Vector(repeating: hRow[-kh])
                for j in stride(from: 0, to: count, by: Vector.scalarCount) {
                    target.storeBytes(of: wRow.loadUnaligned(fromByteOffset: 4 * (kw + j), as: Vector.self) + h,
                                      toByteOffset: 4 * (key + j), as: Vector.self)
                }
                key += count
                kh += 1
                kw = 0
            }
        }
    }
}

/// tokens [g·g, C] → windows [nW·ws·ws, C] padded at the bottom and right with `padRow` (zeros
/// when nil), and the padded size.
func windowPartition(_ x: Tensor, grid: Int, window: Int, padRow: Tensor? = nil) -> (Tensor, Int) {
    let channels = x.dim(-1)
    let padded = (grid + window - 1) / window * window
    let perSide = padded / window
    let pad = padRow?.scalars ?? [Float](repeating: 0, count: channels)
    precondition(pad.count == channels, "windowPartition: pad row of \(pad.count) for \(channels) channels")
    let out = Tensor(shape: [perSide * perSide * window * window, channels]) { out in
        x.withUnsafeBufferPointer { src in
            pad.withUnsafeBufferPointer { pad in
                Parallel.forEachChunk(perSide * perSide) { range in
                    for w in range {
                        let (wy, wx) = (w / perSide, w % perSide)
                        for ty in 0..<window {
                            for tx in 0..<window {
                                let (y, xx) = (wy * window + ty, wx * window + tx)
                                let dst = out.baseAddress! + ((w * window + ty) * window + tx) * channels
                                let inside = y < grid && xx < grid
                                dst.update(from: inside ? src.baseAddress! + (y * grid + xx) * channels : pad.baseAddress!, count: channels)
                            }
                        }
                    }
                }
            }
        }
    }
    return (out, padded)
}

/// windows [nW·ws·ws, C] → tokens [g·g, C], dropping the padding.
func windowMerge(_ windows: Tensor, grid: Int, window: Int) -> Tensor {
    let channels = windows.dim(-1)
    let perSide = (grid + window - 1) / window
    return Tensor(shape: [grid * grid, channels]) { dst in
        windows.withUnsafeBufferPointer { src in
            Parallel.forEachChunk(grid) { rows in
                for y in rows {
                    for xx in 0..<grid {
                        let w = (y / window) * perSide + xx / window
                        let s = src.baseAddress! + ((w * window + y % window) * window + xx % window) * channels
                        (dst.baseAddress! + (y * grid + xx) * channels).update(from: s, count: channels)
                    }
                }
            }
        }
    }
}
