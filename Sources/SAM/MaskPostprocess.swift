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
    /// logits [h, w] → bilinear to size² → crop to the input size → bilinear to the original size.
    static func upscale(_ logits: UnsafePointer<Float>, side: Int, imageSize: Int,
                        inputSize: (height: Int, width: Int), originalSize: (height: Int, width: Int)) -> [Float] {
        let full = bilinear(logits, inHeight: side, inWidth: side, rowStride: side, outHeight: imageSize, outWidth: imageSize)
        return full.withUnsafeBufferPointer { f in
            bilinear(f.baseAddress!, inHeight: inputSize.height, inWidth: inputSize.width, rowStride: imageSize,
                     outHeight: originalSize.height, outWidth: originalSize.width)
        }
    }

    /// The binary mask at the original size (logits > `Sam.maskThreshold`).
    static func binaryMask(_ logits: UnsafePointer<Float>, side: Int, imageSize: Int,
                           inputSize: (height: Int, width: Int), originalSize: (height: Int, width: Int)) -> BinaryMask {
        let values = upscale(logits, side: side, imageSize: imageSize, inputSize: inputSize, originalSize: originalSize)
        return BinaryMask(width: originalSize.width, height: originalSize.height, pixels: values.map { $0 > Sam.maskThreshold })
    }

    /// PyTorch `F.interpolate(mode="bilinear", align_corners=False)` of one plane (the top-left
    /// inHeight×inWidth of a plane with `rowStride` columns), in PyTorch's float arithmetic.
    static func bilinear(_ input: UnsafePointer<Float>, inHeight: Int, inWidth: Int, rowStride: Int,
                         outHeight: Int, outWidth: Int) -> [Float] {
        func taps(_ outCount: Int, _ inCount: Int) -> [(Int, Int, Float, Float)] {
            let scale = Float(inCount) / Float(outCount)
            return (0..<outCount).map { d in
                let src = max(scale * (Float(d) + 0.5) - 0.5, 0)
                let i0 = Int(src)
                let i1 = i0 < inCount - 1 ? i0 + 1 : i0
                let l1 = src - Float(i0)
                return (i0, i1, 1 - l1, l1)
            }
        }
        let rows = taps(outHeight, inHeight), cols = taps(outWidth, inWidth)
        var out = [Float](repeating: 0, count: outHeight * outWidth)
        out.withUnsafeMutableBufferPointer { o in
            let base = o.baseAddress!
            Parallel.forEachChunk(outHeight, minimumPerChunk: 32) { range in
                for y in range {
                    let (y0, y1, h0, h1) = rows[y]
                    let r0 = input + y0 * rowStride, r1 = input + y1 * rowStride
                    for x in 0..<outWidth {
                        let (x0, x1, w0, w1) = cols[x]
                        base[y * outWidth + x] = h0 * (w0 * r0[x0] + w1 * r0[x1]) + h1 * (w0 * r1[x0] + w1 * r1[x1])
                    }
                }
            }
        }
        return out
    }
}
