import Foundation
import Layers
import Tensors

// Port of segment_anything/modeling/mask_decoder.py (MaskDecoder), with RegionSpot's change:
// the mask tokens after the transformer (`mask_tokens_out`) are returned too.

/// Predicts masks, IoU scores and the mask tokens for a batch of prompts on one image embedding.
public struct MaskDecoder: Sendable {
    public let transformerDim: Int
    public let numMaskTokens: Int
    let iouToken: Tensor  // [1, E]
    let maskTokens: Tensor  // [numMaskTokens, E]
    let transformer: TwoWayTransformer
    let upscaling: OutputUpscaling
    let hypernetworks: [MLP]
    let iouHead: MLP

    /// `heads` is not in the weights; SAM uses 8.
    init(_ loader: WeightLoader, heads: Int = 8) throws {
        guard let tokenShape = loader.shape(of: "mask_tokens.weight"), tokenShape.count == 2 else {
            throw SAMError.inconsistentWeights(key: loader.key("mask_tokens.weight"), reason: "expected [masks, E]")
        }
        (numMaskTokens, transformerDim) = (tokenShape[0], tokenShape[1])
        iouToken = try loader.tensor("iou_token.weight", shape: [1, transformerDim])
        maskTokens = try loader.tensor("mask_tokens.weight", shape: tokenShape)
        transformer = try TwoWayTransformer(loader.scoped("transformer"), dim: transformerDim, heads: heads)
        upscaling = try OutputUpscaling(loader.scoped("output_upscaling"), dim: transformerDim)
        let dim = transformerDim
        hypernetworks = try (0..<numMaskTokens).map {
            try MLP(loader.scoped("output_hypernetworks_mlps").scoped($0), inputs: dim)
        }
        iouHead = try MLP(loader.scoped("iou_prediction_head"), inputs: transformerDim)
        guard hypernetworks.allSatisfy({ $0.outputs == upscaling.outChannels }), iouHead.outputs == numMaskTokens else {
            throw SAMError.inconsistentWeights(key: loader.key("output_hypernetworks_mlps"),
                                               reason: "hypernetwork outputs do not match the upscaled channels \(upscaling.outChannels)")
        }
    }

    /// Everything about one image that does not depend on prompts.
    public struct ImageState: Sendable {
        let transformer: TwoWayTransformer.ImageState
        let gridSize: Int
    }

    /// image embedding [E, g, g], dense PE and dense (no-mask) embedding in token layout [g·g, E].
    func prepare(imageEmbedding: Tensor, densePE: Tensor, denseEmbedding: Tensor) -> ImageState {
        var src = planesToTokens(imageEmbedding)
        src.addInPlace(broadcast: denseEmbedding)
        return ImageState(transformer: transformer.prepare(image: src, imagePE: densePE), gridSize: imageEmbedding.shape[1])
    }

    public struct Output: Sendable {
        /// [B, numMaskTokens, E]: the transformer's output for the mask tokens (RegionSpot's feature is token 0).
        public var maskTokens: Tensor
        /// [B, numMaskTokens]
        public var iouPredictions: Tensor
        /// [B, numMaskTokens, 4g, 4g], or nil when masks were not asked for.
        public var lowResMasks: Tensor?
    }

