import Foundation
import Imaging

/// Where a dataset comes from: `lvis:ANNOTATIONS.json:IMAGES_DIR` or `coco:…`.
public struct DatasetSource: Sendable, Equatable, Codable {
    public enum Format: String, Sendable, Codable, CaseIterable { case lvis, coco }

    public var format: Format
    public var annotations: String
    public var images: String

    public init(format: Format, annotations: String, images: String) {
        self.format = format
        self.annotations = annotations
        self.images = images
    }

    /// Parses `FORMAT:ANNOTATIONS.json:IMAGES_DIR` (the images directory may itself contain ':').
    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, let format = Format(rawValue: parts[0]), !parts[1].isEmpty, !parts[2].isEmpty else {
            throw TrainingError.badOption("dataset \"\(text)\": expected lvis:ANNOTATIONS.json:IMAGES_DIR or coco:ANNOTATIONS.json:IMAGES_DIR")
        }
        self.init(format: format, annotations: parts[1], images: parts[2])
    }

    public var description: String { "\(format.rawValue):\(annotations):\(images)" }
}

/// One training image: its file and its annotated boxes with their class indices.
public struct AnnotatedImage: Sendable, Equatable {
    public let id: Int
    public let file: String
    public let width: Int, height: Int
    public let boxes: [Box]
    /// Index into the dataset's vocabulary, one per box.
    public let labels: [Int]
}

/// An LVIS- or COCO-format dataset read for training: its vocabulary (category names in id
/// order) and the images that have at least one usable box. Bad records are skipped and
/// described in `problems` (file, record, field), never silently.
public struct TrainingDataset: Sendable {
    public let source: DatasetSource
    public let vocabulary: [String]
    /// The category id of each vocabulary entry.
    public let categoryIDs: [Int]
    public let images: [AnnotatedImage]
    public let problems: [String]

    public var regionCount: Int { images.reduce(0) { $0 + $1.boxes.count } }

