import Foundation
import Imaging
import Tensors

/// Image → normalised CLIP input [3, S, S].
public enum CLIPPreprocessing {
    /// OpenAI CLIP's normalisation (`clip.py: _transform`), also RegionSpot's.
    public static let mean: [Float] = [0.48145466, 0.4578275, 0.40821073]
    public static let std: [Float] = [0.26862954, 0.26130258, 0.27577711]

    /// RegionSpot's input (`predictor.py: resize_norm`): the whole image squashed to size×size,
    /// bilinear on floats in [0, 1] (`F.interpolate`, align_corners=False, no antialias), normalised.
    public static func squashed(_ image: RGBImage, size: Int) -> Tensor {
        normalized(image.tensor(range: .unit).interpolated(height: size, width: size, mode: .bilinear))
    }

    /// OpenAI's input (`clip.py: _transform`): PIL bicubic resize of the short side to `size` (long
    /// side `int(size·long/short)`, torchvision's rule), centre crop at `round((h − size)/2)`
    /// (Python's round: halves to even), /255, normalised.
    public static func openAI(_ image: RGBImage, size: Int) -> Tensor {
        let short = min(image.width, image.height), long = max(image.width, image.height)
        let scaledLong = max(size, Int(Double(size) * Double(long) / Double(short)))  // int() truncates
        let (width, height) = image.width <= image.height ? (size, scaledLong) : (scaledLong, size)
        let resized = image.pilResized(width: width, height: height, filter: .bicubic)
        let top = Int((Double(height - size) / 2).rounded(.toNearestOrEven))
        let left = Int((Double(width - size) / 2).rounded(.toNearestOrEven))
        return normalized(resized.cropped(x: left, y: top, width: size, height: size).tensor(range: .unit))
    }

    /// (x − mean) / std per channel of [3, H, W], as torchvision's `Normalize` (subtract, divide).
    public static func normalized(_ x: Tensor) -> Tensor {
        let plane = x.dim(-1) * x.dim(-2)
        return Tensor(shape: x.shape) { out in
            for c in 0..<3 {
                for i in 0..<plane { out[c * plane + i] = (x.scalars[c * plane + i] - mean[c]) / std[c] }
            }
        }
    }
}

extension CLIPPreprocessing {
    /// How a whole image becomes the square CLIP input.
    public enum Mode: String, Sendable, CaseIterable {
        /// RegionSpot's squash (`squashed`).
        case squash
        /// OpenAI's resize and centre crop (`openAI`).
        case openai
    }

    /// Decodes each image file and stacks the preprocessed inputs: [count, 3, size, size].
    public static func batch(_ files: [URL], size: Int, mode: Mode) throws -> Tensor {
        guard !files.isEmpty else { throw CLIPError.badInput("no images given") }
        let inputs = try files.map { url -> Tensor in
            let image = try RGBImage(contentsOf: url)
            let input = mode == .squash ? squashed(image, size: size) : openAI(image, size: size)
            return input.reshaped([1, 3, size, size])
        }
        return Tensor.concatenate(inputs)
    }
}
