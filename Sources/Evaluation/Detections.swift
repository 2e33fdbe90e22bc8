import Foundation
import Imaging
import Tensors

/// A results file (`[{"image_id", "category_id", "bbox", "score", "segmentation"?}, ...]`) in
/// struct-of-arrays form, in file order, as lvis-api `LVISResults` / pycocotools `loadRes`
/// prepare it: `area` is the box's w·h when the first result has a box, else the mask's area.
public struct Detections: Sendable {
    public let file: String
    var image: [Int32] = []
    /// Category index in the ground truth, −1 for an unknown category.
    var category: [Int32] = []
    var score: [Double] = []
    var box: [Double] = []
    var area: [Double] = []
    /// Masks (segm only).
    var rle: [RLE] = []

    public var count: Int { score.count }

    /// Loads a results file against its ground truth.
    public init(contentsOf path: String, groundTruth gt: GroundTruth, iouType: IoUType) throws {
        file = path
        let mapped = try MappedFile(path: path)
        var s = mapped.scanner()
        guard try s.peekKind() == .array else { throw s.error("a results file must be a JSON list of detections") }
        // Records are at least ~50 bytes: reserving by size avoids regrowth copies, and
        // untouched reserve costs no resident memory.
        let estimate = mapped.count / 48
        image.reserveCapacity(estimate)
        category.reserveCapacity(estimate)
        score.reserveCapacity(estimate)
        area.reserveCapacity(estimate)
        box.reserveCapacity(estimate * 4)
        var segmentations: [Segmentation?] = []
        var hasBox: [Bool] = []
        hasBox.reserveCapacity(estimate)
        try s.beginArray()
        var first = true
        while try s.nextElement(&first) {
            let index = score.count
            let record = "[\(index)]"
            var imageID: Int? = nil, categoryID: Int? = nil, value: Double? = nil
            var bbox: [Double]? = nil, segmentation: Segmentation? = nil
            try s.beginObject()
            var firstKey = true
            while let key = try s.nextKey(&firstKey) {
                if s.matches(key, "image_id") {
                    imageID = try GroundTruth.integer(&s, file: path, record: record, field: "image_id")
                } else if s.matches(key, "category_id") {
                    categoryID = try GroundTruth.integer(&s, file: path, record: record, field: "category_id")
                } else if s.matches(key, "score") {
                    value = try s.number()
                } else if s.matches(key, "bbox") {
                    bbox = try GroundTruth.checkBox(try s.numberArray(), file: path, record: record)
                } else if s.matches(key, "segmentation"), iouType == .segm || index == 0 || !hasBox[0] {
                    segmentation = try Segmentation.read(&s, record: record)
                } else {
                    try s.skipValue()
                }
            }
            guard let imageID else { throw missing(record, "image_id") }
            guard let categoryID else { throw missing(record, "category_id") }
            guard let value else { throw missing(record, "score") }
            guard value.isFinite else {
                throw EvaluationError.invalidRecord(file: path, record: record, field: "score", reason: "must be a finite number, got \(value)")
            }
            guard let imageIndex = gt.imageIndexByID[imageID] else {
                throw EvaluationError.invalidRecord(file: path, record: record, field: "image_id",
                                                    reason: "image \(imageID) is not in the ground truth \(gt.file)")
            }
            // The first result decides where areas come from, as in `LVISResults`/`loadRes`.
            let firstHasBox = index == 0 ? bbox != nil : hasBox[0]
            if !firstHasBox {
                guard case .rle? = segmentation else {
                    throw EvaluationError.invalidRecord(
                        file: path, record: record, field: "segmentation",
                        reason: "needs an RLE segmentation (the first result has no bbox, so areas come from masks)")
                }
            } else if bbox == nil {
                throw EvaluationError.invalidRecord(file: path, record: record, field: "bbox",
                                                    reason: "missing (the first result has one, so every area is its box's w*h)")
            }
            hasBox.append(bbox != nil)
            image.append(imageIndex)
            category.append(gt.categoryIndexByID[categoryID] ?? -1)
            score.append(value)
            if let bbox {
                box.append(contentsOf: bbox)
                area.append(bbox[2] * bbox[3])
            } else {
                box.append(contentsOf: [0, 0, 0, 0])
                area.append(0)
            }
            if iouType == .segm || !firstHasBox { segmentations.append(segmentation) }
        }
        try s.expectEnd()

        let boxArea = hasBox.first ?? true
        if iouType == .segm || !boxArea { try buildMasks(segmentations, hasBox: hasBox, gt: gt, areaFromMask: !boxArea, keep: iouType == .segm) }
    }

    /// Masks for segm evaluation; and, when results carry no boxes, areas and boxes from them.
    private mutating func buildMasks(_ segmentations: [Segmentation?], hasBox: [Bool], gt: GroundTruth, areaFromMask: Bool, keep: Bool) throws {
        var masks = [RLE](repeating: RLE(height: 0, width: 0, counts: []), count: segmentations.count)
        let images = image
        var boxes = box
        masks.withUnsafeMutableBufferPointer { out in
            Parallel.forEachChunk(segmentations.count, minimumPerChunk: 256) { range in
                for i in range {
                    let imageIndex = Int(images[i])
                    let h = gt.imageHeights[imageIndex], w = gt.imageWidths[imageIndex]
                    if let segmentation = segmentations[i] {
                        out[i] = segmentation.rle(height: h, width: w)
                    }
                }
            }
        }
        for i in 0..<segmentations.count {
            if segmentations[i] == nil {
                // A box without a mask stands for its rectangle (`loadRes`).
                let imageIndex = Int(image[i])
                let x1 = box[4 * i], y1 = box[4 * i + 1], x2 = x1 + box[4 * i + 2], y2 = y1 + box[4 * i + 3]
                masks[i] = RLE.merge([RLE(polygon: [x1, y1, x1, y2, x2, y2, x2, y1],
                                          height: gt.imageHeights[imageIndex], width: gt.imageWidths[imageIndex])])
            }
            if areaFromMask {
                area[i] = Double(masks[i].area)
                if !hasBox[i] {
                    let b = masks[i].boundingBox
                    for j in 0..<4 { boxes[4 * i + j] = b[j] }
                }
            }
        }
        box = boxes
        if keep { rle = masks }
    }

    private func missing(_ record: String, _ field: String) -> EvaluationError {
        .invalidRecord(file: file, record: record, field: field, reason: "missing")
    }
}
