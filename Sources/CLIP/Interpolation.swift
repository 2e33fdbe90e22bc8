import Tensors

/// PyTorch `F.interpolate(mode='bicubic', align_corners=False)` of [C, H, W] through the Tensors
/// interpolation kernel.
func resizeBicubic(_ x: Tensor, height: Int, width: Int) throws -> Tensor {
    throw CLIPError.badInput("positional-embedding interpolation needs Tensor.interpolated (not yet in Tensors); input grid \(x.shape) → \(height)×\(width)")
}
