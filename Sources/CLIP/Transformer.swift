import Tensors

/// `clip/model.py: ResidualAttentionBlock`: x += attn(ln_1(x)); x += c_proj(QuickGELU(c_fc(ln_2(x)))).
/// Attention is `nn.MultiheadAttention` with a fused [3W, W] in-projection (q | k | v rows).
struct ResidualAttentionBlock: Sendable {
    let width: Int, heads: Int
    let inProjWeight: Tensor, inProjBias: Tensor      // attn.in_proj_weight [3W, W], attn.in_proj_bias [3W]
    let outProjWeight: Tensor, outProjBias: Tensor    // attn.out_proj.{weight,bias}
    let ln1Weight: Tensor, ln1Bias: Tensor            // ln_1
    let fcWeight: Tensor, fcBias: Tensor              // mlp.c_fc [4W, W]
    let projWeight: Tensor, projBias: Tensor          // mlp.c_proj [W, 4W]
    let ln2Weight: Tensor, ln2Bias: Tensor            // ln_2

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
        fcWeight = try mlp.scoped("c_fc").tensor("weight", shape: [4 * width, width])
        fcBias = try mlp.scoped("c_fc").tensor("bias", shape: [4 * width])
        projWeight = try mlp.scoped("c_proj").tensor("weight", shape: [width, 4 * width])
        projBias = try mlp.scoped("c_proj").tensor("bias", shape: [width])
        ln2Weight = try weights.scoped("ln_2").tensor("weight", shape: [width])
        ln2Bias = try weights.scoped("ln_2").tensor("bias", shape: [width])
    }

    /// x: [sequences·length, W], each sequence's rows contiguous; updated in place.
    func callAsFunction(_ x: inout Tensor, sequences: Int, length: Int, mask: (any AttentionBias)?) {
        let qkv = x.layerNorm(weight: ln1Weight, bias: ln1Bias, eps: 1e-5)
            .linear(weight: inProjWeight, bias: inProjBias)                        // [rows, 3W]
        let attended = attention(qkv, sequences: sequences, length: length, mask: mask)  // [rows, W]
        addLinear(attended, weight: outProjWeight, bias: outProjBias, into: &x)
        let hidden = x.layerNorm(weight: ln2Weight, bias: ln2Bias, eps: 1e-5)
            .linear(weight: fcWeight, bias: fcBias).quickGelu()                   // [rows, 4W]
        addLinear(hidden, weight: projWeight, bias: projBias, into: &x)
    }

    /// Multi-head attention of each sequence over itself, reading q, k, v as column slices of qkv.
    private func attention(_ qkv: Tensor, sequences: Int, length: Int, mask: (any AttentionBias)?) -> Tensor {
        let headDim = width / heads
        return Tensor(shape: [sequences * length, width]) { out in
            qkv.withUnsafeBufferPointer { qkv in
                for s in 0..<sequences {
                    let base = qkv.baseAddress! + s * length * 3 * width
                    Attention.compute(
                        queries: base, queryStride: 3 * width,
                        keys: base + width, keyStride: 3 * width,
                        values: base + 2 * width, valueStride: 3 * width,
                        output: out.baseAddress! + s * length * width, outputStride: width,
                        queryCount: length, keyCount: length, heads: heads, headDim: headDim, valueDim: headDim,
                        scale: 1 / Float(headDim).squareRoot(), bias: mask)
                }
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

/// x += input·Wᵀ + b, accumulated by the GEMM itself (beta = 1) so the residual costs no extra pass
/// over a temporary. input: [rows, in]; weight: [out, in]; x: [rows, out].
func addLinear(_ input: Tensor, weight: Tensor, bias: Tensor, into x: inout Tensor) {
    let rows = input.count / input.dim(-1), inputs = input.dim(-1), outputs = weight.dim(0)
    precondition(x.count == rows * outputs, "addLinear: \(input.shape) · \(weight.shape) does not fit \(x.shape)")
    x.withUnsafeMutableBufferPointer { out in
        let c = out.baseAddress!
        bias.withUnsafeBufferPointer { b in
            for row in 0..<rows {
                let target = c + row * outputs
                for j in 0..<outputs { target[j] += b[j] }
            }
        }
        input.withUnsafeBufferPointer { a in
            weight.withUnsafeBufferPointer { w in
                GEMM.sgemm(m: rows, n: outputs, k: inputs, a: a.baseAddress!, lda: inputs,
                           b: w.baseAddress!, ldb: inputs, transB: true, c: c, ldc: outputs, beta: 1)
            }
        }
    }
}
