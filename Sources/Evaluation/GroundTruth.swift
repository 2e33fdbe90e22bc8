import Foundation
import Imaging
import Tensors

/// Which evaluation protocol, and so which ground-truth fields matter.
public enum DatasetFormat: String, Sendable, CaseIterable {
    /// LVIS v1 (lvis-api): federated negatives, not-exhaustive categories, frequency groups.
    case lvis
    /// COCO (pycocotools): crowd regions, maxDets 1/10/100 per image and category.
    case coco
}

/// What is compared: boxes, or segmentation masks.
public enum IoUType: String, Sendable, CaseIterable {
    case bbox, segm
}

/// LVIS frequency group of a category, from its `frequency` field.
public enum Frequency: String, Sendable, CaseIterable {
    case rare = "r", common = "c", frequent = "f"
    public var name: String {
        switch self {
        case .rare: "rare"
        case .common: "common"
        case .frequent: "frequent"
        }
    }
}

public struct Category: Sendable, Equatable {
    public let id: Int
    public let name: String
    public let frequency: Frequency?
}

/// A ground-truth file in struct-of-arrays form: images, categories sorted by id, and
/// annotations in file order.
public struct GroundTruth: Sendable {
    public let file: String
    public let format: DatasetFormat

    // Images in file order.
    public private(set) var imageIDs: [Int] = []
    var imageHeights: [Int] = []
    var imageWidths: [Int] = []
    /// `file_name`, else the last two parts of `coco_url` (LVIS v1 has only that: "val2017/….jpg",
    /// as detectron2 derives it), else nil.
    public private(set) var imageFileNames: [String?] = []
    /// LVIS `neg_category_ids` and `not_exhaustive_category_ids`, as category indices.
    var negativeCategories: [[Int32]] = []
    var notExhaustiveCategories: [[Int32]] = []
    var imageIndexByID: [Int: Int32] = [:]
    /// Position of each image among the sorted ids (the references' evaluation order).
    var imageRank: [Int32] = []

    /// Categories sorted by id; annotations refer to them by index.
    public private(set) var categories: [Category] = []
    var categoryIndexByID: [Int: Int32] = [:]

    // Annotations in file order.
    var annImage: [Int32] = []
    var annCategory: [Int32] = []
    var annID: [Int] = []
    var annArea: [Double] = []
    var annBox: [Double] = []
    var annIgnore: [Bool] = []
    var annCrowd: [Bool] = []
    var annSegmentation: [Segmentation?] = []
    /// Masks (segm only), built after loading.
    var annRLE: [RLE] = []

    /// Annotations the reference would silently leave out, by reason.
    public private(set) var droppedUnknownImage = 0
    public private(set) var droppedUnknownCategory = 0

    public var annotationCount: Int { annID.count }

