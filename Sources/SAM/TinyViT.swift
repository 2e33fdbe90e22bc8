import Foundation
import Layers
import Tensors

// Port of MobileSAM's mobile_sam/modeling/tiny_vit_sam.py (TinyViT, Conv2d_BN, MBConv,
// PatchMerging, ConvLayer, BasicLayer, TinyViTBlock, Attention, Mlp), eval mode: batch norms
// are folded into their convolutions at load. Convolutional stages run on planes [C, H, W],
// attention stages on tokens [H·W, C].

/// MobileSAM's TinyViT image encoder, configured from the weights.
public struct TinyViT: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// Input side in pixels; TinyViT's weights do not record it (MobileSAM uses 1024).
        public var imageSize: Int
        public var embedDims: [Int]
        public var depths: [Int]
        public var heads: [Int]
        public var windowSizes: [Int]
        public var outChannels: Int
    }

    public let configuration: Configuration
    let patchEmbed: (ConvBN, ConvBN)
    let convBlocks: [MBConv]
    let merges: [PatchMerging]  // after stage i, for i < stages − 1
    let stages: [[TinyViTBlock]]  // stages 1…
    let neck: Neck

    /// Loads from `loader` scoped at `image_encoder`.
    public init(_ loader: WeightLoader, imageSize: Int = 1024) throws {
        patchEmbed = (try ConvBN(loader.scoped("patch_embed.seq.0"), stride: 2, padding: 1),
                      try ConvBN(loader.scoped("patch_embed.seq.2"), stride: 2, padding: 1))
        // Stage 0 is convolutional (MBConv blocks); the later stages are attention blocks.
        var stageCount = loader.contains("layers.0.blocks.0.conv1.c.weight") ? 1 : 0
        while stageCount > 0 && loader.contains("layers.\(stageCount).blocks.0.attn.qkv.weight") { stageCount += 1 }
        guard stageCount >= 2 else {
            throw SAMError.inconsistentWeights(key: loader.key("layers"), reason: "expected a convolutional stage and attention stages")
        }
        var dims = [patchEmbed.1.outputs]
        var convBlocks: [MBConv] = []
        while loader.contains("layers.0.blocks.\(convBlocks.count).conv1.c.weight") {
            convBlocks.append(try MBConv(loader.scoped("layers.0.blocks").scoped(convBlocks.count)))
        }
        self.convBlocks = convBlocks
        var merges: [PatchMerging] = [], stages: [[TinyViTBlock]] = []
        var depths = [convBlocks.count], heads = [0], windows = [0]
        for s in 0..<stageCount {
            if s > 0 {
                var blocks: [TinyViTBlock] = []
                while loader.contains("layers.\(s).blocks.\(blocks.count).attn.qkv.weight") {
                    blocks.append(try TinyViTBlock(loader.scoped("layers.\(s).blocks").scoped(blocks.count), dim: dims[s]))
                }
                stages.append(blocks)
                depths.append(blocks.count)
                heads.append(blocks.first?.attention.heads ?? 0)
                windows.append(blocks.first?.windowSize ?? 0)
            }
            if s < stageCount - 1 {
                // The last merge keeps the resolution (MobileSAM: out_dim 320/448/576 → stride 1), as the
                // reference's resolution bookkeeping for the last stage assumes.
                let merge = try PatchMerging(loader.scoped("layers.\(s).downsample"), stride: s == stageCount - 2 ? 1 : 2)
                merges.append(merge)
                dims.append(merge.outputs)
            }
        }
        self.merges = merges
        self.stages = stages
        neck = try Neck(loader.scoped("neck"), inputs: dims.last!)
        configuration = Configuration(imageSize: imageSize, embedDims: dims, depths: depths, heads: heads,
                                      windowSizes: windows, outChannels: neck.outChannels)
    }

    /// pixels [3, S, S] → embedding [out, S/16, S/16].
    public func callAsFunction(_ pixels: Tensor) -> Tensor {
        let size = configuration.imageSize
        precondition(pixels.shape == [3, size, size], "TinyViT: pixels \(pixels.shape), expected [3, \(size), \(size)]")
        var x = patchEmbed.1(patchEmbed.0(pixels).gelu())  // [C0, S/4, S/4]
        for block in convBlocks { x = block(x) }
        var side = x.shape[1]
        var tokens = merges[0](x)  // [(side/2)², C1]
        side = (side + 1) / 2
        for (s, blocks) in stages.enumerated() {
            for block in blocks { tokens = block(tokens, side: side) }
            if s + 1 < merges.count {
                let merge = merges[s + 1]
                tokens = merge(tokensToPlanes(tokens, height: side, width: side))
                side = (side - 1) / merge.stride + 1
            }
        }
        return neck(tokens, grid: side)
    }
}

