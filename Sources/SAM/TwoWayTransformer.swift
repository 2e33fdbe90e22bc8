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
            ?? crossAttnTokenToImage(q: q, k: keysWithPE, v: keys, batch: batch)
        queries.addInPlace(k2i)
        queries = norm2(queries)
        queries.addInPlace(mlp(queries))
        queries = norm3(queries)

        q = queries.adding(queryPE)
        let imageQ = sharedKeyProjections?.imageToTokenQ ?? crossAttnImageToToken.qProj(keysWithPE)
        let i2t = crossAttnImageToToken.attend(q: imageQ, k: crossAttnImageToToken.kProj(q), v: crossAttnImageToToken.vProj(queries), batch: batch)
        var newKeys = i2t  // [B, N, E]
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
        queries.addInPlace(finalAttnTokenToImage(q: q, k: k, v: keys, batch: tokens.shape[0]))
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
