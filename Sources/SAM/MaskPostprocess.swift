import Foundation
import Tensors

// Port of Sam.postprocess_masks plus thresholding: low-resolution logits → binary masks at the
// original image size.

/// A binary mask, row-major, `true` inside.
public struct BinaryMask: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var pixels: [Bool]

    public init(width: Int, height: Int, pixels: [Bool]) {
        precondition(pixels.count == width * height, "mask \(width)x\(height) needs \(width * height) pixels, got \(pixels.count)")
        (self.width, self.height, self.pixels) = (width, height, pixels)
    }

    /// 0/1 bytes in column-major (Fortran) order, the layout COCO RLE encodes (`Evaluation.RLE(mask:height:width:)`).
    public var columnMajorBytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: pixels.count)
        for y in 0..<height { for x in 0..<width where pixels[y * width + x] { out[x * height + y] = 1 } }
        return out
    }
}

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