    public init(_ source: DatasetSource) throws {
        self.source = source
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: source.annotations)) } catch {
            throw TrainingError.badData("\(source.annotations): cannot read: \(error.localizedDescription)")
        }
        let file: AnnotationFile
        do { file = try JSONDecoder().decode(AnnotationFile.self, from: data) } catch {
            throw TrainingError.badData("\(source.annotations): \(Self.describe(error))")
        }
        var problems: [String] = []
        func report(_ record: String, _ field: String, _ reason: String) {
            problems.append("\(source.annotations): \(record).\(field): \(reason); skipped")
        }

        var categories: [(id: Int, name: String)] = []
        for (index, record) in file.categories.enumerated() {
            switch record.value {
            case let .failure(error): report("categories[\(index)]", Self.field(error), Self.describe(error))
            case let .success(category):
                if categories.contains(where: { $0.id == category.id }) { report("categories[\(index)]", "id", "duplicate id \(category.id)") } else { categories.append((category.id, category.name)) }
            }
        }
        categories.sort { $0.id < $1.id }
        let classIndex = Dictionary(uniqueKeysWithValues: categories.enumerated().map { ($1.id, $0) })

        var boxesByImage: [Int: [(Box, Int)]] = [:]
        for (index, record) in file.annotations.enumerated() {
            let name = "annotations[\(index)]"
            switch record.value {
            case let .failure(error): report(name, Self.field(error), Self.describe(error))
            case let .success(annotation):
                guard let label = classIndex[annotation.categoryID] else {
                    report(name, "category_id", "no category \(annotation.categoryID)"); continue
                }
                let b = annotation.bbox
                guard b.count == 4, b.allSatisfy(\.isFinite), b[2] > 0, b[3] > 0 else {
                    report(name, "bbox", "expected [x, y, width, height] with a positive size, got \(b)"); continue
                }
                boxesByImage[annotation.imageID, default: []].append((Box(xywh: b), label))
            }
        }

        var images: [AnnotatedImage] = [], seen = Set<Int>()
        for (index, record) in file.images.enumerated() {
            let name = "images[\(index)]"
            switch record.value {
            case let .failure(error): report(name, Self.field(error), Self.describe(error))
            case let .success(image):
                guard seen.insert(image.id).inserted else { report(name, "id", "duplicate id \(image.id)"); continue }
                guard let fileName = image.fileName else { report(name, "file_name", "missing (and no coco_url to take it from)"); continue }
                guard let boxes = boxesByImage[image.id], !boxes.isEmpty else { continue }  // nothing to learn from
                images.append(AnnotatedImage(id: image.id, file: URL(fileURLWithPath: source.images).appendingPathComponent(fileName).path,
                                             width: image.width, height: image.height, boxes: boxes.map(\.0), labels: boxes.map(\.1)))
            }
        }
        guard !categories.isEmpty else { throw TrainingError.badData("\(source.annotations): no usable categories") }
        guard !images.isEmpty else { throw TrainingError.badData("\(source.annotations): no image with a usable annotated box") }
        vocabulary = categories.map(\.name)
        categoryIDs = categories.map(\.id)
        self.images = images
        self.problems = problems
    }

    /// The same dataset with only `indices` of its images (for a held-out split).
    public init(_ other: TrainingDataset, keeping indices: [Int]) {
        source = other.source
        vocabulary = other.vocabulary
        categoryIDs = other.categoryIDs
        images = indices.map { other.images[$0] }
        problems = []
    }

    // MARK: The JSON records

    private struct AnnotationFile: Decodable {
        var images: [Lenient<ImageRecord>]
        var annotations: [Lenient<AnnotationRecord>]
        var categories: [Lenient<CategoryRecord>]
    }

    private struct ImageRecord: Decodable {
        var id: Int, width: Int, height: Int
        var fileName: String?
        enum CodingKeys: String, CodingKey { case id, width, height, fileName = "file_name", cocoURL = "coco_url" }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.decode(Int.self, forKey: .id)
            width = try c.decode(Int.self, forKey: .width)
            height = try c.decode(Int.self, forKey: .height)
            // COCO names the file; LVIS v1 gives only the COCO URL, whose last component is it.
            fileName = try c.decodeIfPresent(String.self, forKey: .fileName)
                ?? c.decodeIfPresent(String.self, forKey: .cocoURL).map { String($0.split(separator: "/").last ?? "") }
        }
    }

    private struct AnnotationRecord: Decodable {
        var imageID: Int, categoryID: Int, bbox: [Float]
        enum CodingKeys: String, CodingKey { case imageID = "image_id", categoryID = "category_id", bbox }
    }

    private struct CategoryRecord: Decodable {
        var id: Int, name: String
    }

    /// One array element decoded on its own, so a bad record is reported instead of failing the file.
    private struct Lenient<Value: Decodable>: Decodable {
        let value: Result<Value, Error>
        init(from decoder: any Decoder) throws {
            do { value = .success(try Value(from: decoder)) } catch { value = .failure(error) }
        }
    }

    private static func field(_ error: Error) -> String {
        guard let error = error as? DecodingError else { return "?" }
        switch error {
        case let .keyNotFound(key, _): return key.stringValue
        case let .typeMismatch(_, context), let .valueNotFound(_, context), let .dataCorrupted(context):
            return context.codingPath.last.map { $0.intValue.map(String.init) ?? $0.stringValue } ?? "?"
        @unknown default: return "?"
        }
    }

    private static func describe(_ error: Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        switch error {
        case let .keyNotFound(key, _): return "missing field \"\(key.stringValue)\""
        case let .typeMismatch(type, context): return "expected \(type): \(context.debugDescription)"
        case let .valueNotFound(type, _): return "expected \(type), found null"
        case let .dataCorrupted(context): return "not valid JSON: \(context.underlyingError.map { "\($0)" } ?? context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}
