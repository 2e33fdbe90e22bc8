import Tensors

/// `clip/model.py: ResidualAttentionBlock`: x += attn(ln_1(x)); x += c_proj(QuickGELU(c_fc(ln_2(x)))).
/// Attention is `nn.MultiheadAttention` with a fused [3W, W] in-projection (q | k | v rows).
struct ResidualAttentionBlock: Sendable {
    let width: Int, heads: Int
    let inProjWeight: Tensor, inProjBias: Tensor      // attn.in_proj_weight [3W, W], attn.in_proj_bias [3W]
    let outProjWeight: Tensor, outProjBias: Tensor    // attn.out_proj.{weight,bias}
    let ln1Weight: Tensor, ln1Bias: Tensor            // ln_1
    let mlp: FeedForward                              // ln_2, mlp.c_fc [4W, W], mlp.c_proj [W, 4W]

    init(_ weights: WeightLoader, width: Int, heads: Int) throws {
        self.width = width
        self.heads = heads
        let attn = weights.scoped("attn"), mlp = weights.scoped("mlp")
        inProjWeight = try attn.tensor("in_proj_weight", shape: [3 * width, width])
        inProjBias = try attn.tensor("in_proj_bias", shape: [3 * width])
        outProjWeight = try attn.scoped("out_proj").tensor("weight", shape: [width, width])
        outProjBias = try attn.scoped("out_proj").tensor("bias", shape: [width])
        ln1Weight = try weights.scoped("ln_1").tensor("weight", shape: [width])
        ln1Bias = try weights.scoped("ln_1").tensor("bias", shape: [width])
        let ln2 = weights.scoped("ln_2")
        self.mlp = FeedForward(
            fc1Weight: try mlp.scoped("c_fc").tensor("weight", shape: [4 * width, width]),
            fc1Bias: try mlp.scoped("c_fc").tensor("bias", shape: [4 * width]),
            fc2Weight: try mlp.scoped("c_proj").tensor("weight", shape: [width, 4 * width]),
            fc2Bias: try mlp.scoped("c_proj").tensor("bias", shape: [width]), activation: .quickGelu,
            norm: .init(weight: try ln2.tensor("weight", shape: [width]), bias: try ln2.tensor("bias", shape: [width]), eps: 1e-5))
    }

    /// x: [sequences·length, W], each sequence's rows contiguous; updated in place.
    func callAsFunction(_ x: inout Tensor, sequences: Int, length: Int, mask: (any AttentionBias)?) {
        let qkv = x.layerNorm(weight: ln1Weight, bias: ln1Bias, eps: 1e-5)
            .linear(weight: inProjWeight, bias: inProjBias)                        // [rows, 3W]
        let attended = attention(qkv, sequences: sequences, length: length, mask: mask)  // [rows, W]
        x.addLinear(attended, weight: outProjWeight, bias: outProjBias)
        mlp.addResidual(to: &x)
    }

    /// Multi-head attention of each sequence over itself, reading q, k, v as column slices of qkv.
    private func attention(_ qkv: Tensor, sequences: Int, length: Int, mask: (any AttentionBias)?) -> Tensor {
        let headDim = width / heads
        return Tensor(shape: [sequences * length, width]) { out in
            qkv.withUnsafeBufferPointer { qkv in
                Attention.compute(
                    queries: qkv.baseAddress!, queryStride: 3 * width, keys: qkv.baseAddress! + width, keyStride: 3 * width,
                    values: qkv.baseAddress! + 2 * width, valueStride: 3 * width, output: out.baseAddress!, outputStride: width,
                    queryCount: length, keyCount: length, heads: heads, headDim: headDim, valueDim: headDim,
                    scale: 1 / Float(headDim).squareRoot(), bias: mask, sequences: sequences)
            }
        }
    }
}

/// `clip/model.py: Transformer`: the residual blocks in order (`resblocks.{i}`).
struct Transformer: Sendable {
    let resblocks: [ResidualAttentionBlock]

    init(_ weights: WeightLoader, width: Int, layers: Int, heads: Int) throws {
        resblocks = try (0..<layers).map {
            try ResidualAttentionBlock(weights.scoped("resblocks").scoped($0), width: width, heads: heads)
        }
    }

    func callAsFunction(_ x: inout Tensor, sequences: Int, length: Int, mask: (any AttentionBias)? = nil) {
        for block in resblocks { block(&x, sequences: sequences, length: length, mask: mask) }
    }
}
