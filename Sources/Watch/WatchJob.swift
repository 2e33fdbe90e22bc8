import Batch
import Evaluation
import Foundation
import Imaging
import RegionSpot
import Tensors

/// The work for one input, run on a job thread: read it, ask the engine, write the outputs
/// atomically. The output written last (`.regions.json`, `.results.json`) is the mark that the
/// input is done, so a crash at any moment leaves it either done or untouched.
enum WatchJob {
    case image(name: String, stem: String, sidecar: String?)
    case manifest(name: String, stem: String)

    var name: String {
        switch self {
        case let .image(name, _, _), let .manifest(name, _): return name
        }
    }

    /// The inputs that move to done/ or failed/ with it.
    var inputs: [String] {
        switch self {
        case let .image(name, _, sidecar): return [name] + (sidecar.map { [$0] } ?? [])
        case let .manifest(name, _): return [name]
        }
    }

    /// The output whose presence means done.
    static func completionMark(stem: String, manifest: Bool, in outbox: URL) -> URL {
        outbox.appendingPathComponent(manifest ? "\(stem).results.json" : "\(stem).regions.json")
    }

    func run(_ options: WatchOptions, engine: any Recognizing) throws {
        switch self {
        case let .image(name, stem, sidecar): try Self.recognizeImage(name: name, stem: stem, sidecar: sidecar, options, engine)
        case let .manifest(name, stem): try Self.recognizeManifest(name: name, stem: stem, options, engine)
        }
    }

    // MARK: One image with its sidecar

    private static func recognizeImage(name: String, stem: String, sidecar: String?, _ options: WatchOptions,
                                       _ engine: any Recognizing) throws {
        let imageURL = options.inbox.appendingPathComponent(name)
        let boxes = try sidecar.map { try BoxesFile(contentsOf: options.inbox.appendingPathComponent($0)) }
        guard boxes != nil || options.proposals != nil else {
            throw WatchError.badInput(file: imageURL.path, field: nil, reason: "no sidecar \(stem).boxes.json with its boxes")
        }
        guard let vocabulary = boxes?.vocabulary ?? options.vocabulary else {
            throw WatchError.badInput(file: options.inbox.appendingPathComponent(sidecar ?? name).path, field: "vocabulary",
                                      reason: "no vocabulary in the sidecar and none given with --vocab or --vocab-file")
        }
        let data = try read(imageURL)
        let wantMasks = options.masks || options.visualize
        let recognition = try engine.recognize(RecognitionRequest(
            image: .encoded(data, source: imageURL.path), boxes: boxes?.boxes ?? [], boxScores: boxes?.scores,
            vocabulary: vocabulary, topK: options.topK, masks: wantMasks, proposals: boxes == nil ? options.proposals : nil))
        if options.visualize {
            let picture = try RGBImage(decoding: data, source: imageURL.path)
            try Visualization.draw(recognition, vocabulary: vocabulary, on: picture)
                .write(to: options.outbox.appendingPathComponent("\(stem).png"))
        }
        var output = PredictionOutput(image: name, width: recognition.imageWidth, height: recognition.imageHeight,
                                      recognition: recognition, vocabulary: vocabulary)
        if !options.masks { output.regions.indices.forEach { output.regions[$0].mask = nil } }
        try AtomicFile.write(output.json(), to: completionMark(stem: stem, manifest: false, in: options.outbox))
    }

    // MARK: A manifest: many images, one results file

    /// Images named by `file_name` relative to the inbox (keep them in a subdirectory, which the
    /// watcher does not watch); boxes from the annotations, or from the results-format file the
    /// manifest names under `"detections"` (scored boxes: score = box score × class probability).
    /// Each image's records are kept as it finishes, so a restart resumes where it stopped.
    private static func recognizeManifest(name: String, stem: String, _ options: WatchOptions, _ engine: any Recognizing) throws {
        let manifestURL = options.inbox.appendingPathComponent(name)
        let prompts = try DatasetPrompts(annotations: manifestURL, proposals: detectionsFile(named: manifestURL))
        let dataset = prompts.dataset
        let vocabulary = options.vocabulary ?? dataset.categories.map(\.name)
        guard vocabulary.count == dataset.categories.count else {
            throw WatchError.badInput(file: manifestURL.path, field: "categories",
                                      reason: "--vocab gives \(vocabulary.count) names for \(dataset.categories.count) categories")
        }
        let partial = options.outbox.appendingPathComponent(".regionspot-watch/partial/\(stem)")
        try FileManager.default.createDirectory(at: partial, withIntermediateDirectories: true)

        var records: [LVISResult] = []
        var failures: [String] = []
        for (index, imageID) in dataset.imageIDs.enumerated() {
            let done = partial.appendingPathComponent("\(imageID).json")
            if let saved = try? JSONDecoder().decode([LVISResult].self, from: Data(contentsOf: done)) {
                records += saved
                continue
            }
            do {
                let (boxes, scores) = prompts.prompts(forImageAt: index)
                let imageURL = options.inbox.appendingPathComponent(try prompts.fileName(ofImageAt: index))
                // Every class's score per box (top-k = all): a daemon's reply carries labels, not the
                // probability matrix, and detections need all of them.
                let recognition = try engine.recognize(RecognitionRequest(
                    image: .encoded(try read(imageURL), source: imageURL.path), boxes: boxes, boxScores: scores,
                    vocabulary: vocabulary, topK: vocabulary.count, masks: options.masks))
                let found = Scoring.detections(probabilities: probabilities(recognition.regions, classes: vocabulary.count),
                                               boxScores: scores)
                let masks = options.masks ? recognition.regions.map { $0.mask.map(CompressedRLE.init)! } : nil
                let imageRecords = try LVISResults.records(imageID: imageID, detections: found, boxes: boxes,
                                                           categoryIDs: prompts.categoryIDs, masks: masks)
                try AtomicFile.write(LVISResults.encode(imageRecords), to: done)
                records += imageRecords
            } catch {
                failures.append("image \(imageID): \(error)")
            }
        }
        if !failures.isEmpty {
            let report = try JSONSerialization.data(withJSONObject: ["file": manifestURL.path, "failed_images": failures],
                                                    options: [.prettyPrinted, .sortedKeys])
            try AtomicFile.write(report, to: options.outbox.appendingPathComponent("\(stem).errors.json"))
        }
        try AtomicFile.write(LVISResults.encode(records), to: completionMark(stem: stem, manifest: true, in: options.outbox))
        try? FileManager.default.removeItem(at: partial)
    }

    /// [boxes, classes] from regions labelled with every class.
    private static func probabilities(_ regions: [RecognizedRegion], classes: Int) -> Tensor {
        var result = Tensor(shape: [regions.count, classes])
        result.withUnsafeMutableBufferPointer { out in
            for (r, region) in regions.enumerated() {
                for label in region.labels { out[r * classes + label.classIndex] = label.score }
            }
        }
        return result
    }

    /// The results-format file a manifest names under `"detections"` (relative to the manifest), if any.
    private static func detectionsFile(named manifest: URL) throws -> URL? {
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: manifest)) as? [String: Any]
        guard let relative = root?["detections"] else { return nil }
        guard let relative = relative as? String else {
            throw WatchError.badInput(file: manifest.path, field: "detections", reason: "expected the path of a results file")
        }
        return manifest.deletingLastPathComponent().appendingPathComponent(relative)
    }

    private static func read(_ url: URL) throws -> Data {
        do { return try Data(contentsOf: url) } catch {
            throw WatchError.badInput(file: url.path, field: nil, reason: "cannot read: \(error.localizedDescription)")
        }
    }
}
