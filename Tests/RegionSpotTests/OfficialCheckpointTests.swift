import Checkpoints
import Foundation
import Testing
import Tensors
@testable import RegionSpot

/// RegionSpot's official checkpoints are detectron2 training checkpoints: `torch.load(f)["model"]`
/// holds `model.to_clip.weight`, `model.decoder.layers.0…`, beside the trainer state.
/// `fusion_detectron2.pth` is the pipeline fixture's fusion head in that layout
/// (Tools/make_checkpoint_fixtures.py); converted with the default options it must load into a
/// bundle as it is, and be the same head.
struct OfficialCheckpointTests {
    @Test func convertedDetectron2CheckpointLoadsIntoABundle() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("regionspot-official-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let converted = directory.appendingPathComponent("fusion_official.safetensors")
        let summary = try Checkpoint.convert(RecognizerTests.fixtures.appendingPathComponent("fusion_detectron2.pth"), to: converted)

        let reference = RecognizerTests.fixtures.appendingPathComponent("fusion.safetensors")
        let referenceNames = try SafeTensorsFile(url: reference).names
        #expect(summary.tensorCount == referenceNames.count)
        #expect(try SafeTensorsFile(url: converted).names == referenceNames.map { "model." + $0 }.sorted())

        let (bundle, _) = try RecognizerTests.makeBundle(fusion: converted)
        defer { try? FileManager.default.removeItem(at: bundle.directory) }
        _ = try Recognizer(bundle: bundle)  // refuses missing, misshapen and unused fusion tensors

        // The same head: every weight takes part in the region features.
        let official = try RegionSpotModel(weights: bundle.fusionWeights())
        let original = try RegionSpotModel(weights: WeightLoader(file: reference))
        #expect(official.config == original.config)
        var generator = SplitMix64(seed: 5)
        let tokens = Tensor.random([4, original.config.tokenDim], using: &generator)
        let clip = Tensor.random([17, original.config.dModel], using: &generator)
        let features = try official.regionFeatures(maskTokens: tokens, clipFeatures: clip)
        #expect(features.scalars.map(\.bitPattern) == (try original.regionFeatures(maskTokens: tokens, clipFeatures: clip)).scalars.map(\.bitPattern))
    }
}
