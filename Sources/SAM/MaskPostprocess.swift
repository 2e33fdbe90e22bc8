import Foundation
import Imaging
import Tensors

// Port of Sam.postprocess_masks plus thresholding: low-resolution logits → binary masks at the
// original image size.

enum MaskPostprocess {
    /// logits [h, w] → bilinear to size² → crop to the input size → bilinear to the original size
    /// (`F.interpolate(mode="bilinear", align_corners=False)` both times, as Tensors implements it).
    static func upscale(_ logits: UnsafePointer<Float>, side: Int, imageSize: Int,
                        inputSize: (height: Int, width: Int), originalSize: (height: Int, width: Int)) -> [Float] {
        let low = Tensor(shape: [1, side, side]) { $0.baseAddress!.update(from: logits, count: side * side) }
        return low.interpolated(height: imageSize, width: imageSize, mode: .bilinear)
            .slice(axis: 1, range: 0..<inputSize.height).slice(axis: 2, range: 0..<inputSize.width)
            .interpolated(height: originalSize.height, width: originalSize.width, mode: .bilinear).scalars
    }

    /// The binary mask at the original size (logits > `Sam.maskThreshold`).
    static func binaryMask(_ logits: UnsafePointer<Float>, side: Int, imageSize: Int,
                           inputSize: (height: Int, width: Int), originalSize: (height: Int, width: Int)) -> BinaryMask {
        let values = upscale(logits, side: side, imageSize: imageSize, inputSize: inputSize, originalSize: originalSize)
        return BinaryMask(width: originalSize.width, height: originalSize.height, pixels: values.map { $0 > Sam.maskThreshold })
    }
}
