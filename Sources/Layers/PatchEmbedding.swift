import Tensors

/// A ViT's patch embedding: `Conv2d(3, C, kernel_size=p, stride=p)` (SAM's `patch_embed.proj`,
/// CLIP's `conv1` without bias). A convolution whose kernel equals its stride is one GEMM over the
/// flattened patches, so the weight is kept as [C, 3·p·p].
public struct PatchEmbedding: ParameterizedLayer {
    /// [C, 3·p·p], flattened in the convolution weight's (channel, row, column) order.
    public var weight: Tensor
    public var bias: Tensor?
    public let patchSize: Int
    public let channels: Int

    /// Loads `weight` [C, 3, p, p] (and `bias` [C] when `bias` is true) under `loader`.
    public init(_ loader: WeightLoader, embedDim: Int, patchSize: Int, inputChannels: Int = 3, bias: Bool) throws {
        self.patchSize = patchSize
        channels = inputChannels
        weight = try loader.tensor("weight", shape: [embedDim, inputChannels, patchSize, patchSize])
            .reshaped([embedDim, inputChannels * patchSize * patchSize])
        self.bias = bias ? try loader.tensor("bias", shape: [embedDim]) : nil
    }

    public var embedDim: Int { weight.dim(0) }

    /// pixels [channels, H, W] (or image `index` of [B, channels, H, W]) → tokens [gh·gw, C],
    /// with gh = H / p and gw = W / p (floor, as the strided convolution), row-major over the grid.
    public func callAsFunction(_ pixels: Tensor, image index: Int = 0) -> Tensor {
        patches(pixels, image: index).linear(weight: weight, bias: bias)
    }

    /// [gh·gw, channels·p·p]: each patch's pixels in the weight's flattening order.
    func patches(_ pixels: Tensor, image index: Int) -> Tensor {
        let p = patchSize, height = pixels.dim(-2), width = pixels.dim(-1)
        precondition(pixels.dim(-3) == channels && height >= p && width >= p, "PatchEmbedding: pixels \(pixels.shape) for \(p)×\(p) patches")
        let gridHeight = height / p, gridWidth = width / p, rowSize = channels * p * p
        return Tensor(shape: [gridHeight * gridWidth, rowSize]) { out in
            pixels.withUnsafeBufferPointer { source in
                let image = source.baseAddress! + index * channels * height * width
                let target = out.baseAddress!
                Parallel.forEachChunk(gridHeight, minimumPerChunk: 4) { gridRows in
                    for gy in gridRows {
                        for gx in 0..<gridWidth {
                            var row = target + (gy * gridWidth + gx) * rowSize
                            for c in 0..<channels {
                                for ky in 0..<p {
                                    row.update(from: image + (c * height + gy * p + ky) * width + gx * p, count: p)
                                    row += p
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The weight is handed out in the checkpoint's shape [C, channels, p, p].
    public mutating func updateParameters(prefix: String, _ body: (String, inout Tensor) throws -> Void) rethrows {
        var convolution = weight.reshaped([embedDim, channels, patchSize, patchSize])
        try body(parameterKey(prefix, "weight"), &convolution)
        weight = convolution.reshaped([embedDim, channels * patchSize * patchSize])
        if var b = bias {
            try body(parameterKey(prefix, "bias"), &b)
            bias = b
        }
    }
}
