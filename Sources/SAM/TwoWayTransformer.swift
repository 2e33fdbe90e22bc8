import Foundation
import Layers
import Tensors

// Port of segment_anything/modeling/transformer.py (TwoWayTransformer, TwoWayAttentionBlock,
// Attention), batched over prompts: queries [B, T, E] (the output and prompt tokens), keys
// [B, N, E] (the image tokens). Until block 0's image→token attention the keys are the same
// image for every prompt, so that part runs once and is shared ("prompt-independent work").

/// The decoder's attention is segment-anything's `Attention`: `MultiheadAttention` with split
/// q/k/v projections to `internal = E / downsample_rate`. SAM adds two folded forms of it.
extension MultiheadAttention {
    /// q [B or 1, Nq, E] (with PE), k [B or 1, Nk, E] (with PE), v [B or 1, Nk, E]: a tensor of
    /// one prompt's rows is shared by every prompt. Returns [B, Nq, E].
    func callAsFunction(q: Tensor, k: Tensor, v: Tensor, batch: Int) -> Tensor {
        attend(projectedQueries: queries(q), keys: keys(k), values: values(v), batch: batch)
    }

    /// The same on queries, keys and values already projected: out_proj(attention) [B, Nq, E].
    func attend(projectedQueries q: Tensor, keys k: Tensor, values v: Tensor, batch: Int) -> Tensor {
        func columns(_ x: Tensor) -> Columns { Columns(x, shared: x.count == x.dim(-2) * innerDim) }
        return outProj(attend(queries: columns(q), keys: columns(k), values: columns(v), sequences: batch))
            .reshaped([batch, q.dim(-2), outProj.outputs])
    }

    /// The split projections (SAM's attention has no packed form).
    var splitProjections: (query: Linear, key: Linear, value: Linear) {
        guard case let .split(query, key, value) = projection else { preconditionFailure("SAM's attention has split q/k/v projections") }
        return (query, key, value)
    }

    // MARK: Few tokens against many image tokens, per prompt
    //
    // With T ≈ 7 tokens and N = 4096 image tokens, projecting the image side (N×E×inner per
    // projection) costs more than folding the projection into the token side: scores and outputs
    // are then GEMMs of N×E against H·T columns. Same arithmetic up to rounding order.

    /// Token→image: tokens q [B, T, E] (with PE) attend to image keys k [B, N, E] (with PE), values v [B, N, E].
    func tokenToImage(q: Tensor, k: Tensor, v: Tensor) -> Tensor {
        let (batch, t, e) = (q.shape[0], q.shape[1], q.shape[2]), n = k.dim(-2)
        let (qProj, kProj, vProj) = splitProjections
        let inner = innerDim, hd = headDim, rows = heads * t
        let qp = qProj(q)  // [B, T, inner]
        var out = Tensor(shape: [batch, t, inner])
        var folded = Tensor(shape: [rows, e]), scores = Tensor(shape: [rows, n]), mixed = Tensor(shape: [rows, e])
        for b in 0..<batch {
            // Q'_h = scale · Qp_h · Wk_h: [T, E] per head, stacked [H·T, E]. q·b_k is the same for every key: it cancels in the softmax.
            qp.withUnsafeBufferPointer { qpp in kProj.weight.withUnsafeBufferPointer { w in folded.withUnsafeMutableBufferPointer { f in
                for h in 0..<heads {
                    GEMM.serial(m: t, n: e, k: hd, a: qpp.baseAddress! + b * t * inner + h * hd, lda: inner,
                                b: w.baseAddress! + h * hd * e, ldb: e, c: f.baseAddress! + h * t * e, ldc: e, alpha: scale)
                }
            } } }
            k.withUnsafeBufferPointer { kp in folded.withUnsafeBufferPointer { f in scores.withUnsafeMutableBufferPointer { sp in
                GEMM.sgemm(m: rows, n: n, k: e, a: f.baseAddress!, lda: e, b: kp.baseAddress! + (k.count == n * e ? 0 : b * n * e), ldb: e, transB: true,
                           c: sp.baseAddress!, ldc: n)
            } } }
            let p = scores.softmax()
            // P·V = (P·X)·Wvᵀ + b_v, since each row of P sums to 1.
            v.withUnsafeBufferPointer { vp in p.withUnsafeBufferPointer { pp in mixed.withUnsafeMutableBufferPointer { m in
                GEMM.sgemm(m: rows, n: e, k: n, a: pp.baseAddress!, lda: n, b: vp.baseAddress! + (v.count == n * e ? 0 : b * n * e), ldb: e,
                           c: m.baseAddress!, ldc: e)
            } } }
            mixed.withUnsafeBufferPointer { m in vProj.weight.withUnsafeBufferPointer { w in out.withUnsafeMutableBufferPointer { o in
                for h in 0..<heads {
                    let target = o.baseAddress! + b * t * inner + h * hd
                    for i in 0..<t { for j in 0..<hd { target[i * inner + j] = vProj.bias?.scalars[h * hd + j] ?? 0 } }
                    GEMM.serial(m: t, n: hd, k: e, a: m.baseAddress! + h * t * e, lda: e,
                                b: w.baseAddress! + h * hd * e, ldb: e, transB: true, c: target, ldc: inner, beta: 1)
                }
            } } }
        }
        return outProj(out)
    }