    /// Loads and checks a ground-truth file.
    public init(contentsOf path: String, format: DatasetFormat, iouType: IoUType) throws {
        self.file = path
        self.format = format
        let mapped = try MappedFile(path: path)
        var s = mapped.scanner()
        var rawImageIDs: [Int] = []
        var rawCategoryIDs: [Int] = []
        var rawNegatives: [[Int]] = []
        var rawNotExhaustive: [[Int]] = []
        var annImageID: [Int] = []
        var annCategoryID: [Int] = []
        var sawImages = false, sawAnnotations = false, sawCategories = false

        guard try s.peekKind() == .object else { throw s.error("a ground-truth file must be a JSON object") }
        try s.beginObject()
        var first = true
        while let key = try s.nextKey(&first) {
            if s.matches(key, "images") {
                sawImages = true
                try s.beginArray()
                var firstImage = true
                while try s.nextElement(&firstImage) {
                    let record = "images[\(rawImageIDs.count)]"
                    try readImage(&s, record: record, iouType: iouType, ids: &rawImageIDs,
                                  negatives: &rawNegatives, notExhaustive: &rawNotExhaustive)
                }
            } else if s.matches(key, "annotations") {
                sawAnnotations = true
                try s.beginArray()
                var firstAnnotation = true
                while try s.nextElement(&firstAnnotation) {
                    try readAnnotation(&s, record: "annotations[\(annID.count)]", iouType: iouType,
                                       imageID: &annImageID, categoryID: &annCategoryID)
                }
            } else if s.matches(key, "categories") {
                sawCategories = true
                try s.beginArray()
                var firstCategory = true
                while try s.nextElement(&firstCategory) {
                    try readCategory(&s, record: "categories[\(categories.count)]", ids: &rawCategoryIDs)
                }
            } else {
                try s.skipValue()
            }
        }
        try s.expectEnd()
        for (seen, name) in [(sawImages, "images"), (sawAnnotations, "annotations"), (sawCategories, "categories")] where !seen {
            throw EvaluationError.invalidRecord(file: path, record: "top level", field: name, reason: "missing")
        }

        // Indexes: images keep file order (ranked by id), categories are sorted by id.
        for (index, id) in rawImageIDs.enumerated() {
            if imageIndexByID.updateValue(Int32(index), forKey: id) != nil {
                throw EvaluationError.invalidRecord(file: path, record: "images[\(index)]", field: "id", reason: "duplicate image id \(id)")
            }
        }
        imageIDs = rawImageIDs
        imageRank = [Int32](repeating: 0, count: rawImageIDs.count)
        for (rank, index) in rawImageIDs.indices.sorted(by: { rawImageIDs[$0] < rawImageIDs[$1] }).enumerated() {
            imageRank[index] = Int32(rank)
        }
        let categoryOrder = categories.indices.sorted { categories[$0].id < categories[$1].id }
        categories = categoryOrder.map { categories[$0] }
        for (index, category) in categories.enumerated() {
            if categoryIndexByID.updateValue(Int32(index), forKey: category.id) != nil {
                throw EvaluationError.invalidRecord(file: path, record: "categories[\(categoryOrder[index])]", field: "id",
                                                    reason: "duplicate category id \(category.id)")
            }
        }
        // Listed categories that do not exist play no part (lvis-api looks ids up in these lists).
        let indexByID = categoryIndexByID
        negativeCategories = rawNegatives.map { $0.compactMap { indexByID[$0] }.sorted() }
        notExhaustiveCategories = rawNotExhaustive.map { $0.compactMap { indexByID[$0] }.sorted() }

        annImage = annImageID.map { imageIndexByID[$0] ?? -1 }
        annCategory = annCategoryID.map { indexByID[$0] ?? -1 }
        droppedUnknownImage = annImage.lazy.filter { $0 < 0 }.count
        droppedUnknownCategory = zip(annImage, annCategory).lazy.filter { $0.0 >= 0 && $0.1 < 0 }.count
        var seenIDs = Set<Int>(minimumCapacity: annID.count)
        for (index, id) in annID.enumerated() where !seenIDs.insert(id).inserted {
            throw EvaluationError.invalidRecord(file: path, record: "annotations[\(index)]", field: "id", reason: "duplicate annotation id \(id)")
        }
        if iouType == .segm { try buildMasks() }
    }

    // MARK: - Records

