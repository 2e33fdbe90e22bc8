import Foundation
import Testing
import Tensors
@testable import RegionSpot

struct BundleTests {
    func directory(manifest: String?, files: [String] = []) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("regionspot-manifest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        if let manifest { try Data(manifest.utf8).write(to: url.appendingPathComponent("regionspot.json")) }
        for file in files { try Data().write(to: url.appendingPathComponent(file)) }
        return url
    }

    let valid = #"{"format": "regionspot-bundle", "version": 1, "sam": {"weights": "s.safetensors"}, "clip": {"weights": "c.safetensors", "input_size": 224}, "fusion": {"weights": "f.safetensors"}}"#

    @Test func readsAValidManifest() throws {
        let url = try directory(manifest: valid, files: ["s.safetensors", "c.safetensors", "f.safetensors"])
        defer { try? FileManager.default.removeItem(at: url) }
        let bundle = try ModelBundle(directory: url)
        #expect(bundle.manifest.clip.inputSize == 224)
        #expect(bundle.templates.count == 81)
        #expect(bundle.fusionURL.lastPathComponent == "f.safetensors")
    }

    @Test func errorsNameTheFileAndField() throws {
        let missing = try directory(manifest: nil)
        defer { try? FileManager.default.removeItem(at: missing) }
        #expect(throws: BundleError.missingManifest(directory: missing.path)) { try ModelBundle(directory: missing) }

        let noFusionFile = try directory(manifest: valid, files: ["s.safetensors", "c.safetensors"])
        defer { try? FileManager.default.removeItem(at: noFusionFile) }
        let error = #expect(throws: BundleError.self) { try ModelBundle(directory: noFusionFile) }
        #expect("\(error!)".contains("fusion.weights") && "\(error!)".contains("f.safetensors"))

        let badField = try directory(manifest: valid.replacingOccurrences(of: #""input_size": 224"#, with: #""input_size": "big""#),
                                     files: ["s.safetensors", "c.safetensors", "f.safetensors"])
        defer { try? FileManager.default.removeItem(at: badField) }
        let typeError = #expect(throws: BundleError.self) { try ModelBundle(directory: badField) }
        #expect("\(typeError!)".contains("clip.input_size"))

        let badTemplates = try directory(manifest: valid.replacingOccurrences(of: #""version": 1,"#, with: #""version": 1, "templates": ["a {} b {}"],"#),
                                         files: ["s.safetensors", "c.safetensors", "f.safetensors"])
        defer { try? FileManager.default.removeItem(at: badTemplates) }
        #expect(throws: BundleError.self) { try ModelBundle(directory: badTemplates) }
    }

    @Test func boxesFilesInEveryFormAndTheirErrors() throws {
        let plain = try BoxesFile(json: Data("[[1, 2, 3, 4], [0, 0, 5.5, 6]]".utf8), source: "b.json")
        #expect(plain == BoxesFile(boxes: [[1, 2, 3, 4], [0, 0, 5.5, 6]]))
        let object = try BoxesFile(json: Data(#"{"boxes": [[1, 2, 3, 4]], "scores": [0.5]}"#.utf8), source: "b.json")
        #expect(object.scores == [0.5])
        let records = try BoxesFile(json: Data(#"[{"bbox": [1, 2, 3, 4], "score": 0.25}]"#.utf8), source: "b.json")
        #expect(records == BoxesFile(boxes: [[1, 2, 3, 4]], scores: [0.25]))

        #expect(throws: InputError(file: "b.json", location: "[1][2]", reason: "expected a finite number, got \"x\"")) {
            try BoxesFile(json: Data(#"[[1, 2, 3, 4], [1, 2, "x", 4]]"#.utf8), source: "b.json")
        }
        #expect(throws: InputError.self) { try BoxesFile(json: Data(#"{"boxes": [[1, 2, 3, 4]], "scores": []}"#.utf8), source: "b.json") }
        #expect(throws: InputError.self) { try BoxesFile(json: Data("[[5, 2, 3, 4]]".utf8), source: "b.json") }
        #expect(throws: InputError.self) { try BoxesFile(json: Data("{not json".utf8), source: "b.json") }
    }

    @Test func vocabularyParsing() throws {
        #expect(try VocabularyInput.parse(commaSeparated: "cat, traffic light ,dog") == ["cat", "traffic light", "dog"])
        #expect(throws: InputError.self) { try VocabularyInput.parse(commaSeparated: "cat,,dog") }
        #expect(throws: InputError.self) { try VocabularyInput.parse(commaSeparated: "cat,cat") }
    }
}
