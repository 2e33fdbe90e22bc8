import Foundation
import Testing
import TestSupport
import Tensors

/// `regionspot predict` end to end on the tiny bundle: labels and scores as the reference
/// pipeline's probabilities, masks on request, and bad input named.
@Suite struct PredictTests {
    struct Output: Decodable {
        struct Region: Decodable {
            struct Label: Decodable, Equatable { var name: String; var index: Int; var score: Float }
            var box: [Float]
            var box_score: Float?
            var labels: [Label]
            var mask_score: Float
            var mask: [String: AnyCodableValue]?
        }
        var width: Int
        var height: Int
        var regions: [Region]
    }

    /// Just enough to see that a mask record is there.
    enum AnyCodableValue: Decodable {
        case other
        init(from decoder: any Decoder) throws { self = .other }
    }

    static func request() throws -> (boxes: String, vocabulary: [String], directory: URL) {
        let request = try JSONSerialization.jsonObject(with: Data(contentsOf: TinyBundle.request)) as! [String: Any]
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("predict-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let boxes = directory.appendingPathComponent("boxes.json")
        try JSONSerialization.data(withJSONObject: ["boxes": request["boxes"]!, "scores": request["scores"]!]).write(to: boxes)
        return (boxes.path, request["vocabulary"] as! [String], directory)
    }

    @Test func labelsEveryBoxWithTheReferenceProbabilities() throws {
        let bundle = try TinyBundle.make()
        let (boxes, vocabulary, directory) = try Self.request()
        defer { for url in [bundle, directory] { try? FileManager.default.removeItem(at: url) } }
        let result = try Executable.run(["predict", "--model", bundle.path, TinyBundle.image.path, "--boxes", boxes,
                                         "--vocab", vocabulary.joined(separator: ","), "--top-k", "5", "--masks",
                                         "--threads", "1", "--cache-dir", directory.appendingPathComponent("cache").path])
        #expect(result.status == 0, "\(result.standardError)")
        let output = try JSONDecoder().decode(Output.self, from: Data(result.standardOutput.utf8))
        let expected = try SafeTensorsFile(url: TinyBundle.fixtures.appendingPathComponent("expected.safetensors")).tensor(named: "probs")
        #expect(output.width == 80 && output.height == 60 && output.regions.count == 5)
        for (i, region) in output.regions.enumerated() {
            #expect(region.labels.count == 5 && region.mask != nil && region.box_score != nil)
            for label in region.labels {
                #expect(abs(label.score - expected.scalars[i * vocabulary.count + label.index]) < 1e-4, "box \(i) \(label.name)")
            }
        }
        // The class embeddings were kept on disk for the next run.
        let cached = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("cache/class-embeddings").path)
        #expect(cached.count == 1)
    }

    /// Without --boxes, the regions are `segment --everything`'s masks on the bundle's SAM: their boxes
    /// (inclusive corners) and predicted IoU as box_score.
    @Test func labelsTheRegionsSAMProposes() throws {
        let bundle = try TinyBundle.make()
        let (_, vocabulary, directory) = try Self.request()
        defer { for url in [bundle, directory] { try? FileManager.default.removeItem(at: url) } }
        let lowered = ["--points-per-side", "4", "--pred-iou-thresh", "0", "--stability-score-thresh", "0.01",
                       "--stability-score-offset", "0.05", "--box-nms-thresh", "1"]
        let result = try Executable.run(["predict", "--model", bundle.path, TinyBundle.image.path, "--proposals", "sam",
                                         "--vocab", vocabulary.joined(separator: ","), "--threads", "1",
                                         "--cache-dir", directory.appendingPathComponent("cache").path] + lowered)
        #expect(result.status == 0, "\(result.standardError)")
        let output = try JSONDecoder().decode(Output.self, from: Data(result.standardOutput.utf8))
        let masks = directory.appendingPathComponent("masks")
        let segment = try Executable.run(["segment", "--sam", bundle.appendingPathComponent("sam.safetensors").path,
                                          TinyBundle.image.path, "--everything", "--no-png", "--out", masks.path] + lowered)
        #expect(segment.status == 0, "\(segment.standardError)")
        let records = try JSONSerialization.jsonObject(with: Data(contentsOf: masks.appendingPathComponent("masks.json"))) as! [[String: Any]]
        #expect(!records.isEmpty && output.regions.count == records.count)
        for (region, record) in zip(output.regions, records) {
            let b = (record["bbox"] as! [NSNumber]).map(\.floatValue)
            #expect(region.box == [b[0], b[1], b[0] + b[2], b[1] + b[3]])
            // Two processes with different thread counts: GEMM sums split differently.
            #expect(abs(region.box_score! - (record["predicted_iou"] as! NSNumber).floatValue) < 1e-4)
            #expect(region.labels.count == 5)
        }
    }

    @Test func badInputIsNamed() throws {
        let bundle = try TinyBundle.make()
        let (boxes, _, directory) = try Self.request()
        defer { for url in [bundle, directory] { try? FileManager.default.removeItem(at: url) } }
        let missing = try Executable.run(["predict", "--model", bundle.path, "/nonexistent.png", "--boxes", boxes, "--vocab", "a"])
        #expect(missing.status != 0 && missing.standardError.contains("/nonexistent.png"))
        let threads = try Executable.run(["predict", "--model", bundle.path, TinyBundle.image.path, "--boxes", boxes, "--vocab", "a",
                                          "--threads", "0"])
        #expect(threads.status != 0 && threads.standardError.contains("--threads"))
    }
}
