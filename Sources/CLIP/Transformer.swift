import Layers
import Tensors

/// `clip/model.py: ResidualAttentionBlock`: x += attn(ln_1(x)); x += c_proj(QuickGELU(c_fc(ln_2(x)))).
/// Attention is `nn.MultiheadAttention` with a fused [3W, W] in-projection (q | k | v rows).
struct ResidualAttentionBlock: Sendable {
    let attn: MultiheadAttention     // in_proj [3W, W] packed, out_proj
    let ln1: LayerNorm               // ln_1
    let mlp: FeedForward             // ln_2, mlp.c_fc [4W, W], mlp.c_proj [W, 4W]

    init(_ weights: WeightLoader, width: Int, heads: Int) throws {
        attn = try MultiheadAttention(packed: weights.scoped("attn"), dim: width, heads: heads)
        ln1 = try LayerNorm(weights.scoped("ln_1"), dim: width)
        let ln2 = try LayerNorm(weights.scoped("ln_2"), dim: width)
        let cFc = try Linear(weights.scoped("mlp.c_fc"), inputs: width, outputs: 4 * width)
        let cProj = try Linear(weights.scoped("mlp.c_proj"), inputs: 4 * width, outputs: width)
        mlp = FeedForward(fc1Weight: cFc.weight, fc1Bias: cFc.bias, fc2Weight: cProj.weight, fc2Bias: cProj.bias,
                          activation: .quickGelu, norm: ln2.feedForwardNorm)
    }

    /// x: [sequences·length, W], each sequence's rows contiguous (equal lengths); updated in place.
    func callAsFunction(_ x: inout Tensor, sequences: Int, mask: (any AttentionBias)?) {
        let attended = attn.selfAttentionHeads(ln1(x), sequences: sequences, bias: mask)  // [rows, W]
        attn.outProj.addResidual(attended, to: &x)
        mlp.addResidual(to: &x)
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

    func callAsFunction(_ x: inout Tensor, sequences: Int, mask: (any AttentionBias)? = nil) {
        for block in resblocks { block(&x, sequences: sequences, mask: mask) }
    }
}