    private mutating func readImage(_ s: inout JSONScanner, record: String, iouType: IoUType, ids: inout [Int],
                                    negatives: inout [[Int]], notExhaustive: inout [[Int]]) throws {
        var id: Int? = nil, height: Int? = nil, width: Int? = nil
        var negative: [Int]? = nil, exhaustive: [Int]? = nil
        var fileName: String? = nil, cocoURL: String? = nil
        try s.beginObject()
        var first = true
        while let key = try s.nextKey(&first) {
            if s.matches(key, "id") { id = try readID(&s, record: record, field: "id") }
            else if s.matches(key, "file_name") { fileName = try s.string() }
            else if s.matches(key, "coco_url") { cocoURL = try s.string() }
            else if s.matches(key, "height") { height = try readID(&s, record: record, field: "height") }
            else if s.matches(key, "width") { width = try readID(&s, record: record, field: "width") }
            else if s.matches(key, "neg_category_ids") { negative = try readIDs(&s, record: record, field: "neg_category_ids") }
            else if s.matches(key, "not_exhaustive_category_ids") {
                exhaustive = try readIDs(&s, record: record, field: "not_exhaustive_category_ids")
            } else { try s.skipValue() }
        }
        guard let id else { throw missing(record, "id") }
        if iouType == .segm {
            guard let height, let width, height >= 0, width >= 0 else {
                throw EvaluationError.invalidRecord(file: file, record: record, field: "height/width",
                                                    reason: "segm evaluation needs the image's non-negative height and width")
            }
        }
        if format == .lvis {
            guard negative != nil else { throw missing(record, "neg_category_ids") }
            guard exhaustive != nil else { throw missing(record, "not_exhaustive_category_ids") }
        }
        ids.append(id)
        imageFileNames.append(fileName ?? cocoURL.map { $0.split(separator: "/").suffix(2).joined(separator: "/") })
        imageHeights.append(height ?? 0)
        imageWidths.append(width ?? 0)
        negatives.append(negative ?? [])
        notExhaustive.append(exhaustive ?? [])
    }

    private mutating func readAnnotation(_ s: inout JSONScanner, record: String, iouType: IoUType,
                                         imageID: inout [Int], categoryID: inout [Int]) throws {
        var id: Int? = nil, image: Int? = nil, category: Int? = nil, area: Double? = nil
        var box: [Double]? = nil, ignore = false, crowd: Bool? = nil
        var segmentation: Segmentation? = nil
        try s.beginObject()
        var first = true
        while let key = try s.nextKey(&first) {
            if s.matches(key, "id") { id = try readID(&s, record: record, field: "id") }
            else if s.matches(key, "image_id") { image = try readID(&s, record: record, field: "image_id") }
            else if s.matches(key, "category_id") { category = try readID(&s, record: record, field: "category_id") }
            else if s.matches(key, "area") { area = try s.number() }
            else if s.matches(key, "bbox") { box = try s.numberArray() }
            else if s.matches(key, "ignore") { ignore = try s.truthy() }
            else if s.matches(key, "iscrowd") { crowd = try s.truthy() }
            else if s.matches(key, "segmentation"), iouType == .segm {
                segmentation = try Segmentation.read(&s, record: record)
            } else { try s.skipValue() }
        }
        guard let id else { throw missing(record, "id") }
        guard let image else { throw missing(record, "image_id") }
        guard let category else { throw missing(record, "category_id") }
        guard let area else { throw missing(record, "area") }
        guard area.isFinite, area >= 0 else {
            throw EvaluationError.invalidRecord(file: file, record: record, field: "area", reason: "must be a finite non-negative number, got \(area)")
        }
        var bbox = [0.0, 0, 0, 0]
        if let box {
            bbox = try Self.checkBox(box, file: file, record: record)
        } else if iouType == .bbox {
            throw missing(record, "bbox")
        }
        if iouType == .segm && segmentation == nil { throw missing(record, "segmentation") }
        if format == .coco && crowd == nil { throw missing(record, "iscrowd") }
        annID.append(id)
        imageID.append(image)
        categoryID.append(category)
        annArea.append(area)
        annBox.append(contentsOf: bbox)
        // COCO replaces `ignore` by `iscrowd`; LVIS never reads `iscrowd`.
        annIgnore.append(format == .coco ? crowd! : ignore)
        annCrowd.append(format == .coco ? crowd! : false)
        annSegmentation.append(segmentation)
    }

    private mutating func readCategory(_ s: inout JSONScanner, record: String, ids: inout [Int]) throws {
        var id: Int? = nil, name = "", frequencyText: String? = nil
        try s.beginObject()
        var first = true
        while let key = try s.nextKey(&first) {
            if s.matches(key, "id") { id = try readID(&s, record: record, field: "id") }
            else if s.matches(key, "name") { name = try s.string() }
            else if s.matches(key, "frequency") { frequencyText = try s.string() }
            else { try s.skipValue() }
        }
        guard let id else { throw missing(record, "id") }
        var frequency: Frequency? = nil
        if format == .lvis {
            guard let text = frequencyText, let value = Frequency(rawValue: text) else {
                throw EvaluationError.invalidRecord(file: file, record: record, field: "frequency",
                                                    reason: "an LVIS category needs frequency \"r\", \"c\" or \"f\"")
            }
            frequency = value
        }
        ids.append(id)
        categories.append(Category(id: id, name: name, frequency: frequency))
    }