    /// `predict_masks` for sparse embeddings [B, S, E]; all masks (select 0 for single-mask output, 1… for multimask).
    /// Without `masks`, the upscaling and hypernetworks (half the per-prompt work) are skipped:
    /// mask tokens and IoU predictions do not depend on them.
    func predictMasks(sparse: Tensor, state: ImageState, masks wantMasks: Bool = true) -> Output {
        let batch = sparse.shape[0], e = transformerDim, n = 1 + numMaskTokens
        let promptTokens = sparse.shape[1]
        // tokens = [iou_token, mask_tokens, sparse…] per prompt.
        let outputTokens = Tensor.concatenate([iouToken, maskTokens])
        var tokens = Tensor(shape: [batch, n + promptTokens, e])
        tokens.withUnsafeMutableBufferPointer { t in
            for b in 0..<batch {
                let row = t.baseAddress! + b * (n + promptTokens) * e
                outputTokens.withUnsafeBufferPointer { row.update(from: $0.baseAddress!, count: n * e) }
                sparse.withUnsafeBufferPointer { (row + n * e).update(from: $0.baseAddress! + b * promptTokens * e, count: promptTokens * e) }
            }
        }
        let (hs, src) = transformer(tokens: tokens, state: state.transformer)

        var iouIn = Tensor(shape: [batch, e]), maskTokensOut = Tensor(shape: [batch, numMaskTokens, e])
        hs.withUnsafeBufferPointer { h in
            for b in 0..<batch {
                let base = h.baseAddress! + b * (n + promptTokens) * e
                iouIn.withUnsafeMutableBufferPointer { ($0.baseAddress! + b * e).update(from: base, count: e) }
                maskTokensOut.withUnsafeMutableBufferPointer {
                    ($0.baseAddress! + b * numMaskTokens * e).update(from: base + e, count: numMaskTokens * e)
                }
            }
        }
        let iouPredictions = iouHead(iouIn)
        guard wantMasks else { return Output(maskTokens: maskTokensOut, iouPredictions: iouPredictions, lowResMasks: nil) }
        let upscaled = upscaling(src, batch: batch, grid: state.gridSize)  // [B, (4g)², C/8] in pixel order
        // hyper_in [B, masks, C/8]
        let lowChannels = upscaling.outChannels
        var hyperIn = Tensor(shape: [batch, numMaskTokens, lowChannels])
        for m in 0..<numMaskTokens {
            var column = Tensor(shape: [batch, e])
            column.withUnsafeMutableBufferPointer { c in
                maskTokensOut.withUnsafeBufferPointer { t in
                    for b in 0..<batch { (c.baseAddress! + b * e).update(from: t.baseAddress! + (b * numMaskTokens + m) * e, count: e) }
                }
            }
            let out = hypernetworks[m](column)
            hyperIn.withUnsafeMutableBufferPointer { hi in
                for b in 0..<batch {
                    for c in 0..<lowChannels { hi[(b * numMaskTokens + m) * lowChannels + c] = out.scalars[b * lowChannels + c] }
                }
            }
        }
        // masks[b] = hyper_in[b] [masks × C'] · upscaled[b]ᵀ [C' × pixels]
        let pixels = upscaled.shape[1]
        let masks = Tensor(shape: [batch, numMaskTokens, pixels]) { out in
            hyperIn.withUnsafeBufferPointer { hi in
                upscaled.withUnsafeBufferPointer { up in
                    GEMM.batched(count: batch, m: numMaskTokens, n: pixels, k: lowChannels,
                                 a: hi.baseAddress!, lda: lowChannels, strideA: numMaskTokens * lowChannels,
                                 b: up.baseAddress!, ldb: lowChannels, strideB: pixels * lowChannels, transB: true,
                                 c: out.baseAddress!, ldc: pixels, strideC: numMaskTokens * pixels)
                }
            }
        }
        let side = 4 * state.gridSize
        return Output(maskTokens: maskTokensOut, iouPredictions: iouPredictions,
                      lowResMasks: masks.reshaped([batch, numMaskTokens, side, side]))
    }
}

/// `output_upscaling`: ConvTranspose2d(E→E/4, 2, 2) → LayerNorm2d → GELU → ConvTranspose2d(E/4→E/8, 2, 2) → GELU.
///
/// Runs on token layout: a 2×2 stride-2 transposed convolution is one GEMM from each token to its
/// four output pixels' channels, and LayerNorm2d is a LayerNorm over those channels. The result is
/// written in pixel order [(4g)², C/8] so the mask product reads it directly.
struct OutputUpscaling: Sendable {
    let conv0: Tensor  // [E, 2·2·E/4]: weight [in, out, 2, 2] permuted to [in, (dy, dx, out)]
    let bias0: Tensor  // [2·2·E/4]
    let norm1: LayerNorm
    let conv3: Tensor
    let bias3: Tensor