/// `Conv2d_BN` with the batch norm (eps 1e-5, running statistics) folded into the convolution.
struct ConvBN: Sendable {
    let weight: Tensor
    let bias: Tensor
    let stride: Int, padding: Int, groups: Int

    init(_ loader: WeightLoader, stride: Int = 1, padding: Int = 0, groups: Int = 1) throws {
        guard let shape = loader.shape(of: "c.weight"), shape.count == 4 else {
            throw SAMError.inconsistentWeights(key: loader.key("c.weight"), reason: "expected a [O, C/groups, k, k] convolution")
        }
        let o = shape[0]
        let bn = loader.scoped("bn")
        (weight, bias) = BatchNorm.fold(
            convWeight: try loader.tensor("c.weight", shape: shape), convBias: nil,
            weight: try bn.tensor("weight", shape: [o]), bias: try bn.tensor("bias", shape: [o]),
            runningMean: try bn.tensor("running_mean", shape: [o]), runningVar: try bn.tensor("running_var", shape: [o]), eps: 1e-5)
        bn.markUsed(bn.contains("num_batches_tracked") ? ["num_batches_tracked"] : [])
        (self.stride, self.padding, self.groups) = (stride, padding, groups)
    }

    var outputs: Int { weight.shape[0] }

    /// planes [C, H, W] → [O, H', W'].
    func callAsFunction(_ x: Tensor) -> Tensor {
        x.conv2d(weight: weight, bias: bias, stride: stride, padding: padding, groups: groups)
    }
}

/// `MBConv`: 1×1 expand → GELU → depthwise 3×3 → GELU → 1×1 project, + shortcut, then GELU.
struct MBConv: Sendable {
    let conv1: ConvBN, conv2: ConvBN, conv3: ConvBN

    init(_ loader: WeightLoader) throws {
        conv1 = try ConvBN(loader.scoped("conv1"))
        conv2 = try ConvBN(loader.scoped("conv2"), padding: 1, groups: conv1.outputs)
        conv3 = try ConvBN(loader.scoped("conv3"))
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        var y = conv3(conv2(conv1(x).gelu()).gelu())
        y.addInPlace(broadcast: x)
        return y.gelu()
    }
}

/// `PatchMerging`: 1×1 → GELU → depthwise 3×3 (stride 2, or 1 for the last merge) → GELU → 1×1; flattened to tokens.
struct PatchMerging: Sendable {
    let conv1: ConvBN, conv2: ConvBN, conv3: ConvBN
    let stride: Int

    init(_ loader: WeightLoader, stride: Int) throws {
        conv1 = try ConvBN(loader.scoped("conv1"))
        conv2 = try ConvBN(loader.scoped("conv2"), stride: stride, padding: 1, groups: conv1.outputs)
        conv3 = try ConvBN(loader.scoped("conv3"))
        self.stride = stride
    }

    var outputs: Int { conv3.outputs }

    /// planes [C, H, W] → tokens [H'·W', out].
    func callAsFunction(_ x: Tensor) -> Tensor {
        planesToTokens(conv3(conv2(conv1(x).gelu()).gelu()))
    }
}

/// `TinyViTBlock`: x += window_attn(x) (zero padding before the attention's own LayerNorm),
/// x = local_conv(x) (depthwise 3×3, no residual), x += mlp(x).
struct TinyViTBlock: Sendable {
    let attention: TinyViTAttention
    let localConv: ConvBN
    let mlp: FeedForward  // mlp.norm → mlp.fc1 → GELU → mlp.fc2

    init(_ loader: WeightLoader, dim: Int) throws {
        attention = try TinyViTAttention(loader.scoped("attn"), dim: dim)
        localConv = try ConvBN(loader.scoped("local_conv"), padding: 1, groups: dim)
        let norm = try LayerNorm(loader.scoped("mlp.norm"), dim: dim, eps: 1e-5)
        let fc1 = try Linear(loader.scoped("mlp.fc1"), inputs: dim)
        let fc2 = try Linear(loader.scoped("mlp.fc2"), inputs: fc1.outputs, outputs: dim)
        mlp = FeedForward(fc1Weight: fc1.weight, fc1Bias: fc1.bias, fc2Weight: fc2.weight, fc2Bias: fc2.bias,
                          activation: .gelu, norm: norm.feedForwardNorm)
    }

    var windowSize: Int { attention.windowSize }

    /// tokens [side², C] → [side², C].
    func callAsFunction(_ x: Tensor, side: Int) -> Tensor {
        let ws = windowSize
        var x = x
        // qkv of the real tokens; the reference's zero-padded tokens all get `paddingQKV`.
        let (windows, padded) = windowPartition(attention.qkv(x), grid: side, window: ws, padRow: attention.paddingQKV)
        let attended = attention.attend(windows, windows: (padded / ws) * (padded / ws))
        x.addLinear(windowMerge(attended, grid: side, window: ws), weight: attention.proj.weight, bias: attention.proj.bias)
        x = planesToTokens(localConv(tokensToPlanes(x, height: side, width: side)))
        mlp.addResidual(to: &x)
        return x
    }
}

