import Evaluation
import Foundation
import Imaging

/// A dataset's images and the boxes to recognize in each, as RegionSpot evaluates
/// (Surrey-UP-Lab/RegionSpot:regionspot/util/preprocessing.py `prepare_prompt_infer`): the
/// annotated boxes (the GT-box protocol, scored by class probability), or a detector's scored
/// boxes (scored by box score × class probability).
public struct DatasetPrompts: Sendable {
    public let dataset: GroundTruth
    /// The detector's boxes by image id; nil for the annotated boxes.
    public let proposals: [Int: ScoredBoxes]?
    private let annotations: [GroundTruth.ImageAnnotations]

    public struct ScoredBoxes: Sendable {
        public var boxes: [Box] = []
        public var scores: [Float] = []
    }

    /// `proposals` nil: the annotated boxes are the prompts.
    public init(annotations file: URL, proposals: URL?) throws {
        dataset = try Self.loadDataset(file)
        self.proposals = try proposals.map(Self.readProposals)
        annotations = self.proposals == nil ? dataset.annotationsByImage() : []
    }

    public var imageCount: Int { dataset.imageIDs.count }
    /// The dataset's category ids, in the vocabulary's order (by id).
    public var categoryIDs: [Int] { dataset.categories.map(\.id) }

    /// The image's path relative to the images directory: `file_name`, else LVIS's `coco_url` tail.
    public func fileName(ofImageAt index: Int) throws -> String {
        guard let name = dataset.imageFileNames[index] else {
            throw DatasetError.badInput(file: dataset.file, field: "images[\(index)].file_name", reason: "missing (and no coco_url)")
        }
        return name
    }

    /// The boxes of the image at `index` (original pixels), and their scores for proposals.
    public func prompts(forImageAt index: Int) -> (boxes: [Box], scores: [Float]?) {
        guard let proposals else { return (annotations[index].boxes.map { Box(xywh: $0.map(Float.init)) }, nil) }
        let mine = proposals[dataset.imageIDs[index]] ?? ScoredBoxes()
        return (mine.boxes, mine.scores)
    }

    /// An LVIS file, else a COCO one (no `neg_category_ids`, …), else the LVIS reading's complaint.
    public static func loadDataset(_ url: URL) throws -> GroundTruth {
        do {
            return try GroundTruth(contentsOf: url.path, format: .lvis, iouType: .bbox)
        } catch let lvisError {
            if let coco = try? GroundTruth(contentsOf: url.path, format: .coco, iouType: .bbox) { return coco }
            throw lvisError
        }
    }

    /// A detector's scored boxes by image id, from either layout:
    /// - a results file, `[{"image_id", "bbox": [x, y, w, h], "score", …}, …]`;
    /// - RegionSpot's proposal file (GLIP's `nms_results_…_lvis_val.json`),
    ///   `{"<image_id>": {"boxes": [[x0, y0, x1, y1], …], "scores": […], "labels": […]}, …}`.
    public static func readProposals(_ url: URL) throws -> [Int: ScoredBoxes] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw DatasetError.badInput(file: url.path, field: nil, reason: "cannot read: \(error.localizedDescription)")
        }
        let first = data.first { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }
        var byImage: [Int: ScoredBoxes] = [:]
        do {
            if first == UInt8(ascii: "[") {
                for (index, record) in try JSONDecoder().decode([ResultRecord].self, from: data).enumerated() {
                    guard record.bbox.count == 4, record.bbox.allSatisfy(\.isFinite), record.score.isFinite else {
                        throw DatasetError.badInput(file: url.path, field: "[\(index)]", reason: "expected a finite bbox [x, y, w, h] and score")
                    }
                    byImage[record.image_id, default: ScoredBoxes()].boxes.append(Box(xywh: record.bbox.map(Float.init)))
                    byImage[record.image_id]!.scores.append(Float(record.score))
                }
            } else {
                for (key, entry) in try JSONDecoder().decode([String: ImageProposals].self, from: data) {
                    guard let id = Int(key) else {
                        throw DatasetError.badInput(file: url.path, field: key, reason: "expected an image id as the key")
                    }
                    guard entry.boxes.count == entry.scores.count,
                          entry.boxes.allSatisfy({ $0.count == 4 && $0.allSatisfy(\.isFinite) }), entry.scores.allSatisfy(\.isFinite) else {
                        throw DatasetError.badInput(file: url.path, field: key, reason: "expected as many finite boxes [x0, y0, x1, y1] as scores")
                    }
                    byImage[id] = ScoredBoxes(boxes: entry.boxes.map { Box(x0: Float($0[0]), y0: Float($0[1]), x1: Float($0[2]), y1: Float($0[3])) },
                                              scores: entry.scores.map(Float.init))
                }
            }
        } catch let error as DecodingError {
            throw DatasetError.badInput(file: url.path, field: nil, reason: "not a proposals file: \(error)")
        }
        return byImage
    }

    private struct ResultRecord: Decodable {
        var image_id: Int
        var bbox: [Double]
        var score: Double
    }

    private struct ImageProposals: Decodable {
        var boxes: [[Double]]
        var scores: [Double]
    }
}

public enum DatasetError: Error, CustomStringConvertible, Equatable {
    /// An input that cannot be used, naming the file, the field (if any) and why.
    case badInput(file: String, field: String?, reason: String)

    public var description: String {
        switch self {
        case let .badInput(file, field, reason): return "\(file)\(field.map { ": \($0)" } ?? ""): \(reason)"
        }
    }
}
