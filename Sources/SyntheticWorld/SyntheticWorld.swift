import Foundation
import Imaging
import Tensors

/// What world to make.
public struct WorldConfiguration: Sendable, Equatable {
    public var categories = Catalogue.combinations
    public var heldOut = 10
    public var trainImages = 20_000
    public var valImages = 1_000
    /// Images of the encoders' pretraining split (none by default): training categories only,
    /// drawn alike, with no long tail, as a real encoder's pretraining data knows nothing of
    /// LVIS's frequencies. In a long-tail split the frequent combinations let an encoder guess
    /// an object's shape from its colour and texture instead of learning it from its outline.
    public var pretrainImages = 0
    public var seed: UInt64 = 0
    public var width = 128
    public var height = 128
    /// Whether to write train.json and the training PNGs. Without them the training scenes are
    /// still drawn, since val.json's frequency groups count them.
    public var writesTrainingSplit = true
    /// Whether to write each val image's annotated boxes beside it as NAME.boxes.json (the boxes
    /// file `predict`, `client` and `watch` read).
    public var writesBoxSidecars = false

    /// Objects per scene are drawn uniformly from 1...maximumObjects.
    public static let maximumObjects = 6

    public init() {}
}

public enum WorldError: Error, CustomStringConvertible, Equatable {
    case invalidConfiguration(String)
    case writeFailed(file: String, reason: String)

    public var description: String {
        switch self {
        case let .invalidConfiguration(reason): reason
        case let .writeFailed(file, reason): "\(file): cannot write: \(reason)"
        }
    }
}

/// What was written.
public struct WorldSummary: Sendable {
    public let trainImages: Int
    public let valImages: Int
    public let pretrainImages: Int
    public let trainAnnotations: Int
    public let valAnnotations: Int
    public let pretrainAnnotations: Int
    /// Training categories per LVIS frequency group ("r", "c", "f").
    public let frequencyCounts: [String: Int]
    public let heldOutNames: [String]
}

/// A synthetic long-tail world in LVIS format: `train.json` and `val.json` beside `train/` and
/// `val/` PNG folders (and `pretrain.json`, `pretrain/` when asked), and `names.txt`, every
/// category's name in id order. Every image is drawn from its own random stream (seed, split,
/// index), so the output is the same bytes for a seed whatever the thread count.
public enum SyntheticWorld {
    public static func generate(_ configuration: WorldConfiguration, to directory: URL) throws -> WorldSummary {
        let c = configuration
        guard c.width >= 32 && c.height >= 32 && c.width <= 4096 && c.height <= 4096 else {
            throw WorldError.invalidConfiguration("--size must be between 32x32 and 4096x4096, got \(c.width)x\(c.height)")
        }
        let catalogue: Catalogue
        do { catalogue = try Catalogue(count: c.categories, heldOut: c.heldOut, seed: c.seed) } catch let error as CatalogueError {
            throw WorldError.invalidConfiguration(error.description)
        }
        let trainingIndices = catalogue.categories.indices.filter { !catalogue.categories[$0].heldOut }
        guard c.trainImages >= trainingIndices.count else {
            throw WorldError.invalidConfiguration("--images must be at least the \(trainingIndices.count) training categories, "
                + "so that each appears in a training image; got \(c.trainImages)")
        }
        guard c.valImages >= 1 else { throw WorldError.invalidConfiguration("--val-images must be at least 1, got \(c.valImages)") }
        guard c.pretrainImages >= 0 else {
            throw WorldError.invalidConfiguration("--pretrain-images must not be negative, got \(c.pretrainImages)")
        }

        let renderer = SceneRenderer(width: c.width, height: c.height, catalogue: catalogue)
        let meanObjects = Double(WorldConfiguration.maximumObjects + 1) / 2
        let tail = LongTail(trainingCategories: trainingIndices, objects: Double(c.trainImages) * meanObjects, seed: c.seed)
        let allIndices = Array(catalogue.categories.indices)

        // Training scenes follow the long tail; the first ones each end with (so show unoccluded)
        // one training category, so that every training category has a training image.
        let train = try renderSplit("train", split: 1, count: c.trainImages, renderer: renderer, seed: c.seed,
                                    into: c.writesTrainingSplit ? directory : nil, candidates: trainingIndices) { image, random in
            var picks = (0..<(1 + random.index(below: WorldConfiguration.maximumObjects))).map { _ in tail.draw(&random) }
            if image < tail.order.count { picks[picks.count - 1] = tail.order[image] }
            return picks
        }
        // Validation scenes draw every category alike, held-out ones included.
        let val = try renderSplit("val", split: 2, count: c.valImages, renderer: renderer, seed: c.seed, into: directory,
                                  candidates: allIndices) { image, random in
            var picks = (0..<(1 + random.index(below: WorldConfiguration.maximumObjects))).map { _ in random.index(below: allIndices.count) }
            if image < allIndices.count { picks[picks.count - 1] = image }
            return picks
        }

        // Pretraining scenes draw every training category alike (held-out ones never appear).
        let pretrain = try renderSplit("pretrain", split: 3, count: c.pretrainImages, renderer: renderer, seed: c.seed,
                                       into: c.pretrainImages > 0 ? directory : nil,
                                       candidates: trainingIndices) { _, random in
            (0..<(1 + random.index(below: WorldConfiguration.maximumObjects))).map { _ in
                trainingIndices[random.index(below: trainingIndices.count)]
            }
        }

        let statistics = TrainingStatistics(train, categories: catalogue.categories.count)
        let writer = AnnotationWriter(catalogue: catalogue, statistics: statistics, configuration: c)
        if c.writesTrainingSplit {
            try write(writer.file(train, split: "train"), to: directory.appendingPathComponent("train.json"))
        }
        if c.pretrainImages > 0 {
            try write(writer.file(pretrain, split: "pretrain"), to: directory.appendingPathComponent("pretrain.json"))
        }
        try write(writer.file(val, split: "val"), to: directory.appendingPathComponent("val.json"))
        if c.writesBoxSidecars {
            for record in val {
                let boxes = record.objects.map { o in "[\(o.box[0]), \(o.box[1]), \(o.box[0] + o.box[2]), \(o.box[1] + o.box[3])]" }
                let name = (record.fileName as NSString).deletingPathExtension + ".boxes.json"
                try write("{\"boxes\": [" + boxes.joined(separator: ", ") + "]}\n",
                          to: directory.appendingPathComponent("val").appendingPathComponent(name))
            }
        }
        // The val vocabulary for --vocab-file: every category (held-out ones too) in id order.
        try write(catalogue.categories.map { $0.name + "\n" }.joined(), to: directory.appendingPathComponent("names.txt"))
        var groups: [String: Int] = ["r": 0, "c": 0, "f": 0]
        for index in trainingIndices { groups[statistics.frequency(index), default: 0] += 1 }
        return WorldSummary(trainImages: train.count, valImages: val.count, pretrainImages: pretrain.count,
                            trainAnnotations: train.reduce(0) { $0 + $1.objects.count },
                            valAnnotations: val.reduce(0) { $0 + $1.objects.count },
                            pretrainAnnotations: pretrain.reduce(0) { $0 + $1.objects.count },
                            frequencyCounts: groups, heldOutNames: catalogue.heldOut.map(\.name))
    }