    private mutating func buildMasks() throws {
        var masks = [RLE](repeating: RLE(height: 0, width: 0, counts: []), count: annID.count)
        let segmentations = annSegmentation, images = annImage, heights = imageHeights, widths = imageWidths
        masks.withUnsafeMutableBufferPointer { out in
            Parallel.forEachChunk(segmentations.count, minimumPerChunk: 256) { range in
                for i in range where images[i] >= 0 {
                    let image = Int(images[i])
                    out[i] = segmentations[i]!.rle(height: heights[image], width: widths[image])
                }
            }
        }
        annRLE = masks
        annSegmentation = []
    }

    // MARK: - Helpers

    private func missing(_ record: String, _ field: String) -> EvaluationError {
        .invalidRecord(file: file, record: record, field: field, reason: "missing")
    }

    private func readID(_ s: inout JSONScanner, record: String, field: String) throws -> Int {
        try Self.integer(&s, file: file, record: record, field: field)
    }

    private func readIDs(_ s: inout JSONScanner, record: String, field: String) throws -> [Int] {
        var ids: [Int] = []
        try s.beginArray()
        var first = true
        while try s.nextElement(&first) { ids.append(try readID(&s, record: record, field: field)) }
        return ids
    }

    static func integer(_ s: inout JSONScanner, file: String, record: String, field: String) throws -> Int {
        guard try s.peekKind() == .number else {
            throw EvaluationError.invalidRecord(file: file, record: record, field: field, reason: "expected an integer")
        }
        let value = try s.number()
        guard value == value.rounded(), abs(value) <= 9_007_199_254_740_992 else {
            throw EvaluationError.invalidRecord(file: file, record: record, field: field, reason: "expected an integer, got \(value)")
        }
        return Int(value)
    }

    /// A box [x, y, w, h] of finite numbers with non-negative sizes.
    static func checkBox(_ box: [Double], file: String, record: String) throws -> [Double] {
        guard box.count == 4 else {
            throw EvaluationError.invalidRecord(file: file, record: record, field: "bbox", reason: "expected 4 numbers [x, y, w, h], got \(box.count)")
        }
        guard box.allSatisfy(\.isFinite) else {
            throw EvaluationError.invalidRecord(file: file, record: record, field: "bbox", reason: "holds a non-finite number: \(box)")
        }
        guard box[2] >= 0, box[3] >= 0 else {
            throw EvaluationError.invalidRecord(file: file, record: record, field: "bbox", reason: "negative width or height: \(box)")
        }
        return box
    }
}

extension GroundTruth {
    /// One image's annotated boxes, in file order: what `predict --gt-boxes` and watch mode's
    /// manifests prompt with.
    public struct ImageAnnotations: Sendable {
        /// COCO [x, y, width, height] in pixels.
        public var boxes: [[Double]]
        /// Index into `categories` of each box.
        public var categoryIndices: [Int]
    }

    /// Every image's annotations (crowd regions included; those of unknown images or categories
    /// left out, as the evaluators leave them), by image index in file order.
    public func annotationsByImage() -> [ImageAnnotations] {
        var result = Array(repeating: ImageAnnotations(boxes: [], categoryIndices: []), count: imageIDs.count)
        for a in annID.indices where annImage[a] >= 0 && annCategory[a] >= 0 {
            let image = Int(annImage[a])
            result[image].boxes.append(Array(annBox[(a * 4)..<(a * 4 + 4)]))
            result[image].categoryIndices.append(Int(annCategory[a]))
        }
        return result
    }
}
