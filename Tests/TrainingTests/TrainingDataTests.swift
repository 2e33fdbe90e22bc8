import Foundation
import Layers
import RegionSpot
import Tensors
import TestSupport
@testable import Training
import XCTest

/// The pieces of a training run around the step: datasets, the feature cache's key, the
/// initialisation, the data order and checkpoints.
final class TrainingDataTests: XCTestCase {
    func testBadRecordsAreReportedWithTheirFieldAndSkipped() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("regionspot-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let json = """
        {"images": [{"id": 1, "width": 10, "height": 10, "file_name": "a.png"}, {"id": 2, "width": "ten", "height": 10},
                    {"id": 3, "width": 10, "height": 10, "coco_url": "http://x/train2017/c.jpg"}],
         "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5]}, {"image_id": 1, "category_id": 9, "bbox": [0, 0, 5, 5]},
                         {"image_id": 3, "category_id": 2, "bbox": [0, 0, -1, 5]}, {"image_id": 3, "bbox": [1, 1, 2, 2]},
                         {"image_id": 3, "category_id": 2, "bbox": [1, 1, 2, 2]}],
         "categories": [{"id": 2, "name": "dog"}, {"id": 1, "name": "cat"}]}
        """
        let file = directory.appendingPathComponent("train.json")
        try Data(json.utf8).write(to: file)
        let dataset = try TrainingDataset(DatasetSource(parsing: "lvis:\(file.path):\(directory.path)"))
        XCTAssertEqual(dataset.vocabulary, ["cat", "dog"])
        XCTAssertEqual(dataset.images.map(\.id), [1, 3])
        XCTAssertEqual(dataset.images[1].file, directory.appendingPathComponent("c.jpg").path)
        XCTAssertEqual(dataset.images.map(\.labels), [[0], [1]])
        let problems = dataset.problems.joined(separator: "\n")
        for expected in ["images[1].width", "annotations[1].category_id: no category 9", "annotations[2].bbox", "annotations[3].category_id"] {
            XCTAssertTrue(problems.contains(expected), "\(expected) not in\n\(problems)")
        }
        XCTAssertThrowsError(try DatasetSource(parsing: "voc:a.json:b"))
    }

    func testTheCacheKeyChangesWithTheEncoderWeights() throws {
        let bundleURL = try TinyBundle.make()
        defer { try? FileManager.default.removeItem(at: bundleURL) }
        let root = URL(fileURLWithPath: "/nonexistent")
        let bundle = try ModelBundle(directory: bundleURL)
        let before = try FeatureCache(root: root, bundle: bundle).directory
        XCTAssertEqual(try FeatureCache(root: root, bundle: bundle).directory, before)
        var sam = try SafeTensorsFile(url: bundle.samURL).tensors()
        let key = sam.keys.sorted()[0]
        sam[key]!.scalars[0] += 1e-3
        try SafeTensors.write(sam, to: bundle.samURL)
        XCTAssertNotEqual(try FeatureCache(root: root, bundle: bundle).directory, before, "a changed SAM must not reuse cached features")
    }

    func testPyTorchDefaultInitialisation() throws {
        let config = FusionConfig(dModel: 64, textDim: 16, heads: 8, layers: 2, feedForward: 96)
        let model = try RegionSpotModel.pytorchDefault(config: config, seed: 3)
        XCTAssertEqual(model.parameters().map(\.key), try RegionSpotModel.pytorchDefault(config: config, seed: 4).parameters().map(\.key))
        XCTAssertNotEqual(model.parameters()[0].tensor, try RegionSpotModel.pytorchDefault(config: config, seed: 4).parameters()[0].tensor)
        XCTAssertEqual(model.parameters().map(\.tensor), try RegionSpotModel.pytorchDefault(config: config, seed: 3).parameters().map(\.tensor))
        for (key, tensor) in model.parameters() {
            let largest = tensor.scalars.map(abs).max()!
            if key.hasSuffix("in_proj_bias") || key.hasSuffix("out_proj.bias") || (key.contains("norm") && key.hasSuffix("bias")) {
                XCTAssertEqual(largest, 0, key)
            } else if key.contains("norm") {
                XCTAssertTrue(tensor.scalars.allSatisfy { $0 == 1 }, key)
            } else {
                // U(±bound): nn.Linear's 1/√fan_in, xavier's √(6/(fan_in + fan_out)) for in_proj.
                let fanIn = Float(key.hasSuffix("bias") ? model.parameters().first { $0.key == key.dropLast(4) + "weight" }!.tensor.dim(1) : tensor.dim(1))
                let bound = key.hasSuffix("in_proj_weight") ? (6 / (fanIn + 3 * fanIn)).squareRoot() : 1 / fanIn.squareRoot()
                XCTAssertLessThanOrEqual(largest, bound, key)
                XCTAssertGreaterThan(largest, bound * (tensor.count > 50 ? 0.9 : 0.3), key)
            }
        }
    }

    func testDataOrderTakesTurnsAndResumesExactly() {
        var order = DataOrder(seed: 5, imageCounts: [5, 3])
        var drawn: [(Int, [Int])] = []
        for _ in 0..<3 { drawn.append(order.next(size: 4)) }
        let saved = order
        var restored = saved
        for _ in 0..<4 {
            let (expected, resumed) = (order.next(size: 4), restored.next(size: 4))
            XCTAssertEqual(expected.dataset, resumed.dataset)
            XCTAssertEqual(expected.images, resumed.images)
        }
        XCTAssertEqual(drawn.map(\.0), [0, 1, 0])
        // An epoch visits every image once: dataset 0's first five picks are a permutation.
        XCTAssertEqual(Set(drawn[0].1 + drawn[2].1.prefix(1)), Set(0..<5))
    }

    func testCheckpointRoundTrip() throws {
        let config = FusionConfig(dModel: 32, textDim: 8, heads: 4, layers: 1, feedForward: 16)
        let model = try RegionSpotModel.pytorchDefault(config: config, seed: 1)
        var generator = SplitMix64(seed: 9)
        let moments = Dictionary(uniqueKeysWithValues: model.parameters().map {
            ($0.key, AdamW.Moments(first: Tensor.random($0.tensor.shape, using: &generator), second: Tensor.random($0.tensor.shape, in: 0...1, using: &generator)))
        })
        let state = TrainingCheckpoint.State(settings: RunSettings(options: TrainingOptions(), seed: 1, batchSize: 2, datasets: ["lvis:a:b"]),
                                             iteration: 7, optimizerSteps: 7, generator: generator,
                                             dataOrder: DataOrder(seed: 1, imageCounts: [4]), bestAP: 0.25, bestIteration: 5)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("regionspot-checkpoint-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try TrainingCheckpoint(state: state, model: model, moments: moments).write(to: url)
        let read = try TrainingCheckpoint(contentsOf: url, config: config)
        XCTAssertEqual(read.state, state)
        XCTAssertEqual(read.model.parameters().map(\.tensor), model.parameters().map(\.tensor))
        XCTAssertEqual(read.moments, moments)
    }
}