    init(_ loader: WeightLoader, dim: Int) throws {
        guard let shape = loader.shape(of: "0.weight"), shape.count == 4 else {
            throw SAMError.inconsistentWeights(key: loader.key("0.weight"), reason: "expected [\(dim), out, 2, 2]")
        }
        let mid = shape[1]
        (conv0, bias0) = try Self.tokenWeights(loader.scoped("0"), inputs: dim, outputs: mid)
        norm1 = try LayerNorm(loader.scoped("1"), dim: mid, eps: 1e-6)
        guard let shape3 = loader.shape(of: "3.weight"), shape3.count == 4 else {
            throw SAMError.inconsistentWeights(key: loader.key("3.weight"), reason: "expected [\(mid), out, 2, 2]")
        }
        (conv3, bias3) = try Self.tokenWeights(loader.scoped("3"), inputs: mid, outputs: shape3[1])
    }

    var outChannels: Int { conv3.shape[1] / 4 }

    static func tokenWeights(_ loader: WeightLoader, inputs: Int, outputs: Int) throws -> (Tensor, Tensor) {
        let w = try loader.tensor("weight", shape: [inputs, outputs, 2, 2])
        let b = try loader.tensor("bias", shape: [outputs])
        var permuted = [Float](repeating: 0, count: w.count)
        var bias = [Float](repeating: 0, count: 4 * outputs)
        for i in 0..<inputs {
            for o in 0..<outputs {
                for d in 0..<4 { permuted[(i * 4 + d) * outputs + o] = w.scalars[(i * outputs + o) * 4 + d] }
            }
        }
        for d in 0..<4 { for o in 0..<outputs { bias[d * outputs + o] = b.scalars[o] } }
        return (Tensor(shape: [inputs, 4 * outputs], scalars: permuted), Tensor(shape: [4 * outputs], scalars: bias))
    }

    /// keys [B, g·g, E] → [B, (4g)², E/8] in row-major pixel order.
    func callAsFunction(_ keys: Tensor, batch: Int, grid: Int) -> Tensor {
        let mid = conv0.shape[1] / 4, out = outChannels
        // Token t → its 2×2 children (dy, dx), each with `mid` channels: rows [(B·g²·4), mid].
        var x = product(keys, conv0, bias0).reshaped([-1, mid])
        x = norm1(x).gelu()
        let y = product(x, conv3, bias3).gelu()  // [(B·g²·4)·4, out]: (token, dy, dx, dy2, dx2)
        // Scatter to pixels: token (i, j), child (dy, dx), grandchild (ey, ex) → (4i + 2dy + ey, 4j + 2dx + ex).
        let side = 4 * grid
        return Tensor(shape: [batch, side * side, out]) { dst in
            y.withUnsafeBufferPointer { src in
                Parallel.forEachChunk(batch * grid, minimumPerChunk: 4) { range in
                    for bi in range {
                        let (b, i) = (bi / grid, bi % grid)
                        for j in 0..<grid {
                            for child in 0..<16 {
                                let (dy, dx, ey, ex) = (child >> 3, (child >> 2) & 1, (child >> 1) & 1, child & 1)
                                let py = 4 * i + 2 * dy + ey, px = 4 * j + 2 * dx + ex
                                let s = src.baseAddress! + (((b * grid + i) * grid + j) * 16 + child) * out
                                let d = dst.baseAddress! + (b * side * side + py * side + px) * out
                                d.update(from: s, count: out)
                            }
                        }
                    }
                }
            }
        }
    }

    /// x [rows, in] · w [in, n] + bias → [rows, n].
    private func product(_ x: Tensor, _ w: Tensor, _ bias: Tensor) -> Tensor {
        let rows = x.count / w.shape[0], k = w.shape[0], n = w.shape[1]
        return Tensor(shape: [rows, n]) { c in
            Tensor.fillRows(c.baseAddress!, count: rows, width: n, with: bias)
            x.withUnsafeBufferPointer { a in
                w.withUnsafeBufferPointer { bw in
                    GEMM.sgemm(m: rows, n: n, k: k, a: a.baseAddress!, lda: k, b: bw.baseAddress!, ldb: n,
                               c: c.baseAddress!, ldc: n, beta: 1)
                }
            }
        }
    }
}
