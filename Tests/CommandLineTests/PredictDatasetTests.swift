import Foundation
import Imaging
import RegionSpot
import Testing
import Tensors

/// `regionspot predict --dataset` on the small LVIS set of Tools/make_batch_fixtures.py, with the
/// bundle `models create` makes from Fixtures/models-create.
@Suite(.serialized) struct PredictDatasetTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/batch")
    static let vocabulary = ["cat", "traffic light", "wall-other-merged", "Band_Aid", "coffee mug"]

    /// A scratch directory with the bundle, a class-embedding cache that every run shares (so
    /// that each computes with the same class embeddings), and the images.
    struct Scene {
        let root: URL, bundle: URL, cache: URL, images: URL

        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("predict-dataset-\(UUID().uuidString)")
            bundle = root.appendingPathComponent("bundle")
            cache = root.appendingPathComponent("cache")
            images = root.appendingPathComponent("images")
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: PredictDatasetTests.fixtures.appendingPathComponent("images"), to: images)
            let created = try ModelsCreateTests.create(bundle)
            #expect(created.status == 0, "\(created.standardError)")
        }

        func cleanUp() { try? FileManager.default.removeItem(at: root) }

        func batchArguments(gt: URL = fixtures.appendingPathComponent("gt.json"), out: URL) -> [String] {
            ["predict", "--model", bundle.path, "--dataset", gt.path, "--images", images.path,
             "--proposals", fixtures.appendingPathComponent("proposals.json").path, "--out", out.path,
             "--threads", "2", "--cache-dir", cache.path]
        }

        func batch(_ out: URL, _ extra: [String] = []) throws -> Executable.Result {
            try Executable.run(batchArguments(out: out) + extra)
        }
    }

    struct Proposal: Decodable { var image_id: Int; var bbox: [Float]; var score: Float }
    struct Image: Decodable { var id: Int; var file_name: String }
    struct GroundTruth: Decodable { var images: [Image] }

    /// The results file, record for record, is what `predict` gives image by image (every
    /// class's probability of every box, scored as RegionSpot does).
    @Test func theResultsAreThoseOfOneByOnePredictions() throws {
        let scene = try Scene()
        defer { scene.cleanUp() }
        let gt = try JSONDecoder().decode(GroundTruth.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("gt.json")))
        let proposals = try JSONDecoder().decode([Proposal].self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("proposals.json")))
        var expected: [LVISResult] = []
        for image in gt.images {
            let mine = proposals.filter { $0.image_id == image.id }
            let boxes = mine.map { Box(xywh: $0.bbox) }, scores = mine.map(\.score)
            let sidecar = scene.root.appendingPathComponent("boxes.json")
            try JSONSerialization.data(withJSONObject: ["boxes": boxes.map { $0.corners.map(Double.init) }, "scores": scores.map(Double.init)])
                .write(to: sidecar)
            let alone = try Self.predictAlone(scene, image, ["--boxes", sidecar.path])
            #expect(alone.regions.map(\.box) == boxes.map(\.corners))
            expected += try Self.records(alone, imageID: image.id, boxScores: scores)
        }
        let out = scene.root.appendingPathComponent("results.json")
        let batch = try scene.batch(out)
        #expect(batch.status == 0, "\(batch.standardError)")
        #expect(batch.standardError.contains("images/s") && batch.standardError.contains("ETA"))
        let ours = try JSONDecoder().decode([LVISResult].self, from: Data(contentsOf: out))
        #expect(ours.count == expected.count)
        #expect(ours == expected)
        #expect(try Data(contentsOf: out) == LVISResults.encode(expected))
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathExtension("partial").path))
    }

    /// `predict IMAGE` on one image of the scene, every class's probability (top-k 5 of 5).
    static func predictAlone(_ scene: Scene, _ image: Image, _ regions: [String]) throws -> PredictTests.Output {
        let alone = try Executable.run(["predict", "--model", scene.bundle.path, scene.images.appendingPathComponent(image.file_name).path,
                                        "--vocab", vocabulary.joined(separator: ","), "--top-k", "5", "--threads", "1",
                                        "--cache-dir", scene.cache.path] + regions)
        #expect(alone.status == 0, "\(alone.standardError)")
        return try JSONDecoder().decode(PredictTests.Output.self, from: Data(alone.standardOutput.utf8))
    }

    /// The LVIS records batch mode writes for `output`'s regions, scored as RegionSpot does.
    static func records(_ output: PredictTests.Output, imageID: Int, boxScores: [Float]) throws -> [LVISResult] {
        var probabilities = Tensor(shape: [output.regions.count, vocabulary.count])
        probabilities.withUnsafeMutableBufferPointer { p in
            for (r, region) in output.regions.enumerated() {
                for label in region.labels { p[r * vocabulary.count + label.index] = label.score }
            }
        }
        let boxes = output.regions.map { Box(x0: $0.box[0], y0: $0.box[1], x1: $0.box[2], y1: $0.box[3]) }
        return try LVISResults.records(imageID: imageID, detections: Scoring.detections(probabilities: probabilities, boxScores: boxScores),
                                       boxes: boxes, categoryIDs: [1, 2, 3, 4, 5])
    }

    /// With --proposals sam, each image's regions are those SAM's automatic mask generator keeps,
    /// scored by predicted IoU × class probability: the records `predict IMAGE --proposals sam`
    /// gives, image by image, with the same generator options.
    @Test func samProposalsAreThoseOfOneByOnePredictions() throws {
        let scene = try Scene()
        defer { scene.cleanUp() }
        let generator = ["--points-per-side", "4", "--pred-iou-thresh", "0", "--stability-score-thresh", "0.01",
                         "--stability-score-offset", "0.05", "--box-nms-thresh", "1"]
        let gt = try JSONDecoder().decode(GroundTruth.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("gt.json")))
        var expected: [LVISResult] = [], regions = 0
        for image in gt.images {
            let alone = try Self.predictAlone(scene, image, ["--proposals", "sam"] + generator)
            regions += alone.regions.count
            expected += try Self.records(alone, imageID: image.id, boxScores: alone.regions.map { $0.box_score! })
        }
        #expect(regions > gt.images.count, "the generator kept too few masks for the test to say much")
        let out = scene.root.appendingPathComponent("results.json")
        var arguments = scene.batchArguments(out: out)
        arguments[arguments.firstIndex(of: "--proposals")! + 1] = "sam"
        let batch = try Executable.run(arguments + generator)
        #expect(batch.status == 0, "\(batch.standardError)")
        #expect(try Data(contentsOf: out) == LVISResults.encode(expected))
    }

    /// `regionspot eval` on a file batch mode wrote (Fixtures/batch/results.json) gives lvis-api's metrics.
    @Test func evalOnBatchResultsEqualsLVISAPI() throws {
        let report = FileManager.default.temporaryDirectory.appendingPathComponent("batch-eval-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: report) }
        let evaluated = try Executable.run(["eval", "--gt", Self.fixtures.appendingPathComponent("gt.json").path,
                                            "--dt", Self.fixtures.appendingPathComponent("results.json").path, "--json", report.path])
        #expect(evaluated.status == 0, "\(evaluated.standardError)")
        let ours = try JSONSerialization.jsonObject(with: Data(contentsOf: report)) as! [String: Double]
        let lvis = (try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixtures.appendingPathComponent("lvis_eval.json")))
            as! [String: Any])["metrics"] as! [String: Double]
        #expect(Set(ours.keys) == Set(lvis.keys))
        for (key, value) in lvis { #expect(abs(ours[key]! - value) <= 1e-12, "\(key): \(ours[key]!) vs lvis-api \(value)") }
        #expect(lvis["AP"]! > 0)
    }

    /// kill -9 midway, then --resume: the same file as a run that was never stopped. The set is
    /// repeated five times over (60 images) so that the kill lands midway.
    @Test func aKilledRunResumesToTheSameFile() throws {
        let scene = try Scene()
        defer { scene.cleanUp() }
        var gt = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixtures.appendingPathComponent("gt.json"))) as! [String: Any]
        var proposals = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixtures.appendingPathComponent("proposals.json"))) as! [[String: Any]]
        func repeated(_ records: [[String: Any]], key: String) -> [[String: Any]] {
            (0..<5).flatMap { copy in records.map { record in record.merging([key: (record[key] as! Int) + 1000 * copy]) { $1 } } }
        }
        gt["images"] = repeated(gt["images"] as! [[String: Any]], key: "id")
        let annotations = repeated(gt["annotations"] as! [[String: Any]], key: "image_id")
        gt["annotations"] = annotations.enumerated().map { $0.element.merging(["id": $0.offset + 1]) { $1 } }
        proposals = repeated(proposals, key: "image_id")
        let gtURL = scene.root.appendingPathComponent("gt.json"), proposalsURL = scene.root.appendingPathComponent("proposals.json")
        try JSONSerialization.data(withJSONObject: gt).write(to: gtURL)
        try JSONSerialization.data(withJSONObject: proposals).write(to: proposalsURL)
        func arguments(_ out: URL) -> [String] {
            var arguments = scene.batchArguments(gt: gtURL, out: out)
            arguments[arguments.firstIndex(of: "--proposals")! + 1] = proposalsURL.path
            return arguments
        }

        let whole = scene.root.appendingPathComponent("whole.json"), resumed = scene.root.appendingPathComponent("resumed.json")
        let first = try Executable.run(arguments(whole))
        #expect(first.status == 0, "\(first.standardError)")
        let partial = resumed.appendingPathExtension("partial")
        let written = { ((try? FileManager.default.contentsOfDirectory(atPath: partial.path)) ?? []).filter { $0.hasSuffix(".json") }.count }
        let killed = try RunningProcess(arguments(resumed))
        #expect(waitUntil(timeout: 120) { written() >= 5 })
        killed.signal(SIGKILL)
        _ = killed.exitStatus(within: 30)
        let before = written()
        #expect(before >= 5 && before < 60, "\(before) images written when killed")
        #expect(!FileManager.default.fileExists(atPath: resumed.path))
        let second = try Executable.run(arguments(resumed) + ["--resume"])
        #expect(second.status == 0, "\(second.standardError)")
        #expect(second.standardError.contains("\(60 - before) images recognized, \(before) written before"), "\(second.standardError)")
        #expect(try Data(contentsOf: resumed) == Data(contentsOf: whole))
        // Once finished, --resume has nothing left to do.
        let third = try Executable.run(arguments(resumed) + ["--resume"])
        #expect(third.status == 0 && third.standardError.contains("0 images recognized, 60 written before"), "\(third.standardError)")
    }

    /// An image that does not decode is reported and skipped; the others are all written, and the exit status says so.
    @Test func aBadImageIsReportedAndSkipped() throws {
        let scene = try Scene()
        defer { scene.cleanUp() }
        try Data("not an image".utf8).write(to: scene.images.appendingPathComponent("img3.png"))
        let out = scene.root.appendingPathComponent("results.json")
        let batch = try scene.batch(out)
        #expect(batch.status == 1)
        #expect(batch.standardError.contains("failed: image 121 (img3.png)"), "\(batch.standardError)")
        #expect(batch.standardError.contains("11 images recognized, 0 written before, 1 failed"))
        let records = try JSONDecoder().decode([LVISResult].self, from: Data(contentsOf: out))
        #expect(Set(records.map(\.imageID)).count == 11 && !records.contains { $0.imageID == 121 })
        // The failed image is retried by --resume, and only it.
        try FileManager.default.copyItem(at: Self.fixtures.appendingPathComponent("images/img3.png"), to: scene.images.appendingPathComponent("fixed.png"))
        try FileManager.default.removeItem(at: scene.images.appendingPathComponent("img3.png"))
        try FileManager.default.moveItem(at: scene.images.appendingPathComponent("fixed.png"), to: scene.images.appendingPathComponent("img3.png"))
        let again = try scene.batch(out, ["--resume"])
        #expect(again.status == 0 && again.standardError.contains("1 images recognized, 11 written before"), "\(again.standardError)")
    }
}
