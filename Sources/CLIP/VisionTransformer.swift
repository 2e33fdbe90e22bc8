import Tensors

/// `clip/model.py: VisionTransformer` (keys under `visual.`).
///
/// RegionSpot fuses the token map (CLS + grid after the last block, before `ln_post`, its
/// `encode_image_featuremap`); the pooled embedding is `ln_post(x[:, 0]) @ proj`.
public struct VisionTransformer: Sendable {
    public let configuration: CLIPConfiguration.Vision
    let conv1Weight: Tensor             // conv1.weight [W, 3, p, p] as [W, 3·p·p] (no bias)
    let classEmbedding: Tensor          // class_embedding [W]
    let positionalEmbedding: Tensor     // positional_embedding [1 + g², W]
    let lnPreWeight: Tensor, lnPreBias: Tensor
    let transformer: Transformer
    let lnPostWeight: Tensor, lnPostBias: Tensor
    let proj: Tensor                    // proj [W, E]

    init(_ weights: WeightLoader, configuration c: CLIPConfiguration.Vision) throws {
        configuration = c
        let patch = c.patchSize
        conv1Weight = try weights.tensor("conv1.weight", shape: [c.width, 3, patch, patch]).reshaped([c.width, 3 * patch * patch])
        classEmbedding = try weights.tensor("class_embedding", shape: [c.width])
        positionalEmbedding = try weights.tensor("positional_embedding", shape: [c.grid * c.grid + 1, c.width])
        lnPreWeight = try weights.tensor("ln_pre.weight", shape: [c.width])
        lnPreBias = try weights.tensor("ln_pre.bias", shape: [c.width])
        transformer = try Transformer(weights.scoped("transformer"), width: c.width, layers: c.layers, heads: c.heads)
        lnPostWeight = try weights.tensor("ln_post.weight", shape: [c.width])
        lnPostBias = try weights.tensor("ln_post.bias", shape: [c.width])
        proj = try weights.tensor("proj", shape: [c.width, c.outputDimension])
    }

    /// Token map of normalised pixels [3, H, W] or [B, 3, H, W] → [B, 1 + gh·gw, width], with
    /// gh = H / patch (floor, as the strided conv). Another grid than the trained one interpolates
    /// the positional embedding (bicubic, `align_corners=False`, CLS position kept).
    public func tokenMap(_ pixels: Tensor) throws -> Tensor {
        guard (pixels.rank == 3 || pixels.rank == 4), pixels.dim(-3) == 3 else {
            throw CLIPError.badInput("pixels must be [3, H, W] or [B, 3, H, W], got \(pixels.shape)")
        }
        let patch = configuration.patchSize, width = configuration.width
        let batch = pixels.rank == 4 ? pixels.dim(0) : 1
        let height = pixels.dim(-2), imageWidth = pixels.dim(-1)
        guard height >= patch, imageWidth >= patch else {
            throw CLIPError.badInput("pixels \(pixels.shape) are smaller than one \(patch)×\(patch) patch")
        }
        let gridHeight = height / patch, gridWidth = imageWidth / patch
        let tokens = 1 + gridHeight * gridWidth
        let positions = positionalEmbedding(gridHeight: gridHeight, gridWidth: gridWidth)   // [tokens, W]
        var x = Tensor(shape: [batch * tokens, width]) { (out: UnsafeMutableBufferPointer<Float>) in
            for b in 0..<batch {
                let image = out.baseAddress! + b * tokens * width
                image.update(from: classEmbedding.scalars, count: width)
                // conv1 with kernel = stride = patch is a GEMM of the flattened patches.
                let patches = patchify(pixels, image: b, gridHeight: gridHeight, gridWidth: gridWidth)
                patches.withUnsafeBufferPointer { p in
                    conv1Weight.withUnsafeBufferPointer { w in
                        GEMM.sgemm(m: tokens - 1, n: width, k: 3 * patch * patch, a: p.baseAddress!, lda: 3 * patch * patch,
                                   b: w.baseAddress!, ldb: 3 * patch * patch, transB: true,
                                   c: image + width, ldc: width)
                    }
                }
                positions.withUnsafeBufferPointer { pos in
                    for i in 0..<(tokens * width) { image[i] += pos[i] }
                }
            }
        }
        x = x.layerNorm(weight: lnPreWeight, bias: lnPreBias, eps: 1e-5)
        transformer(&x, sequences: batch, length: tokens)
        return x.reshaped([batch, tokens, width])
    }

    /// `ln_post(x[:, 0]) @ proj` for a token map [B, tokens, W] → [B, E] (not normalised).
    public func pooled(_ tokenMap: Tensor) -> Tensor {
        let cls = tokenMap.slice(axis: 1, range: 0..<1).reshaped([tokenMap.dim(0), configuration.width])
        return cls.layerNorm(weight: lnPostWeight, bias: lnPostBias, eps: 1e-5).matmul(proj)
    }

    /// The positional embedding for a gh×gw grid: as trained, or its grid part resized bicubically
    /// (RegionSpot's `build_model(image_size=)`, HF's `interpolate_pos_encoding`), CLS row kept.
    func positionalEmbedding(gridHeight: Int, gridWidth: Int) -> Tensor {
        let grid = configuration.grid, width = configuration.width
        if gridHeight == grid && gridWidth == grid { return positionalEmbedding }
        let cells = positionalEmbedding.rows(1..<(grid * grid + 1))
            .transposed().reshaped([width, grid, grid])                              // [W, g, g]
            .interpolated(height: gridHeight, width: gridWidth, mode: .bicubic)      // [W, gh, gw]
            .reshaped([width, gridHeight * gridWidth]).transposed()                   // [gh·gw, W]
        return Tensor.concatenate([positionalEmbedding.rows(0..<1), cells])
    }

    /// Rows of 3·p·p values (channel, row, column order, as conv1's weight) for each patch.
    private func patchify(_ pixels: Tensor, image: Int, gridHeight: Int, gridWidth: Int) -> Tensor {
        let patch = configuration.patchSize
        let height = pixels.dim(-2), width = pixels.dim(-1)
        return Tensor(shape: [gridHeight * gridWidth, 3 * patch * patch]) { out in
            pixels.withUnsafeBufferPointer { source in
                let imageBase = source.baseAddress! + image * 3 * height * width
                var target = out.baseAddress!
                for gy in 0..<gridHeight {
                    for gx in 0..<gridWidth {
                        for c in 0..<3 {
                            for ky in 0..<patch {
                                let row = imageBase + c * height * width + (gy * patch + ky) * width + gx * patch
                                target.update(from: row, count: patch)
                                target += patch
                            }
                        }
                    }
                }
            }
        }
    }
}