    /// Image→token: image queries (with PE) attend to tokens k [B, T, E] (with PE), values v [B, T, E].
    /// `imageQ` [N, inner] is the image queries already projected (shared by all prompts), or nil to
    /// fold q_proj into the keys from `image` [B, N, E]. Returns [B, N, E].
    ///
    /// Scores are kept transposed, [H·T, N]: each image query's softmax over its T ≈ 7 tokens is
    /// then a column of T rows, and runs as vector code along N instead of on 7-wide rows.
    func imageToToken(image: Tensor?, imageQ: Tensor?, k: Tensor, v: Tensor) -> Tensor {
        let (batch, t, e) = (k.shape[0], k.shape[1], k.shape[2])
        let (qProj, kProj, vProj) = splitProjections
        let inner = innerDim, hd = headDim, cols = heads * t
        let n = imageQ?.shape[0] ?? image!.dim(-2)
        let kp = kProj(k), vp = vProj(v)  // [B, T, inner]
        var out = Tensor(shape: [batch, n, e], unsafeUninitialized: { _ in })
        var scores = Tensor(shape: [cols, n], unsafeUninitialized: { _ in }), folded = Tensor(shape: [cols, e])
        for b in 0..<batch {
            kp.withUnsafeBufferPointer { kpp in scores.withUnsafeMutableBufferPointer { sp in
                if let imageQ {
                    imageQ.withUnsafeBufferPointer { q in
                        for h in 0..<heads {
                            GEMM.sgemm(m: t, n: n, k: hd, a: kpp.baseAddress! + b * t * inner + h * hd, lda: inner,
                                       b: q.baseAddress! + h * hd, ldb: inner, transB: true,
                                       c: sp.baseAddress! + h * t * n, ldc: n, alpha: scale)
                        }
                    }
                } else {
                    // K'_h = scale · Kp_h · Wq_h [T, E]; the query bias adds scale · b_q,h · k to each key's row.
                    qProj.weight.withUnsafeBufferPointer { w in folded.withUnsafeMutableBufferPointer { f in
                        for h in 0..<heads {
                            GEMM.serial(m: t, n: e, k: hd, a: kpp.baseAddress! + b * t * inner + h * hd, lda: inner,
                                        b: w.baseAddress! + h * hd * e, ldb: e, c: f.baseAddress! + h * t * e, ldc: e, alpha: scale)
                            for j in 0..<t {
                                var dot: Float = 0
                                for c in 0..<hd { dot += (qProj.bias?.scalars[h * hd + c] ?? 0) * kpp[(b * t + j) * inner + h * hd + c] }
                                (sp.baseAddress! + (h * t + j) * n).update(repeating: scale * dot, count: n)
                            }
                        }
                    } }
                    let imageOffset = image!.count == n * e ? 0 : b * n * e
                    image!.withUnsafeBufferPointer { x in folded.withUnsafeBufferPointer { f in
                        GEMM.sgemm(m: cols, n: n, k: e, a: f.baseAddress!, lda: e, b: x.baseAddress! + imageOffset, ldb: e, transB: true,
                                   c: sp.baseAddress!, ldc: n, beta: 1)
                    } }
                }
            } }
            scores.softmaxOverRows(groups: heads)  // each head's T rows, per image query
            // Σ_h A_h · (V_h · Wout_hᵀ): V'_h [T, E] stacked [H·T, E], one GEMM of K = H·T.
            vp.withUnsafeBufferPointer { vpp in outProj.weight.withUnsafeBufferPointer { w in folded.withUnsafeMutableBufferPointer { f in
                for h in 0..<heads {
                    GEMM.serial(m: t, n: e, k: hd, a: vpp.baseAddress! + b * t * inner + h * hd, lda: inner,
                                b: w.baseAddress! + h * hd, ldb: inner, transB: true, c: f.baseAddress! + h * t * e, ldc: e)
                }
            } } }
            scores.withUnsafeBufferPointer { pp in folded.withUnsafeBufferPointer { f in out.withUnsafeMutableBufferPointer { o in
                let target = o.baseAddress! + b * n * e
                Tensor.fillRows(target, count: n, width: e, with: outProj.bias)
                GEMM.sgemm(m: n, n: e, k: cols, a: pp.baseAddress!, lda: n, transA: true, b: f.baseAddress!, ldb: e,
                           c: target, ldc: e, beta: 1)
            } } }
        }
        return out
    }
}

