import Foundation
import Testing
import Tensors

/// `regionspot models create` on files in the official layouts (Tools/make_create_fixtures.py):
/// segment-anything .pth, OpenAI TorchScript .pt, RegionSpot's detectron2 .pth. The committed set
/// is narrow; REGIONSPOT_CREATE_FIXTURES=DIR runs the same checks on the script's `--full` set
/// (the real widths: SAM tokens 256, ViT-L/14 at 336 px, fusion D = 1024, text 768).
@Suite struct ModelsCreateTests {
    static let fixtures = URL(fileURLWithPath: ProcessInfo.processInfo.environment["REGIONSPOT_CREATE_FIXTURES"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/models-create").path)

    struct Request: Decodable {
        struct Widths: Decodable { var fusion: Int; var clip_b: Int }
        var boxes: [[Float]]
        var vocabulary: [String]
        var clip_input_size: Int
        var logit_scale: Float
        var widths: Widths
    }

    static func request() throws -> Request {
        try JSONDecoder().decode(Request.self, from: Data(contentsOf: fixtures.appendingPathComponent("request.json")))
    }

    static func create(_ out: URL, clip: String = "clip_l336.pt", _ extra: [String] = []) throws -> Executable.Result {
        try Executable.run(["models", "create", "--sam", fixtures.appendingPathComponent("sam.pth").path,
                            "--clip", fixtures.appendingPathComponent(clip).path,
                            "--fusion", fixtures.appendingPathComponent("regionspot.pth").path, "--out", out.path] + extra)
    }

    static func scratch() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("models-create-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// The bundle's predictions are the reference pipeline's on the same three files, with
    /// and without --half (the fixture's weights are F16 values, so both are the same model).
    @Test(arguments: [false, true]) func theBundlePredictsAsTheReferencePipeline(half: Bool) throws {
        let request = try Self.request()
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let bundle = root.appendingPathComponent("bundle")
        let created = try Self.create(bundle, half ? ["--half", "--name", "half"] : [])
        #expect(created.status == 0, "\(created.standardError)")
        let checked = try Executable.run(["models", "check", bundle.path])
        #expect(created.standardOutput == checked.standardOutput)
        #expect(created.standardOutput.hasSuffix("OK\n"))

        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: bundle.appendingPathComponent("regionspot.json"))) as! [String: Any]
        #expect((manifest["clip"] as! [String: Any])["input_size"] as? Int == request.clip_input_size)
        #expect(abs((manifest["logit_scale"] as! NSNumber).floatValue - request.logit_scale) < 1e-3)
        let sam = try SafeTensorsFile(url: bundle.appendingPathComponent("sam.safetensors"))
        #expect(sam.info(sam.names[0])?.dtype == (half ? .f16 : .f32))

        let boxes = root.appendingPathComponent("boxes.json")
        try JSONSerialization.data(withJSONObject: ["boxes": request.boxes]).write(to: boxes)
        let predicted = try Executable.run(["predict", "--model", bundle.path, Self.fixtures.appendingPathComponent("image.png").path,
                                            "--boxes", boxes.path, "--vocab", request.vocabulary.joined(separator: ","),
                                            "--top-k", "\(request.vocabulary.count)", "--threads", "2", "--no-disk-cache"])
        #expect(predicted.status == 0, "\(predicted.standardError)")
        let output = try JSONDecoder().decode(PredictTests.Output.self, from: Data(predicted.standardOutput.utf8))
        let expected = try SafeTensorsFile(url: Self.fixtures.appendingPathComponent("expected.safetensors"))
        let probabilities = try expected.tensor(named: "probs"), iou = try expected.tensor(named: "iou")
        #expect(output.regions.count == request.boxes.count)
        for (i, region) in output.regions.enumerated() {
            #expect(abs(region.mask_score - iou.scalars[i]) < 1e-3, "box \(i) IoU")
            for label in region.labels {
                let reference = probabilities.scalars[i * request.vocabulary.count + label.index]
                #expect(abs(label.score - reference) < 1e-3, "box \(i) \(label.name): \(label.score) vs \(reference)")
            }
        }
    }

    @Test func aSecondRunWritesTheSameBundle() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let bundle = root.appendingPathComponent("bundle")
        let first = try Self.create(bundle)
        #expect(first.status == 0, "\(first.standardError)")
        let files = try FileManager.default.contentsOfDirectory(atPath: bundle.path).sorted()
        let bytes = try files.map { try Data(contentsOf: bundle.appendingPathComponent($0)) }
        let second = try Self.create(bundle)
        #expect(second.status == 0, "\(second.standardError)")
        #expect(second.standardOutput == first.standardOutput)
        #expect(try FileManager.default.contentsOfDirectory(atPath: bundle.path).sorted() == files)
        #expect(try files.map { try Data(contentsOf: bundle.appendingPathComponent($0)) } == bytes)
    }

    /// A RegionSpot-BL-like fusion head with a ViT-B-like CLIP: refused, naming both widths, leaving nothing behind.
    @Test func partsThatDoNotFitAreRefusedWithBothWidths() throws {
        let request = try Self.request()
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let bundle = root.appendingPathComponent("bundle")
        let refused = try Self.create(bundle, clip: "clip_b.pt")
        #expect(refused.status != 0)
        #expect(refused.standardError.contains("is \(request.widths.clip_b) wide, the fusion head expects \(request.widths.fusion)"),
                "\(refused.standardError)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: bundle.path).isEmpty)
    }
}
