import Imaging

// Port of segment-anything's utils/amg.py box helpers: batched_mask_to_box, box_xyxy_to_xywh,
// uncrop_boxes_xyxy and is_box_near_crop_edge.

/// A mask's box in integer pixels (x0, y0, x1, y1), the last row and column included, as
/// segment-anything's `batched_mask_to_box` gives it ([0, 0, 0, 0] for an empty mask).
public struct MaskBox: Sendable, Equatable, Hashable {
    public var x0: Int, y0: Int, x1: Int, y1: Int

    public init(x0: Int, y0: Int, x1: Int, y1: Int) { (self.x0, self.y0, self.x1, self.y1) = (x0, y0, x1, y1) }

    public static let empty = MaskBox(x0: 0, y0: 0, x1: 0, y1: 0)

    /// The box around the `true` pixels of a row-major width × height mask (`batched_mask_to_box`).
    init(pixels: UnsafeBufferPointer<Bool>, width: Int, height: Int) {
        var (x0, y0, x1, y1) = (width, height, -1, -1)
        for y in 0..<height {
            let row = pixels.baseAddress! + y * width
            guard let first = (0..<width).first(where: { row[$0] }) else { continue }
            let last = (0..<width).last(where: { row[$0] })!
            (y0, y1) = (min(y0, y), y)
            (x0, x1) = (min(x0, first), max(x1, last))
        }
        self = x1 < 0 ? .empty : MaskBox(x0: x0, y0: y0, x1: x1, y1: y1)
    }

    /// The box around a binary mask's `true` pixels.
    public init(_ mask: BinaryMask) {
        self = mask.pixels.withUnsafeBufferPointer { MaskBox(pixels: $0, width: mask.width, height: mask.height) }
    }

    /// [x0, y0, x1 − x0, y1 − y0]: `box_xyxy_to_xywh` of the inclusive corners, as the generator reports `bbox`.
    public var xywh: [Int] { [x0, y0, x1 - x0, y1 - y0] }

    /// Moved from a crop's frame to the image's (`uncrop_boxes_xyxy`).
    func uncropped(_ crop: CropBox) -> MaskBox {
        MaskBox(x0: x0 + crop.x0, y0: y0 + crop.y0, x1: x1 + crop.x0, y1: y1 + crop.y0)
    }

    /// `is_box_near_crop_edge`: within 20 pixels of an edge of the crop that is not an edge of the image.
    /// The box is in the crop's frame.
    func isNearCropEdge(_ crop: CropBox, imageWidth: Int, imageHeight: Int, tolerance: Int = 20) -> Bool {
        let box = uncropped(crop)
        let sides = [(box.x0, crop.x0, 0), (box.y0, crop.y0, 0), (box.x1, crop.x1, imageWidth), (box.y1, crop.y1, imageHeight)]
        return sides.contains { value, cropEdge, imageEdge in
            abs(value - cropEdge) <= tolerance && abs(value - imageEdge) > tolerance
        }
    }
}