/// `TwoWayAttentionBlock`: self-attention of the tokens, token→image and image→token cross-attention.
struct TwoWayAttentionBlock: Sendable {
    let selfAttn: MultiheadAttention
    let norm1: LayerNorm
    let crossAttnTokenToImage: MultiheadAttention
    let norm2: LayerNorm
    let mlp: MLPBlock
    let norm3: LayerNorm
    let norm4: LayerNorm
    let crossAttnImageToToken: MultiheadAttention
    let skipFirstLayerPE: Bool

    init(_ loader: WeightLoader, dim: Int, heads: Int, skipFirstLayerPE: Bool) throws {
        selfAttn = try MultiheadAttention(split: loader.scoped("self_attn"), dim: dim, heads: heads)
        crossAttnTokenToImage = try MultiheadAttention(split: loader.scoped("cross_attn_token_to_image"), dim: dim, heads: heads)
        crossAttnImageToToken = try MultiheadAttention(split: loader.scoped("cross_attn_image_to_token"), dim: dim, heads: heads)
        mlp = try MLPBlock(loader.scoped("mlp"), dim: dim, activation: .relu)
        // nn.LayerNorm's default eps 1e-5, as the original (the Hugging Face port uses 1e-6).
        norm1 = try LayerNorm(loader.scoped("norm1"), dim: dim, eps: 1e-5)
        norm2 = try LayerNorm(loader.scoped("norm2"), dim: dim, eps: 1e-5)
        norm3 = try LayerNorm(loader.scoped("norm3"), dim: dim, eps: 1e-5)
        norm4 = try LayerNorm(loader.scoped("norm4"), dim: dim, eps: 1e-5)
        self.skipFirstLayerPE = skipFirstLayerPE
    }