    /// Renders one split's images in parallel (writing them into `directory`/`name` unless it is
    /// nil), returning their annotation records in order.
    private static func renderSplit(_ name: String, split: UInt64, count: Int, renderer: SceneRenderer, seed: UInt64, into directory: URL?,
                                    candidates: [Int], picks: @escaping @Sendable (Int, inout SplitMix64) -> [Int]) throws -> [SceneRecord] {
        let folder = directory?.appendingPathComponent(name)
        if let folder {
            do { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) } catch {
                throw WorldError.writeFailed(file: folder.path, reason: error.localizedDescription)
            }
        }
        var records = [SceneRecord?](repeating: nil, count: count)
        let failure = FirstError()
        records.withUnsafeMutableBufferPointer { slots in
            nonisolated(unsafe) let slots = slots
            Parallel.forEach(count) { image in
                var random = SplitMix64(seed: seed, stream: split, UInt64(image))
                let scene = renderer.render(picks(image, &random), random: &random)
                let fileName = String(format: "%06d.png", image + 1)
                if let url = folder?.appendingPathComponent(fileName) {
                    do { try scene.image.write(to: url, format: .png) } catch {
                        failure.record(WorldError.writeFailed(file: url.path, reason: "\(error)"))
                    }
                }
                slots[image] = SceneRecord(scene: scene, fileName: fileName, candidates: candidates, random: &random)
            }
        }
        if let error = failure.error { throw error }
        return records.map { $0! }
    }

    private static func write(_ text: String, to url: URL) throws {
        do { try AtomicFile.write(Data(text.utf8), to: url) } catch {
            throw WorldError.writeFailed(file: url.path, reason: "\(error)")
        }
    }
}

/// One image's annotation: its objects, and the federated lists LVIS evaluation reads.
struct SceneRecord: Sendable {
    let fileName: String
    let objects: [VisibleObject]
    /// Categories verified absent (half of the candidates not drawn, chosen at random), sorted.
    let negatives: [Int]
    let partlyAnnotated: [Int]

    init(scene: RenderedScene, fileName: String, candidates: [Int], random: inout SplitMix64) {
        self.fileName = fileName
        objects = scene.objects
        partlyAnnotated = scene.partlyAnnotated
        let present = Set(scene.present)
        negatives = candidates.filter { !present.contains($0) && random.chance(0.5) }
    }
}

/// Per-category training image and instance counts, and the LVIS frequency they give.
struct TrainingStatistics: Sendable {
    var imageCounts: [Int]
    var instanceCounts: [Int]

    init(_ records: [SceneRecord], categories: Int) {
        imageCounts = Array(repeating: 0, count: categories)
        instanceCounts = Array(repeating: 0, count: categories)
        for record in records {
            for object in record.objects { instanceCounts[object.category] += 1 }
            for category in Set(record.objects.map(\.category)) { imageCounts[category] += 1 }
        }
    }

    /// LVIS's rule: "r" for 1–10 training images, "c" for 11–100, "f" above. Held-out
    /// categories (no training image) count as rare, as open-vocabulary LVIS treats its novel ones.
    func frequency(_ category: Int) -> String {
        let images = imageCounts[category]
        return images <= 10 ? "r" : images <= 100 ? "c" : "f"
    }
}

/// Keeps the first error thrown by any parallel worker.
private final class FirstError: @unchecked Sendable {
    private let lock = NSLock()
    private var first: Error?

    func record(_ error: Error) {
        lock.lock()
        defer { lock.unlock() }
        if first == nil { first = error }
    }

    var error: Error? {
        lock.lock()
        defer { lock.unlock() }
        return first
    }
}
