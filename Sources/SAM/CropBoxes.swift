import Foundation

// Port of segment-anything's utils/amg.py crop helpers (generate_crop_boxes,
// is_box_near_crop_edge and the uncrop_* offsets are with MaskBox).

/// A crop of the image in integer pixels, corners (x0, y0) inclusive and (x1, y1) exclusive, and
/// the crop layer it belongs to (0: the whole image; layer i cuts the image into 2ⁱ × 2ⁱ crops).
public struct CropBox: Sendable, Equatable, Hashable {
    public var x0: Int, y0: Int, x1: Int, y1: Int
    public var layer: Int

    public init(x0: Int, y0: Int, x1: Int, y1: Int, layer: Int) {
        (self.x0, self.y0, self.x1, self.y1, self.layer) = (x0, y0, x1, y1, layer)
    }

    public var width: Int { x1 - x0 }
    public var height: Int { y1 - y0 }
    /// [x, y, width, height], as the generator reports `crop_box`.
    public var xywh: [Int] { [x0, y0, x1 - x0, y1 - y0] }

    /// The whole image, then layer by layer its overlapping crops, column-major within a layer
    /// (`generate_crop_boxes`). Crops of layer i overlap by `overlapRatio` · short side · 2 / 2ⁱ pixels.
    public static func generate(width: Int, height: Int, layers: Int, overlapRatio: Double) -> [CropBox] {
        var boxes = [CropBox(x0: 0, y0: 0, x1: width, y1: height, layer: 0)]
        let shortSide = Double(min(width, height))
        // Python: int(math.ceil((overlap * (n - 1) + length) / n)) in floating point.
        func cropLength(_ length: Int, _ n: Int, _ overlap: Int) -> Int {
            Int((Double(overlap * (n - 1) + length) / Double(n)).rounded(.up))
        }
        for layer in 0..<layers {
            let n = 1 << (layer + 1)
            let overlap = Int(overlapRatio * shortSide * (2 / Double(n)))
            let (w, h) = (cropLength(width, n, overlap), cropLength(height, n, overlap))
            let xs = (0..<n).map { (w - overlap) * $0 }, ys = (0..<n).map { (h - overlap) * $0 }
            for x0 in xs {
                for y0 in ys {
                    boxes.append(CropBox(x0: x0, y0: y0, x1: min(x0 + w, width), y1: min(y0 + h, height), layer: layer + 1))
                }
            }
        }
        return boxes
    }
}
