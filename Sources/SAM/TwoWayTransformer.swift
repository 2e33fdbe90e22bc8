import Foundation
import Tensors

// Port of segment_anything/modeling/transformer.py (TwoWayTransformer, TwoWayAttentionBlock,
// Attention), batched over prompts: queries [B, T, E] (the output and prompt tokens), keys
// [B, N, E] (the image tokens). Until block 0's image→token attention the keys are the same
// image for every prompt, so that part runs once and is shared ("prompt-independent work").

/// The decoder's attention: q/k/v projections to `internal = E / downsample`, heads over that.
struct DecoderAttention: Sendable {
    let qProj: Linear, kProj: Linear, vProj: Linear, outProj: Linear
    let heads: Int

    init(_ loader: WeightLoader, dim: Int, heads: Int) throws {
        qProj = try Linear(loader.scoped("q_proj"), inputs: dim)
        let inner = qProj.outputs
        kProj = try Linear(loader.scoped("k_proj"), inputs: dim, outputs: inner)
        vProj = try Linear(loader.scoped("v_proj"), inputs: dim, outputs: inner)
        outProj = try Linear(loader.scoped("out_proj"), inputs: inner, outputs: dim)
        guard inner % heads == 0 else {
            throw SAMError.inconsistentWeights(key: loader.key("q_proj.weight"), reason: "internal width \(inner) not divisible by \(heads) heads")
        }
        self.heads = heads
    }

    /// Attention on already projected q [B or 1, Nq, inner], k and v [B or 1, Nk, inner]: a tensor
    /// with a leading 1 is shared by every prompt. Returns out_proj(…) [B, Nq, E].
    func attend(q: Tensor, k: Tensor, v: Tensor, batch: Int) -> Tensor {
        let inner = qProj.outputs, headDim = inner / heads
        let nq = q.dim(-2), nk = k.dim(-2)
        let qShared = q.count == nq * inner, kvShared = k.count == nk * inner
        var out = Tensor(shape: [batch, nq, inner], unsafeUninitialized: { _ in })
        q.withUnsafeBufferPointer { qp in
            k.withUnsafeBufferPointer { kp in
                v.withUnsafeBufferPointer { vp in
                    out.withUnsafeMutableBufferPointer { op in
                        if kvShared && !qShared {
                            // Every prompt's queries against the same keys: one call over B·Nq rows.
                            Attention.compute(queries: qp.baseAddress!, queryStride: inner, keys: kp.baseAddress!, keyStride: inner,
                                              values: vp.baseAddress!, valueStride: inner, output: op.baseAddress!, outputStride: inner,
                                              queryCount: batch * nq, keyCount: nk, heads: heads, headDim: headDim, valueDim: headDim,
                                              scale: 1 / Float(headDim).squareRoot(), bias: nil)
                            return
                        }
                        if !qShared && !kvShared {
                            // Each prompt's own queries, keys and values: one call over the B sequences.
                            Attention.compute(queries: qp.baseAddress!, queryStride: inner, keys: kp.baseAddress!, keyStride: inner,
                                              values: vp.baseAddress!, valueStride: inner, output: op.baseAddress!, outputStride: inner,
                                              queryCount: nq, keyCount: nk, heads: heads, headDim: headDim, valueDim: headDim,
                                              scale: 1 / Float(headDim).squareRoot(), bias: nil, sequences: batch)
                            return
                        }
                        for b in 0..<batch {
                            Attention.compute(queries: qp.baseAddress! + (qShared ? 0 : b * nq * inner), queryStride: inner,
                                              keys: kp.baseAddress! + (kvShared ? 0 : b * nk * inner), keyStride: inner,
                                              values: vp.baseAddress! + (kvShared ? 0 : b * nk * inner), valueStride: inner,
                                              output: op.baseAddress! + b * nq * inner, outputStride: inner,
                                              queryCount: nq, keyCount: nk, heads: heads, headDim: headDim, valueDim: headDim,
                                              scale: 1 / Float(headDim).squareRoot(), bias: nil)
                        }
                    }
                }
            }
        }
        return outProj(out)
    }

    func callAsFunction(q: Tensor, k: Tensor, v: Tensor, batch: Int) -> Tensor {
        attend(q: qProj(q), k: kProj(k), v: vProj(v), batch: batch)
    }

    // MARK: Few tokens against many image tokens, per prompt
    //
    // With T ≈ 7 tokens and N = 4096 image tokens, projecting the image side (N×E×inner per
    // projection) costs more than folding the projection into the token side: scores and outputs
    // are then GEMMs of N×E against H·T columns. Same arithmetic up to rounding order.

