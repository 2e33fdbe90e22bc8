import Foundation
import Imaging
import Tensors

// Port of segment_anything/utils/transforms.py (ResizeLongestSide) and Sam.preprocess.

/// Resizes images so the longest side is `targetLength` and maps prompt coordinates likewise.
public struct ResizeLongestSide: Sendable {
    public let targetLength: Int

    public init(targetLength: Int) { self.targetLength = targetLength }

    /// `get_preprocess_shape`: scale = target / max(h, w), new = int(old·scale + 0.5).
    public func preprocessShape(height: Int, width: Int) -> (height: Int, width: Int) {
        let scale = Double(targetLength) / Double(max(height, width))
        return (Int(Double(height) * scale + 0.5), Int(Double(width) * scale + 0.5))
    }

    /// `apply_image`: PIL bilinear resize of the uint8 image (torchvision `resize(to_pil_image(…))`).
    public func apply(image: RGBImage) -> RGBImage {
        let (h, w) = preprocessShape(height: image.height, width: image.width)
        return image.pilResized(width: w, height: h, filter: .bilinear)
    }

    /// `apply_coords`: x·(new_w/old_w), y·(new_h/old_h) in float32 as PyTorch does.
    public func apply(x: Float, y: Float, originalHeight: Int, originalWidth: Int) -> (x: Float, y: Float) {
        let (h, w) = preprocessShape(height: originalHeight, width: originalWidth)
        return (x * Float(Double(w) / Double(originalWidth)), y * Float(Double(h) / Double(originalHeight)))
    }

    /// `apply_boxes`: both corners.
    public func apply(box: Box, originalHeight: Int, originalWidth: Int) -> Box {
        let a = apply(x: box.x0, y: box.y0, originalHeight: originalHeight, originalWidth: originalWidth)
        let b = apply(x: box.x1, y: box.y1, originalHeight: originalHeight, originalWidth: originalWidth)
        return Box(x0: a.x, y0: a.y, x1: b.x, y1: b.y)
    }
}

extension Sam {
    /// `Sam.preprocess`: (x − mean)/std per channel on the 0–255 scale, zero-padded bottom/right to size².
    /// - image: the resized image (longest side ≤ size). Returns [3, size, size].
    public static func preprocess(_ image: RGBImage, size: Int) -> Tensor {
        precondition(image.width <= size && image.height <= size, "preprocess: \(image.width)x\(image.height) larger than \(size)")
        return Tensor(shape: [3, size, size]) { out in
            out.update(repeating: 0)
            image.pixels.withUnsafeBufferPointer { px in
                for c in 0..<3 {
                    let (mean, std) = (pixelMean[c], pixelStd[c])
                    for y in 0..<image.height {
                        for x in 0..<image.width {
                            out[(c * size + y) * size + x] = (Float(px[(y * image.width + x) * 3 + c]) - mean) / std
                        }
                    }
                }
            }
        }
    }
}
