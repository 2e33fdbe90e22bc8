import Foundation
import Testing
import Tensors
@testable import Checkpoints

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

func temporaryFile(_ name: String) throws -> URL {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("checkpoints-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory.appendingPathComponent(name)
}

func checkpointError(_ body: () throws -> Void) -> CheckpointError? {
    do {
        try body()
        return nil
    } catch {
        return error as? CheckpointError
    }
}

@Suite struct CheckpointTests {
    /// Every tensor PyTorch recovers from `checkpoint`, compared bit for bit in its stored dtype.
    private func expectMatchesPyTorch(_ checkpoint: String, expected: String, stripPrefix: String? = nil) throws {
        let ours = try Checkpoint.readStored(fixtures.appendingPathComponent(checkpoint), stripPrefix: stripPrefix)
        let reference = try SafeTensorsFile(url: fixtures.appendingPathComponent(expected))
        #expect(ours.keys.sorted() == reference.names, "\(checkpoint) keys")
        for name in reference.names {
            guard let tensor = ours[name], let info = reference.info(name) else { continue }
            #expect(tensor.dtype == info.dtype, "\(checkpoint) \(name) dtype")
            #expect(tensor.shape == info.shape, "\(checkpoint) \(name) shape")
            let bytes = try reference.withRawBytes(named: name) { Array($0) }
            #expect(tensor.bytes == bytes, "\(checkpoint) \(name) bytes")
        }
    }

    @Test func regionSpotNestedCheckpoint() throws {
        try expectMatchesPyTorch("regionspot.pth", expected: "regionspot_expected.safetensors")
        let model = try Checkpoint.read(fixtures.appendingPathComponent("regionspot.pth"), stripPrefix: "model.")
        #expect(model["decoder.layers.1.self_attn.in_proj_weight"]?.shape == [24, 8])
        #expect(model["decoder.layers.0.norm3.bias"]?.shape == [8])
        #expect(model["projector.2.weight"]?.shape == [6, 8])
        #expect(model["iteration"] == nil && model["scale"] == nil)
        #expect(model.keys.allSatisfy { !$0.hasPrefix("model.") })
    }

    @Test func samFlatStateDict() throws {
        try expectMatchesPyTorch("sam.pth", expected: "sam_expected.safetensors")
    }

    @Test func deflatedZipEntries() throws {
        try expectMatchesPyTorch("sam_deflated.pth", expected: "sam_expected.safetensors")
    }

    @Test func mobileSAMOrderedDictWithBatchNormBuffers() throws {
        try expectMatchesPyTorch("mobile_sam.pt", expected: "mobile_sam_expected.safetensors")
        let tensors = try Checkpoint.read(fixtures.appendingPathComponent("mobile_sam.pt"))
        #expect(tensors["image_encoder.patch_embed.seq.0.bn.num_batches_tracked"] == Tensor(shape: [], scalars: [17]))
    }

    @Test func legacyTorchSaveStream() throws {
        try expectMatchesPyTorch("mobile_sam_legacy.pt", expected: "mobile_sam_expected.safetensors")
    }

    @Test func torchScriptModuleGivesItsStateDict() throws {
        try expectMatchesPyTorch("clip_scripted.pt", expected: "clip_scripted_expected.safetensors")
        let tensors = try Checkpoint.read(fixtures.appendingPathComponent("clip_scripted.pt"))
        #expect(tensors["transformer.resblocks.0.attn.in_proj_weight"]?.shape == [24, 8])
    }

    @Test func stridedAndSharedViewsAreMaterialised() throws {
        try expectMatchesPyTorch("views.pth", expected: "views_expected.safetensors")
    }

    @Test func floatReadAgreesWithStoredRead() throws {
        for name in ["views.pth", "clip_scripted.pt", "mobile_sam_legacy.pt", "sam_deflated.pth"] {
            let url = fixtures.appendingPathComponent(name)
            #expect(try Checkpoint.read(url) == Checkpoint.readStored(url).mapValues(\.floatTensor), "\(name)")
        }
    }

    @Test func convertWritesSafetensors() throws {
        let output = try temporaryFile("clip.safetensors")
        let summary = try Checkpoint.convert(fixtures.appendingPathComponent("clip_scripted.pt"), to: output)
        let written = try SafeTensorsFile(url: output)
        let reference = try SafeTensorsFile(url: fixtures.appendingPathComponent("clip_scripted_expected.safetensors"))
        #expect(summary.tensorCount == reference.names.count)
        #expect(written.info("visual.proj")?.dtype == .f32)
        #expect(written.info("counter")?.dtype == .i64)
        for name in reference.names {
            #expect(try written.tensor(named: name) == reference.tensor(named: name), "\(name)")
        }

        try Checkpoint.convert(fixtures.appendingPathComponent("clip_scripted.pt"), to: output, precision: .keep)
        let kept = try SafeTensorsFile(url: output)
        for name in reference.names {
            #expect(kept.info(name)?.dtype == reference.info(name)?.dtype)
            #expect(try kept.withRawBytes(named: name) { Array($0) } == reference.withRawBytes(named: name) { Array($0) }, "\(name)")
        }

        try Checkpoint.convert(fixtures.appendingPathComponent("regionspot.pth"), to: output, stripPrefix: "model.", precision: .float16)
        let half = try SafeTensorsFile(url: output)
        #expect(half.info("to_clip.weight")?.dtype == .f16)
        #expect(!half.names.contains { $0.hasPrefix("model.") || $0 == "iteration" })

        guard case .notACheckpoint? = checkpointError({
            try Checkpoint.convert(fixtures.appendingPathComponent("regionspot.pth"), to: output, stripPrefix: "nothing.")
        }) else { Issue.record("empty prefix"); return }
    }
}