    /// queries [B, T, E]; keys [B, N, E] or [1, N, E] shared; queryPE [B, T, E]; keyPE [N, E].
    func callAsFunction(queries: Tensor, keys: Tensor, queryPE: Tensor, keyPE: Tensor,
                        sharedKeyProjections: SharedKeys? = nil) -> (queries: Tensor, keys: Tensor) {
        let batch = queries.shape[0]
        var queries = queries
        if skipFirstLayerPE {
            queries = selfAttn(q: queries, k: queries, v: queries, batch: batch)
        } else {
            let q = queries.adding(broadcast: queryPE)
            queries.addInPlace(broadcast: selfAttn(q: q, k: q, v: queries, batch: batch))
        }
        queries = norm1(queries)

        let keysWithPE = sharedKeyProjections == nil ? keys.adding(broadcast: keyPE) : keys
        var q = queries.adding(broadcast: queryPE)
        let k2i = sharedKeyProjections.map { crossAttnTokenToImage.attend(projectedQueries: crossAttnTokenToImage.queries(q), keys: $0.tokenToImageK, values: $0.tokenToImageV, batch: batch) }
            ?? crossAttnTokenToImage.tokenToImage(q: q, k: keysWithPE, v: keys)
        queries.addInPlace(broadcast: k2i)
        queries = norm2(queries)
        mlp.addResidual(to: &queries)
        queries = norm3(queries)

        q = queries.adding(broadcast: queryPE)
        var newKeys = crossAttnImageToToken.imageToToken(image: sharedKeyProjections == nil ? keysWithPE : nil,
                                                         imageQ: sharedKeyProjections?.imageToTokenQ, k: q, v: queries)  // [B, N, E]
        newKeys.addInPlace(broadcast: keys)  // keys broadcast when shared
        return (queries, norm4(newKeys))
    }

    /// Projections of the (prompt-independent) image keys that block 0 needs.
    struct SharedKeys: Sendable {
        let tokenToImageK: Tensor, tokenToImageV: Tensor, imageToTokenQ: Tensor
    }

    func sharedKeys(image: Tensor, imagePE: Tensor) -> SharedKeys {
        let withPE = image.adding(broadcast: imagePE)
        return SharedKeys(tokenToImageK: crossAttnTokenToImage.keys(withPE), tokenToImageV: crossAttnTokenToImage.values(image),
                          imageToTokenQ: crossAttnImageToToken.queries(withPE))
    }
}

/// `TwoWayTransformer`: `depth` blocks, then a final token→image attention and LayerNorm.
public struct TwoWayTransformer: Sendable {
    let layers: [TwoWayAttentionBlock]
    let finalAttnTokenToImage: MultiheadAttention
    let normFinalAttn: LayerNorm

    init(_ loader: WeightLoader, dim: Int, heads: Int) throws {
        var layers: [TwoWayAttentionBlock] = []
        while loader.contains("layers.\(layers.count).norm1.weight") {
            layers.append(try TwoWayAttentionBlock(loader.scoped("layers").scoped(layers.count), dim: dim, heads: heads,
                                                   skipFirstLayerPE: layers.isEmpty))
        }
        guard !layers.isEmpty else { throw SAMError.inconsistentWeights(key: loader.key("layers.0.norm1.weight"), reason: "no layers") }
        self.layers = layers
        finalAttnTokenToImage = try MultiheadAttention(split: loader.scoped("final_attn_token_to_image"), dim: dim, heads: heads)
        normFinalAttn = try LayerNorm(loader.scoped("norm_final_attn"), dim: dim, eps: 1e-5)
    }

    /// Work that depends only on the image: block 0's projections of the image tokens.
    struct ImageState: Sendable {
        let image: Tensor  // [1, N, E]: image embedding + dense (no-mask) embedding, tokens
        let imagePE: Tensor  // [N, E]
        let shared: TwoWayAttentionBlock.SharedKeys
    }

    func prepare(image: Tensor, imagePE: Tensor) -> ImageState {
        ImageState(image: image.reshaped([1] + image.shape.suffix(2)), imagePE: imagePE,
                   shared: layers[0].sharedKeys(image: image, imagePE: imagePE))
    }

    /// tokens [B, T, E] → (queries [B, T, E], keys [B, N, E]).
    func callAsFunction(tokens: Tensor, state: ImageState) -> (queries: Tensor, keys: Tensor) {
        var queries = tokens, keys = state.image
        for (i, layer) in layers.enumerated() {
            (queries, keys) = layer(queries: queries, keys: keys, queryPE: tokens, keyPE: state.imagePE,
                                    sharedKeyProjections: i == 0 ? state.shared : nil)
        }
        let q = queries.adding(broadcast: tokens)
        let k = keys.adding(broadcast: state.imagePE)
        queries.addInPlace(broadcast: finalAttnTokenToImage.tokenToImage(q: q, k: k, v: keys))
        return (normFinalAttn(queries), keys)
    }
}
