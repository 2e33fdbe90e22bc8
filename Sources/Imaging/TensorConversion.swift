import Tensors

/// The value range of pixels stored in a float tensor.
public enum PixelRange: Sendable {
    /// 0…255, as SAM's `preprocess` expects before its mean/std normalisation.
    case byte
    /// 0…1, as torchvision's `to_tensor` produces (CLIP's input).
    case unit

    var factor: Float { self == .byte ? 1 : 255 }
}

extension RGBImage {
    /// The image as a [3, height, width] float tensor (channel-planar, as PyTorch's CHW).
    public func tensor(range: PixelRange = .byte) -> Tensor {
        let planeSize = width * height
        let factor = range.factor
        return Tensor(shape: [3, height, width]) { out in
            pixels.withUnsafeBufferPointer { source in
                for i in 0..<planeSize {
                    for c in 0..<3 { out[c * planeSize + i] = Float(source[i * 3 + c]) / factor }
                }
            }
        }
    }

    /// An image from a [3, height, width] tensor in `range`, rounded to the nearest byte and
    /// clipped to 0…255.
    public init(tensor: Tensor, range: PixelRange = .byte) {
        precondition(tensor.rank == 3 && tensor.shape[0] == 3, "an RGB image needs a [3, height, width] tensor, got \(tensor.shape)")
        let height = tensor.shape[1], width = tensor.shape[2], planeSize = width * height
        let factor = range.factor
        var pixels = [UInt8](repeating: 0, count: planeSize * 3)
        tensor.withUnsafeBufferPointer { source in
            for i in 0..<planeSize {
                for c in 0..<3 {
                    let value = (source[c * planeSize + i] * factor).rounded()
                    pixels[i * 3 + c] = value.isNaN ? 0 : UInt8(min(max(value, 0), 255))
                }
            }
        }
        self.init(width: width, height: height, pixels: pixels)
    }
}