    /// Token→image: tokens q [B, T, E] (with PE) attend to image keys k [B, N, E] (with PE), values v [B, N, E].
    func tokenToImage(q: Tensor, k: Tensor, v: Tensor) -> Tensor {
        let (batch, t, e) = (q.shape[0], q.shape[1], q.shape[2]), n = k.dim(-2)
        let inner = qProj.outputs, hd = inner / heads, rows = heads * t
        let qp = qProj(q)  // [B, T, inner]
        let scale = 1 / Float(hd).squareRoot()
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
        let inner = qProj.outputs, hd = inner / heads, cols = heads * t
        let n = imageQ?.shape[0] ?? image!.dim(-2)
        let scale = 1 / Float(hd).squareRoot()
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
    let selfAttn: DecoderAttention
    let norm1: LayerNorm
    let crossAttnTokenToImage: DecoderAttention
    let norm2: LayerNorm
    let mlp: MLPBlock
    let norm3: LayerNorm
    let norm4: LayerNorm
    let crossAttnImageToToken: DecoderAttention
    let skipFirstLayerPE: Bool

    init(_ loader: WeightLoader, dim: Int, heads: Int, skipFirstLayerPE: Bool) throws {
        selfAttn = try DecoderAttention(loader.scoped("self_attn"), dim: dim, heads: heads)
        crossAttnTokenToImage = try DecoderAttention(loader.scoped("cross_attn_token_to_image"), dim: dim, heads: heads)
        crossAttnImageToToken = try DecoderAttention(loader.scoped("cross_attn_image_to_token"), dim: dim, heads: heads)
        mlp = try MLPBlock(loader.scoped("mlp"), dim: dim, activation: .relu)
        // nn.LayerNorm's default eps 1e-5, as the original (the Hugging Face port uses 1e-6).
        norm1 = try LayerNorm(loader.scoped("norm1"), channels: dim, eps: 1e-5)
        norm2 = try LayerNorm(loader.scoped("norm2"), channels: dim, eps: 1e-5)
        norm3 = try LayerNorm(loader.scoped("norm3"), channels: dim, eps: 1e-5)
        norm4 = try LayerNorm(loader.scoped("norm4"), channels: dim, eps: 1e-5)
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
            let q = queries.adding(queryPE)
            queries.addInPlace(selfAttn(q: q, k: q, v: queries, batch: batch))
        }
        queries = norm1(queries)

        let keysWithPE = sharedKeyProjections == nil ? keys.adding(broadcast: keyPE) : keys
        var q = queries.adding(queryPE)
        let k2i = sharedKeyProjections.map { crossAttnTokenToImage.attend(q: crossAttnTokenToImage.qProj(q), k: $0.tokenToImageK, v: $0.tokenToImageV, batch: batch) }
            ?? crossAttnTokenToImage.tokenToImage(q: q, k: keysWithPE, v: keys)
        queries.addInPlace(k2i)
        queries = norm2(queries)
        mlp.addResidual(to: &queries)
        queries = norm3(queries)

        q = queries.adding(queryPE)
        var newKeys = crossAttnImageToToken.imageToToken(image: sharedKeyProjections == nil ? keysWithPE : nil,
                                                         imageQ: sharedKeyProjections?.imageToTokenQ, k: q, v: queries)  // [B, N, E]
        newKeys.addInPlace(keys)  // keys broadcast when shared
        return (queries, norm4(newKeys))
    }

    /// Projections of the (prompt-independent) image keys that block 0 needs.
    struct SharedKeys: Sendable {
        let tokenToImageK: Tensor, tokenToImageV: Tensor, imageToTokenQ: Tensor
    }

    func sharedKeys(image: Tensor, imagePE: Tensor) -> SharedKeys {
        let withPE = image.adding(imagePE)
        return SharedKeys(tokenToImageK: crossAttnTokenToImage.kProj(withPE), tokenToImageV: crossAttnTokenToImage.vProj(image),
                          imageToTokenQ: crossAttnImageToToken.qProj(withPE))
    }
}

/// `TwoWayTransformer`: `depth` blocks, then a final token→image attention and LayerNorm.
public struct TwoWayTransformer: Sendable {
    let layers: [TwoWayAttentionBlock]
    let finalAttnTokenToImage: DecoderAttention
    let normFinalAttn: LayerNorm

    init(_ loader: WeightLoader, dim: Int, heads: Int) throws {
        var layers: [TwoWayAttentionBlock] = []
        while loader.contains("layers.\(layers.count).norm1.weight") {
            layers.append(try TwoWayAttentionBlock(loader.scoped("layers").scoped(layers.count), dim: dim, heads: heads,
                                                   skipFirstLayerPE: layers.isEmpty))
        }
        guard !layers.isEmpty else { throw SAMError.inconsistentWeights(key: loader.key("layers.0.norm1.weight"), reason: "no layers") }
        self.layers = layers
        finalAttnTokenToImage = try DecoderAttention(loader.scoped("final_attn_token_to_image"), dim: dim, heads: heads)
        normFinalAttn = try LayerNorm(loader.scoped("norm_final_attn"), channels: dim, eps: 1e-5)
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
        let q = queries.adding(tokens)
        let k = keys.adding(broadcast: state.imagePE)
        queries.addInPlace(finalAttnTokenToImage.tokenToImage(q: q, k: k, v: keys))
        return (normFinalAttn(queries), keys)
    }
}

extension Tensor {
    /// self + other repeated over the leading dimension (other is [N, E], self [B, N, E]).
    func adding(broadcast other: Tensor) -> Tensor {
        var out = self
        out.addInPlace(other)
        return out
    }
}
