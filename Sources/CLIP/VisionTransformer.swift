import Layers
import Tensors

/// `clip/model.py: VisionTransformer` (keys under `visual.`).
///
/// RegionSpot fuses the token map (CLS + grid after the last block, before `ln_post`, its
/// `encode_image_featuremap`); the pooled embedding is `ln_post(x[:, 0]) @ proj`.
public struct VisionTransformer: Sendable {
    public let configuration: CLIPConfiguration.Vision
    let conv1: PatchEmbedding           // conv1 (no bias)
    let classEmbedding: Tensor          // class_embedding [W]
    let positionalEmbedding: Tensor     // positional_embedding [1 + g², W]
    let lnPre: LayerNorm
    let transformer: Transformer
    let lnPost: LayerNorm
    let proj: Tensor                    // proj [W, E]

    init(_ weights: WeightLoader, configuration c: CLIPConfiguration.Vision) throws {
        configuration = c
        let patch = c.patchSize
        conv1 = try PatchEmbedding(weights.scoped("conv1"), embedDim: c.width, patchSize: patch, bias: false)
        classEmbedding = try weights.tensor("class_embedding", shape: [c.width])
        positionalEmbedding = try weights.tensor("positional_embedding", shape: [c.grid * c.grid + 1, c.width])
        lnPre = try LayerNorm(weights.scoped("ln_pre"), dim: c.width)
        transformer = try Transformer(weights.scoped("transformer"), width: c.width, layers: c.layers, heads: c.heads)
        lnPost = try LayerNorm(weights.scoped("ln_post"), dim: c.width)
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
                (image + width).update(from: conv1(pixels, image: b).scalars, count: (tokens - 1) * width)
                positions.withUnsafeBufferPointer { pos in
                    for i in 0..<(tokens * width) { image[i] += pos[i] }
                }
            }
        }
        x = lnPre(x)
        transformer(&x, sequences: batch)
        return x.reshaped([batch, tokens, width])
    }

    /// `ln_post(x[:, 0]) @ proj` for a token map [B, tokens, W] → [B, E] (not normalised).
    public func pooled(_ tokenMap: Tensor) -> Tensor {
        let cls = tokenMap.slice(axis: 1, range: 0..<1).reshaped([tokenMap.dim(0), configuration.width])
        return lnPost(cls).matmul(proj)
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
}
