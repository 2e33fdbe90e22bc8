import Foundation
import Imaging

/// One record of an LVIS (and COCO) results file, the input of `regionspot eval`.
public struct LVISResult: Sendable, Equatable, Codable {
    public var imageID: Int
    public var categoryID: Int
    /// [x, y, width, height] in pixels of the original image.
    public var bbox: [Double]?
    public var score: Double
    public var segmentation: CompressedRLE?

    enum CodingKeys: String, CodingKey {
        case imageID = "image_id", categoryID = "category_id", bbox, score, segmentation
    }

    public init(imageID: Int, categoryID: Int, bbox: [Double]?, score: Double, segmentation: CompressedRLE? = nil) {
        self.imageID = imageID
        self.categoryID = categoryID
        self.bbox = bbox
        self.score = score
        self.segmentation = segmentation
    }
}

public enum LVISResultsError: Error, CustomStringConvertible {
    case categoryOutOfRange(classIndex: Int, categories: Int)
    case regionOutOfRange(regionIndex: Int, boxes: Int)

    public var description: String {
        switch self {
        case let .categoryOutOfRange(index, count):
            return "LVIS results: class index \(index) has no category id (the vocabulary maps \(count) classes)"
        case let .regionOutOfRange(index, count):
            return "LVIS results: detection refers to box \(index) but the image has \(count) boxes"
        }
    }
}

/// Builds and writes results files in the format lvis-api's `LVISResults` and pycocotools'
/// `loadRes` read. lvis-api keeps the 300 best per image itself, so everything is written.
public enum LVISResults {
    /// Records for one image's detections. `boxes` are in original pixels;
    /// `categoryIDs[classIndex]` is the dataset's category id (LVIS ids start at 1);
    /// `masks`, when given, holds one encoded mask per box.
    public static func records(
        imageID: Int, detections: [Detection], boxes: [Box], categoryIDs: [Int],
        masks: [CompressedRLE]? = nil
    ) throws -> [LVISResult] {
        try detections.map { detection in
            guard categoryIDs.indices.contains(detection.classIndex) else {
                throw LVISResultsError.categoryOutOfRange(classIndex: detection.classIndex, categories: categoryIDs.count)
            }
            guard boxes.indices.contains(detection.regionIndex) else {
                throw LVISResultsError.regionOutOfRange(regionIndex: detection.regionIndex, boxes: boxes.count)
            }
            let b = boxes[detection.regionIndex].corners.map(Double.init)
            return LVISResult(
                imageID: imageID, categoryID: categoryIDs[detection.classIndex],
                bbox: [b[0], b[1], b[2] - b[0], b[3] - b[1]], score: Double(detection.score),
                segmentation: masks?[detection.regionIndex])
        }
    }

    /// Records for mask evaluation: without `bbox`, as detectron2 writes them, because
    /// lvis-api takes a record's area from its bbox when one is present.
    public static func segmentationOnly(_ records: [LVISResult]) -> [LVISResult] {
        records.compactMap { record in
            guard record.segmentation != nil else { return nil }
            var copy = record
            copy.bbox = nil
            return copy
        }
    }

    /// A compact JSON array.
    public static func encode(_ records: [LVISResult]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(records)
    }

    public static func write(_ records: [LVISResult], to url: URL) throws {
        try encode(records).write(to: url, options: .atomic)
    }
}
