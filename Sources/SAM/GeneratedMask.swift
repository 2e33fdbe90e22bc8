import Imaging

/// One mask of the automatic mask generator, with the fields of segment-anything's records.
public struct GeneratedMask: Sendable, Equatable {
    /// The mask at the image's size, in COCO run-length encoding (`BinaryMask(segmentation)` decodes it).
    public var segmentation: RLE
    /// The box around the mask (`bbox` is its `xywh`).
    public var box: MaskBox
    /// The mask decoder's own estimate of the mask's IoU (`predicted_iou`).
    public var predictedIoU: Float
    /// The point prompt that produced the mask, in image pixels (`point_coords`).
    public var point: Point
    /// `stability_score`: the IoU of the mask thresholded above and below by the stability offset.
    public var stabilityScore: Float
    /// The crop of the image the mask was predicted on (`crop_box` is its `xywh`).
    public var cropBox: CropBox

    public struct Point: Sendable, Equatable {
        public var x: Double, y: Double
        public init(x: Double, y: Double) { (self.x, self.y) = (x, y) }
    }

    /// Pixels in the mask (`area`).
    public var area: Int { Int(segmentation.area) }
}
