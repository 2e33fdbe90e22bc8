import ArgumentParser
import Foundation
import Imaging
import RegionSpot
import Tensors
import Training

/// The training feature cache's precompute (decode, SAM encoder + decoder for every box, CLIP
/// token map, fp16 files written atomically) in images/s, beside the two encoders alone on the
/// same image: the precompute should be encoder-bound.
struct TrainPrecomputeBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train-precompute", abstract: "Feature-cache precompute images/s beside the encoders'.")

    @Option var bundle: String
    @Option(help: "An image every dataset record points at.") var image: String
    @Option var images = 6
    @Option var boxes = 20
    @Option var threads = Parallel.processorCount

    func run() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("regionspot-precompute-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let picture = try RGBImage(contentsOf: URL(fileURLWithPath: image))
        var records: [[String: Any]] = [], annotations: [[String: Any]] = []
        var generator = SplitMix64(seed: 1)
        for id in 1...images {
            let name = "\(id).png"
            try FileManager.default.copyItem(at: URL(fileURLWithPath: image), to: scratch.appendingPathComponent(name))
            records.append(["id": id, "width": picture.width, "height": picture.height, "file_name": name])
            for _ in 0..<boxes {
                let w = 20 + Int(generator.next() % 200), h = 20 + Int(generator.next() % 200)
                let x = Int(generator.next() % UInt64(picture.width - w)), y = Int(generator.next() % UInt64(picture.height - h))
                annotations.append(["image_id": id, "category_id": 1, "bbox": [x, y, w, h]])
            }
        }
        let json = scratch.appendingPathComponent("train.json")
        try JSONSerialization.data(withJSONObject: ["images": records, "annotations": annotations, "categories": [["id": 1, "name": "thing"]]])
            .write(to: json)
        let dataset = try TrainingDataset(DatasetSource(format: .lvis, annotations: json.path, images: scratch.path))
        let model = try ModelBundle(directory: URL(fileURLWithPath: bundle))
        let recognizer = try Recognizer(bundle: model, threads: threads)
        let cache = try FeatureCache(root: scratch.appendingPathComponent("cache"), bundle: model)
        let v = recognizer.clipConfiguration.vision!, grid = recognizer.clipInputSize / v.patchSize
        let plan = try cache.plan([dataset], tokens: 1 + grid * grid, width: v.width, tokenDim: recognizer.fusion.config.tokenDim)

        func encoders() throws {
            _ = recognizer.encodeImage(picture)
            _ = try recognizer.tokenMap(picture)
        }
        try encoders()  // warm-up
        var start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<images { try encoders() }
        let encoderRate = Double(images) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        start = DispatchTime.now().uptimeNanoseconds
        try cache.precompute([dataset], plan: plan, recognizer: recognizer)
        let precompute = Double(images) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        print(String(format: "train precompute: %.3f images/s with %d boxes each; SAM + CLIP encoders alone %.3f images/s (%.0f%%), %d threads",
                     precompute, boxes, encoderRate, 100 * precompute / encoderRate, threads))
    }
}
