import Foundation
import Layers
import Testing
import TestSupport
import Tensors
@testable import RegionSpot

/// Parity of the fusion head with torch (fixtures from Tools/make_fusion_fixtures.py).
struct FusionTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    /// D=768 and D=1024 fixtures are ~100 MB each: generated, never committed.
    static let large = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Benchmarks/out/fixtures/fusion")
    static let largePresent = FileManager.default.fileExists(atPath: large.appendingPathComponent("fusion_d768.safetensors").path)

    @Test func smallHeadMatchesTorch() throws {
        try checkParity(directory: Self.fixtures, name: "fusion_d32", expected: FusionConfig(dModel: 32, textDim: 24))
    }

    @Test(.enabled(if: largePresent, "D=768/1024 fixtures absent: run .venv-ref/bin/python Tools/make_fusion_fixtures.py --large"),
          arguments: ["fusion_d768", "fusion_d1024"])
    func fullSizeHeadMatchesTorch(name: String) throws {
        let expected: FusionConfig = name == "fusion_d768" ? .clip400M : .clip400MLarge
        try checkParity(directory: Self.large, name: name, expected: expected)
    }

    /// Training reads and replaces the head's tensors under the checkpoint's own keys.
    @Test func parametersAreTheCheckpointsTensorsUnderTheirKeys() throws {
        let file = Self.fixtures.appendingPathComponent("fusion_d32.safetensors")
        let stored = try SafeTensorsFile(url: file).tensors()
        var model = try RegionSpotModel(weights: WeightLoader(file: file))
        let parameters = model.parameters()
        #expect(Set(parameters.map(\.key)) == Set(stored.keys.map { $0.hasPrefix("model.") ? String($0.dropFirst(6)) : $0 }))
        for (key, tensor) in parameters { #expect(tensor == stored[key] ?? stored["model." + key], "\(key)") }

        // Replaced in place, the head computes with the new tensors: doubling projector.weight doubles its output's weight part.
        let io = try SafeTensorsFile(url: Self.fixtures.appendingPathComponent("fusion_d32_io.safetensors"))
        let tokens = try io.tensor(named: "mask_tokens_1"), clip = try io.tensor(named: "clip_feat")
        let before = try model.regionFeatures(maskTokens: tokens, clipFeatures: clip)
        model.updateParameters(prefix: "") { key, tensor in
            if key == "projector.weight" { tensor = tensor * 2 }
            if key == "projector.bias" { tensor = tensor * 2 }
        }
        let after = try model.regionFeatures(maskTokens: tokens, clipFeatures: clip)
        #expect(maxDifference(after, before * 2) < 1e-5)
        // And reloaded from its own parameters it is the same model.
        let reloaded = try RegionSpotModel(weights: WeightLoader(tensors: Dictionary(uniqueKeysWithValues: model.parameters().map { ($0.key, $0.tensor) })))
        #expect(try reloaded.regionFeatures(maskTokens: tokens, clipFeatures: clip) == after)
    }

    func checkParity(directory: URL, name: String, expected: FusionConfig) throws {
        let weights = try WeightLoader(file: directory.appendingPathComponent("\(name).safetensors"))
        let model = try RegionSpotModel(weights: weights)
        #expect(model.config == expected)
        #expect(weights.unusedKeys() == [])

        let io = try SafeTensorsFile(url: directory.appendingPathComponent("\(name)_io.safetensors"))
        let clip = try io.tensor(named: "clip_feat")
        let text = try io.tensor(named: "text_feats")
        let scale = try io.tensor(named: "logit_scale").scalars[0]
        let counts = io.metadata["region_counts"]!.split(separator: ",").map { Int($0)! }
        #expect(counts.count == 3)
        for n in counts {
            let region = try model.regionFeatures(maskTokens: io.tensor(named: "mask_tokens_\(n)"), clipFeatures: clip)
            let expectedRegion = try io.tensor(named: "region_\(n)")
            #expect(region.shape == expectedRegion.shape)
            #expect(maxDifference(region, expectedRegion) < 1e-4, "\(name) regions=\(n)")
            print("\(name) regions=\(n): max |Δ region| \(maxDifference(region, expectedRegion))")

            // Logits are exp(logit_scale)=100 × cosine: compare the cosines.
            let logits = RegionSpotModel.logits(regionFeatures: region, classEmbeddings: text, logitScale: scale)
            #expect(maxDifference(logits, try io.tensor(named: "logits_\(n)")) / scale < 1e-5, "\(name) regions=\(n)")

            let probabilities = Scoring.probabilities(logits: logits)
            #expect(maxDifference(probabilities, try io.tensor(named: "probs_\(n)")) < 1e-4, "\(name) regions=\(n)")

            // The detection ranking is torch.topk's over the reference probabilities.
            let referenceProbabilities = try io.tensor(named: "probs_\(n)")
            let top = Scoring.detections(probabilities: referenceProbabilities)
            let expectedTop = try io.tensor(named: "top_\(n)").scalars.map { Int($0) }
            let classes = text.shape[0]
            #expect(top.map { $0.regionIndex * classes + $0.classIndex } == expectedTop)
        }
    }

    @Test func emptyRegionListGivesEmptyOutput() throws {
        let weights = try WeightLoader(file: Self.fixtures.appendingPathComponent("fusion_d32.safetensors"))
        let model = try RegionSpotModel(weights: weights)
        let out = try model.regionFeatures(maskTokens: Tensor(shape: [0, 256]), clipFeatures: Tensor(shape: [5, 32]))
        #expect(out.shape == [0, 24])
    }

    @Test func wrongInputShapesAreNamed() throws {
        let weights = try WeightLoader(file: Self.fixtures.appendingPathComponent("fusion_d32.safetensors"))
        let model = try RegionSpotModel(weights: weights)
        #expect(throws: FusionError.self) {
            try model.regionFeatures(maskTokens: Tensor(shape: [2, 128]), clipFeatures: Tensor(shape: [5, 32]))
        }
        #expect(throws: FusionError.self) {
            try model.regionFeatures(maskTokens: Tensor(shape: [2, 256]), clipFeatures: Tensor(shape: [5, 64]))
        }
    }

    @Test func checkpointPrefixAndMissingKeys() throws {
        let file = try SafeTensorsFile(url: Self.fixtures.appendingPathComponent("fusion_d32.safetensors"))
        var tensors = try file.tensors()
        // The official checkpoint keeps everything under `model.`.
        let prefixed = try WeightLoader(tensors: Dictionary(uniqueKeysWithValues: tensors.map { ("model." + $0.key, $0.value) }))
        #expect(try RegionSpotModel(weights: prefixed).config == FusionConfig(dModel: 32, textDim: 24))

        tensors["decoder.layers.1.linear2.bias"] = nil
        let error = #expect(throws: TensorFileError.self) { try RegionSpotModel(weights: WeightLoader(tensors: tensors)) }
        #expect(error.map { "\($0)".contains("decoder.layers.1.linear2.bias") } == true)
    }
}
