import Foundation
import Testing
@testable import Pipeline

/// The embedded demo bundle: the committed files are the ones Tools/build_demo.py recorded, the
/// executable carries them, and commands without --model use them.
@Suite struct DemoBundleTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let source = repository.appendingPathComponent("Sources/regionspot/DemoBundle")

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test func committedBundleMatchesTheRebuildRecord() throws {
        let record = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.repository.appendingPathComponent("Tools/demo_record.json")))
            as! [String: Any]
        let recorded = (record["sha256"] as! [String: String]).filter { $0.key.hasPrefix("Sources/regionspot/DemoBundle/") }
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.source.path).sorted()
        #expect(Set(recorded.keys) == Set(files.map { "Sources/regionspot/DemoBundle/" + $0 }), "files recorded vs committed")
        for name in files {
            let digest = Self.hex(SHA256.digest(try Data(contentsOf: Self.source.appendingPathComponent(name))))
            #expect(recorded["Sources/regionspot/DemoBundle/" + name] == digest, "\(name): committed bytes differ from the record")
        }
    }

    @Test func executableCarriesTheBundle() throws {
        let embedded = Executable.url.deletingLastPathComponent().appendingPathComponent("RegionSpot_regionspot.resources/DemoBundle")
        for name in try FileManager.default.contentsOfDirectory(atPath: Self.source.path) {
            #expect(FileManager.default.contentsEqual(atPath: embedded.appendingPathComponent(name).path,
                                                      andPath: Self.source.appendingPathComponent(name).path), "\(name)")
        }
    }

    /// predict without --model recognizes with the demo bundle: a val image of the world it was
    /// trained on, its annotated boxes, every name of the world as the vocabulary.
    @Test func predictWithoutModelUsesTheDemoBundle() throws {
        let world = FileManager.default.temporaryDirectory.appendingPathComponent("demo-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: world) }
        let synth = try Executable.run(["synth", "--out", world.path, "--images", "400", "--val-images", "4", "--val-only", "--threads", "1"])
        #expect(synth.status == 0, "\(synth.standardError)")
        #expect(!FileManager.default.fileExists(atPath: world.appendingPathComponent("train").path))
        let val = try JSONSerialization.jsonObject(with: Data(contentsOf: world.appendingPathComponent("val.json"))) as! [String: Any]
        let image = (val["images"] as! [[String: Any]])[0]
        let annotations = (val["annotations"] as! [[String: Any]]).filter { $0["image_id"] as! Int == image["id"] as! Int }
        let boxes = annotations.map { a -> [Double] in
            let b = (a["bbox"] as! [NSNumber]).map(\.doubleValue)
            return [b[0], b[1], b[0] + b[2], b[1] + b[3]]
        }
        let boxesFile = world.appendingPathComponent("boxes.json")
        try JSONSerialization.data(withJSONObject: boxes).write(to: boxesFile)
        let result = try Executable.run(["predict", world.appendingPathComponent("val/" + (image["file_name"] as! String)).path,
                                         "--boxes", boxesFile.path, "--vocab-file", world.appendingPathComponent("names.txt").path,
                                         "--top-k", "1", "--threads", "1", "--no-disk-cache", "--text"])
        #expect(result.status == 0, "\(result.standardError)")
        let lines = result.standardOutput.split(separator: "\n")
        #expect(lines.count == 1 + boxes.count, "\(result.standardOutput)")
        #expect(lines.first?.hasSuffix("\(boxes.count) region\(boxes.count == 1 ? "" : "s")") == true)
    }
}
