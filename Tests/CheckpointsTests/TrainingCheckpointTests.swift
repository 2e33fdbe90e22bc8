import Foundation
import Testing
import Tensors
@testable import Checkpoints

/// Training checkpoints as detectron2's Checkpointer saves them: the model's state dict under
/// "model", the trainer's state (with the optimizer's tensors) and the iteration beside it.
@Suite struct TrainingCheckpointTests {
    /// RegionSpot's layout: the head is the meta-architecture's `model` submodule (written by
    /// Tools/make_checkpoint_fixtures.py from the pipeline fixture's head).
    static let detectron2 = fixtures.appendingPathComponent("../../RegionSpotTests/Fixtures/pipeline/fusion_detectron2.pth")
        .standardizedFileURL
    static let head = fixtures.appendingPathComponent("../../RegionSpotTests/Fixtures/pipeline/fusion.safetensors")
        .standardizedFileURL

    @Test func modelScopeTakesTheStateDictUnderItsOwnKeys() throws {
        let whole = try Checkpoint.readStored(Self.detectron2)
        #expect(whole["model.model.to_clip.weight"] != nil)
        #expect(whole["trainer.optimizer.state.0.exp_avg"] != nil)

        let model = try Checkpoint.readStored(Self.detectron2, scope: .modelStateDict)
        let head = try SafeTensorsFile(url: Self.head)
        #expect(model.keys.sorted() == head.names.map { "model." + $0 }.sorted())
        for name in head.names {
            let tensor = try #require(model["model." + name])
            #expect(tensor.dtype == .f32 && tensor.shape == head.info(name)?.shape, "\(name)")
            #expect(tensor.floatTensor == (try head.tensor(named: name)), "\(name)")  // F16 widened exactly
        }
    }

    @Test func modelScopeTakesOtherFilesWhole() throws {
        for name in ["sam.pth", "clip_scripted.pt", "mobile_sam_legacy.pt"] {
            let url = fixtures.appendingPathComponent(name)
            #expect(try Checkpoint.readStored(url, scope: .modelStateDict).keys.sorted() == Checkpoint.readStored(url).keys.sorted(), "\(name)")
        }
        // {"model": state_dict, "iteration", "scale", …}: only the state dict's tensors.
        let nested = try Checkpoint.read(fixtures.appendingPathComponent("regionspot.pth"), scope: .modelStateDict)
        #expect(nested == (try Checkpoint.read(fixtures.appendingPathComponent("regionspot.pth"), stripPrefix: "model.")))
        #expect(nested["scale"] == nil)
    }

    @Test func conversionUnwrapsTrainingCheckpointsUnlessAPrefixIsGiven() throws {
        let output = try temporaryFile("fusion.safetensors")
        try Checkpoint.convert(Self.detectron2, to: output)
        let converted = try SafeTensorsFile(url: output)
        #expect(converted.names.count == (try SafeTensorsFile(url: Self.head)).names.count)
        #expect(converted.names.allSatisfy { $0.hasPrefix("model.") && !$0.hasPrefix("model.model.") })
        #expect(converted.contains("model.to_clip.weight"))

        // A prefix selects among the file's full keys, as before.
        try Checkpoint.convert(Self.detectron2, to: output, stripPrefix: "model.model.")
        #expect(try SafeTensorsFile(url: output).contains("to_clip.weight"))
    }
}