/// TinyViT's `Attention` (attn_ratio 1): LayerNorm → qkv, split per head as [q | k | v] → softmax(q·kᵀ/√d + ab) v → proj.
struct TinyViTAttention: Sendable {
    let norm: LayerNorm
    let qkvWeight: Tensor  // rows regrouped to [q of all heads | k | v], as SAM lays them out
    let qkvBias: Tensor
    let paddingQKV: Tensor  // qkv of a zero token: LayerNorm gives its bias, then the projection
    let proj: Linear
    let bias: DenseAttentionBias  // attention_biases expanded to [heads, ws², ws²]
    let heads: Int
    let windowSize: Int

    init(_ loader: WeightLoader, dim: Int) throws {
        norm = try LayerNorm(loader.scoped("norm"), dim: dim, eps: 1e-5)
        guard let biasShape = loader.shape(of: "attention_biases"), biasShape.count == 2, dim % biasShape[0] == 0,
              let ws = Int(exactly: Double(biasShape[1]).squareRoot().rounded()), ws * ws == biasShape[1] else {
            throw SAMError.inconsistentWeights(key: loader.key("attention_biases"), reason: "expected [heads, ws·ws]")
        }
        (heads, windowSize) = (biasShape[0], ws)
        bias = Self.expandedBias(try loader.tensor("attention_biases", shape: biasShape), windowSize: ws)
        let w = try loader.tensor("qkv.weight", shape: [3 * dim, dim])
        let b = try loader.tensor("qkv.bias", shape: [3 * dim])
        // Reference: qkv.view(N, heads, 3·hd).split → row (h, part, j); regroup to (part, h, j).
        let hd = dim / heads
        var wRows = [Float](repeating: 0, count: w.count), bRows = [Float](repeating: 0, count: b.count)
        for h in 0..<heads {
            for part in 0..<3 {
                for j in 0..<hd {
                    let old = (h * 3 + part) * hd + j, new = (part * heads + h) * hd + j
                    for c in 0..<dim { wRows[new * dim + c] = w.scalars[old * dim + c] }
                    bRows[new] = b.scalars[old]
                }
            }
        }
        qkvWeight = Tensor(shape: [3 * dim, dim], scalars: wRows)
        qkvBias = Tensor(shape: [3 * dim], scalars: bRows)
        paddingQKV = norm.bias.reshaped([1, dim]).linear(weight: qkvWeight, bias: qkvBias).reshaped([3 * dim])
        proj = try Linear(loader.scoped("proj"), inputs: dim, outputs: dim)
    }

    /// tokens [n, C] → LayerNorm → qkv [n, 3C].
    func qkv(_ x: Tensor) -> Tensor { norm(x).linear(weight: qkvWeight, bias: qkvBias) }

    /// qkv [windows·ws², 3C] → attention output before `proj`, [windows·ws², C].
    func attend(_ qkv: Tensor, windows: Int) -> Tensor {
        let dim = qkvWeight.shape[1], hd = dim / heads, tokens = windowSize * windowSize
        var out = Tensor(shape: [windows * tokens, dim], unsafeUninitialized: { _ in })
        qkv.withUnsafeBufferPointer { q in
            out.withUnsafeMutableBufferPointer { o in
                Attention.compute(queries: q.baseAddress!, queryStride: 3 * dim, keys: q.baseAddress! + dim, keyStride: 3 * dim,
                                  values: q.baseAddress! + 2 * dim, valueStride: 3 * dim, output: o.baseAddress!, outputStride: dim,
                                  queryCount: tokens, keyCount: tokens, heads: heads, headDim: hd, valueDim: hd,
                                  scale: 1 / Float(hd).squareRoot(), bias: bias, sequences: windows)
            }
        }
        return out
    }
}

extension TinyViTAttention {
    /// ab[h, i, j] = attention_biases[h, |ri − rj|·ws + |ci − cj|] (the closed form of
    /// attention_bias_idxs), expanded once at load so attention adds it row by row.
    static func expandedBias(_ biases: Tensor, windowSize ws: Int) -> DenseAttentionBias {
        let heads = biases.shape[0], tokens = ws * ws
        var table = [Float](repeating: 0, count: heads * tokens * tokens)
        for h in 0..<heads {
            for q in 0..<tokens {
                for k in 0..<tokens {
                    table[(h * tokens + q) * tokens + k] = biases.scalars[h * tokens + abs(q / ws - k / ws) * ws + abs(q % ws - k % ws)]
                }
            }
        }
        return DenseAttentionBias(Tensor(shape: [heads, tokens, tokens], scalars: table))
    }
}
