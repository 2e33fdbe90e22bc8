import Foundation
import Imaging
import RegionSpot
import Tensors

/// The frozen features training reads, computed once (`regionspot train precompute`):
/// RegionSpot's SAM mask token 0 of every annotated box (as its training data precomputes
/// them), CLIP's token map of every image (RegionSpot recomputes them each step on augmented
/// images; we cache them, which fixes them to the unaugmented image), and the class
/// embeddings of each vocabulary.
///
/// Layout: `ROOT/<encoder key>/<dataset key>/<image index>.safetensors` with `mask_tokens`
/// [boxes, 256] and `token_map` [1 + g², D] in fp16, memory-mapped when read; images past
/// the size limit keep only their mask tokens and get their token map recomputed when
/// used. The encoder key hashes the SAM and CLIP files' bytes and the settings that shape the
/// features, so a changed model never reads stale features; the dataset key hashes the
/// annotation file (the boxes) and the images directory. Each image's file is written
/// atomically, so a killed precompute resumes where it stopped.
public struct FeatureCache: Sendable {
    public static let dtype = TensorDType.f16
    public let directory: URL
    /// Bytes of token maps the cache may hold; images past it get theirs computed on the fly.
    public let tokenMapLimit: Int

    public init(root: URL, bundle: ModelBundle, tokenMapLimit: Int = .max) throws {
        var hash = ContentHash()
        hash.add("regionspot-training-features-v1 \(Self.dtype.rawValue) clip-input \(bundle.manifest.clip.inputSize)")
        try hash.add(file: bundle.samURL)
        try hash.add(file: bundle.clipURL)
        directory = root.appendingPathComponent(hash.hex)
        self.tokenMapLimit = tokenMapLimit
    }

    /// Where one dataset's features live.
    public func directory(for dataset: TrainingDataset) throws -> URL {
        var hash = ContentHash()
        hash.add(dataset.source.format.rawValue)
        hash.add(URL(fileURLWithPath: dataset.source.images).standardizedFileURL.path)
        try hash.add(file: URL(fileURLWithPath: dataset.source.annotations))
        return directory.appendingPathComponent(hash.hex)
    }

    // MARK: Planning

    /// What a precompute of `datasets` will write: which images store their token map (in
    /// order, until the limit), how many files are still missing, and the bytes on disk.
    public struct Plan: Sendable {
        public let missing: [(dataset: Int, image: Int)]
        public let totalBytes: Int, missingBytes: Int
        /// Per dataset, per image: whether its token map is stored.
        public let storesTokenMap: [[Bool]]
    }

    public func plan(_ datasets: [TrainingDataset], tokens: Int, width: Int, tokenDim: Int) throws -> Plan {
        let mapBytes = tokens * width * Self.dtype.byteSize
        var used = 0, total = 0, missingBytes = 0
        var missing: [(Int, Int)] = [], stores: [[Bool]] = []
        for (d, dataset) in datasets.enumerated() {
            let folder = try directory(for: dataset)
            var flags: [Bool] = []
            for (i, image) in dataset.images.enumerated() {
                let stored = used + mapBytes <= tokenMapLimit
                if stored { used += mapBytes }
                flags.append(stored)
                let bytes = (stored ? mapBytes : 0) + image.boxes.count * tokenDim * Self.dtype.byteSize + 256
                total += bytes
                if !Self.exists(folder, i) {
                    missing.append((d, i))
                    missingBytes += bytes
                }
            }
            stores.append(flags)
        }
        return Plan(missing: missing, totalBytes: total, missingBytes: missingBytes, storesTokenMap: stores)
    }

    // MARK: Computing

    /// Computes every missing image's features; `progress(done, total)` after each image.
    /// Images that cannot be read or decoded are marked bad (with the reason) and skipped.
    public func precompute(_ datasets: [TrainingDataset], plan: Plan, recognizer: Recognizer,
                           progress: (Int, Int) -> Void = { _, _ in }) throws {
        let folders = try datasets.map(directory(for:))  // each hashes its annotation file once
        for folder in folders { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        for (done, (d, i)) in plan.missing.enumerated() {
            let image = datasets[d].images[i], folder = folders[d]
            do {
                let picture = try RGBImage(contentsOf: URL(fileURLWithPath: image.file))
                let embedding = recognizer.encodeImage(picture)
                var tensors = ["mask_tokens": try recognizer.regionTokens(embedding, boxes: image.boxes, masks: false).maskTokens]
                if plan.storesTokenMap[d][i] { tensors["token_map"] = try recognizer.tokenMap(picture) }
                try AtomicFile.write(SafeTensors.encode(tensors, dtype: Self.dtype), to: Self.file(folder, i))
            } catch {
                try AtomicFile.write(Data("\(error)".utf8), to: Self.badMark(folder, i))
            }
            progress(done + 1, plan.missing.count)
        }
    }

    /// Why each image was marked bad at precompute, by dataset and image index.
    public func badImages(_ dataset: TrainingDataset) throws -> [Int: String] {
        let folder = try directory(for: dataset)
        var result: [Int: String] = [:]
        for i in dataset.images.indices where FileManager.default.fileExists(atPath: Self.badMark(folder, i).path) {
            result[i] = (try? String(contentsOf: Self.badMark(folder, i), encoding: .utf8)) ?? "unreadable"
        }
        return result
    }

    // MARK: Reading

    /// One image's cached features; a token map past the limit is recomputed with `recognizer`
    /// and rounded to fp16 like the stored ones, so it makes no difference where it came from.
    public func features(_ dataset: TrainingDataset, image index: Int, folder: URL, recognizer: Recognizer) throws
        -> (maskTokens: Tensor, tokenMap: Tensor) {
        let url = Self.file(folder, index)
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(url: url) } catch {
            throw TrainingError.badData("\(url.path): cached features unreadable (\(error)); run `regionspot train precompute` again")
        }
        let maskTokens = try file.tensor(named: "mask_tokens")
        if file.contains("token_map") { return (maskTokens, try file.tensor(named: "token_map")) }
        let picture = try RGBImage(contentsOf: URL(fileURLWithPath: dataset.images[index].file))
        return (maskTokens, try Self.roundedToStorage(recognizer.tokenMap(picture)))
    }

    /// Class embeddings of `vocabulary` (fp32: the logit scale of ~100 multiplies their rounding).
    public func classEmbeddings(_ vocabulary: [String], recognizer: Recognizer) throws -> Tensor {
        var hash = ContentHash()
        vocabulary.forEach { hash.add($0) }
        recognizer.bundle.templates.forEach { hash.add($0) }
        let url = directory.appendingPathComponent("classes-\(hash.hex).safetensors")
        if let stored = try? SafeTensorsFile(url: url).tensor(named: "class_embeddings"), stored.shape.first == vocabulary.count {
            return stored
        }
        let embeddings = try recognizer.classEmbeddings(for: vocabulary)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try AtomicFile.write(SafeTensors.encode(["class_embeddings": embeddings]), to: url)
        return embeddings
    }

    static func roundedToStorage(_ tensor: Tensor) throws -> Tensor {
        try SafeTensors.decode(SafeTensors.encode(["t": tensor], dtype: dtype)).tensors["t"]!
    }

    static func file(_ folder: URL, _ index: Int) -> URL { folder.appendingPathComponent("\(index).safetensors") }
    static func badMark(_ folder: URL, _ index: Int) -> URL { folder.appendingPathComponent("\(index).bad") }
    static func exists(_ folder: URL, _ index: Int) -> Bool {
        FileManager.default.fileExists(atPath: file(folder, index).path) || FileManager.default.fileExists(atPath: badMark(folder, index).path)
    }
}
