import Foundation
import Testing
import TestSupport
import Tensors
@testable import CLIP

/// The tiny fixtures use 32-wide heads (2 heads of width 64) to exercise multi-head layouts.
private let headWidth = 32
private let expected = try! SafeTensorsFile(url: fixtures.appendingPathComponent("clip_tiny_expected.safetensors"))
private let openAIModel = try! CLIP(file: fixtures.appendingPathComponent("clip_tiny_openai.safetensors"), headWidth: headWidth)

private struct TextFixture: Decodable {
    let ids: [[Int]]
    let classes: [String]
    let remap: [[Int]]
    let logit_scale: Float
}

private let textFixture = try! JSONDecoder().decode(
    TextFixture.self, from: Data(contentsOf: fixtures.appendingPathComponent("clip_tiny_text.json")))

@Test func configurationIsInferredFromShapes() {
    let c = openAIModel.configuration
    #expect(c.vision == CLIPConfiguration.Vision(width: 64, layers: 2, heads: 2, patchSize: 8, imageSize: 32, outputDimension: 32))
    #expect(c.text == CLIPConfiguration.Text(width: 64, layers: 2, heads: 2, contextLength: 77, vocabularySize: 74, outputDimension: 32))
    #expect(abs((openAIModel.logitScale ?? 0) - textFixture.logit_scale) < 1e-3)
}

@Test func visionTokenMapAndEmbeddingMatchTransformers() throws {
    let pixels = try expected.tensor(named: "pixels")
    for model in [openAIModel, try CLIP(file: fixtures.appendingPathComponent("clip_tiny_hf.safetensors"), headWidth: headWidth)] {
        let vision = try model.vision()
        let tokenMap = try vision.tokenMap(pixels)
        #expect(relativeError(tokenMap, try expected.tensor(named: "token_map")) < 1e-4)
        #expect(relativeError(vision.pooled(tokenMap), try expected.tensor(named: "image_embeds")) < 1e-4)
        let reference = try expected.tensor(named: "image_embeds").l2Normalized()
        #expect(relativeError(try model.imageEmbeddings(pixels), reference) < 1e-4)
    }
}

@Test func visionInterpolatesPositionsForAnotherSize() throws {
    let vision = try openAIModel.vision()
    let tokenMap = try vision.tokenMap(try expected.tensor(named: "pixels_other"))   // 48×40 → 6×5 grid
    #expect(relativeError(tokenMap, try expected.tensor(named: "token_map_other")) < 1e-4)
    #expect(relativeError(vision.pooled(tokenMap), try expected.tensor(named: "image_embeds_other")) < 1e-4)
}

@Test func textEmbeddingsMatchTransformersWithoutPadding() throws {
    let text = try openAIModel.textTower()
    let reference = try expected.tensor(named: "text_embeds")
    // Full 77-token rows (as the reference ran them) and rows cut after their end token agree.
    #expect(relativeError(try text.encode(textFixture.ids), reference) < 1e-4)
    let trimmed = textFixture.ids.map { ids in Array(ids[0...ids.firstIndex(of: ids.max()!)!]) }
    #expect(relativeError(try text.encode(trimmed), reference) < 1e-4)
    // One prompt alone gives the same row as in the batch (its batch stops at its own end).
    let single = try text.encode([textFixture.ids[2]])
    #expect(relativeError(single, reference.rows(2..<3)) < 1e-4)
}

@Test func classEmbeddingsMatchRegionSpotEnsembleAndAreCached() throws {
    let remap = Dictionary(uniqueKeysWithValues: textFixture.remap.map { ($0[0], $0[1]) })
    let tokenizer = sharedTokenizer
    let classes = try ClassEmbeddings(text: try openAIModel.textTower(), identity: openAIModel.weightsIdentity) { prompt in
        // Real OpenAI ids, renumbered into the tiny model's vocabulary as the fixture script did.
        try tokenizer.tokenize(prompt).map { $0 == 0 ? 0 : remap[$0]! }
    }
    let reference = try expected.tensor(named: "class_embeddings")
    #expect(relativeError(try classes.embeddings(for: textFixture.classes), reference) < 1e-4)
    _ = try classes.embeddings(for: textFixture.classes)
    #expect(classes.computations == 1)
    #expect(relativeError(try classes.embeddings(for: Array(textFixture.classes.prefix(2))), reference.rows(0..<2)) < 1e-4)
    #expect(classes.computations == 2)
    #expect(PromptEnsemble.templates.count == 81)
    #expect(PromptEnsemble.prompts(for: "wall-stuff")[1] == "a photo of a wall.")
}

/// A bundle's own templates against the reference ensemble over them (Tools/make_clip_fixtures.py,
/// CUSTOM_TEMPLATES), and a template without its class slot refused.
@Test func customTemplatesEnsembleTheirOwnPrompts() throws {
    let remap = Dictionary(uniqueKeysWithValues: textFixture.remap.map { ($0[0], $0[1]) })
    let tokenizer = sharedTokenizer
    let tokenize: ClassEmbeddings.Tokenize = { try tokenizer.tokenize($0).map { $0 == 0 ? 0 : remap[$0]! } }
    let text = try openAIModel.textTower()
    let classes = try ClassEmbeddings(text: text, identity: openAIModel.weightsIdentity,
                                      templates: ["a photo of a {}.", "itap of my {}."], tokenize: tokenize)
    let reference = try SafeTensorsFile(url: fixtures.appendingPathComponent("clip_tiny_custom_templates.safetensors"))
        .tensor(named: "class_embeddings")
    let names = Array(textFixture.classes.prefix(3))
    #expect(relativeError(try classes.embeddings(for: names), reference) < 1e-4)
    // and not the 81 templates' ensemble
    #expect(relativeError(try classes.embeddings(for: names), try expected.tensor(named: "class_embeddings").rows(0..<3)) > 1e-2)
    #expect(throws: CLIPError.self) { try ClassEmbeddings(text: text, identity: "x", templates: ["a photo without the class name"], tokenize: tokenize) }
}

@Test func badWeightsAreNamed() throws {
    let file = try SafeTensorsFile(url: fixtures.appendingPathComponent("clip_tiny_openai.safetensors"))
    var tensors = try file.tensors()
    tensors["visual.extra"] = Tensor(shape: [1])
    #expect { try CLIP(WeightLoader(tensors: tensors), headWidth: headWidth) } throws: { "\($0)".contains("visual.extra") }
    tensors["visual.extra"] = nil
    tensors["transformer.resblocks.1.mlp.c_fc.bias"] = nil
    #expect { try CLIP(WeightLoader(tensors: tensors), headWidth: headWidth) } throws: {
        "\($0)".contains("transformer.resblocks.1.mlp.c_fc.bias")
    }
    tensors["transformer.resblocks.1.mlp.c_fc.bias"] = Tensor(shape: [7])
    #expect { try CLIP(WeightLoader(tensors: tensors), headWidth: headWidth) } throws: {
        "\($0)".contains("transformer.resblocks.1.mlp.c_fc.bias") && "\($0)".contains("[7]")
    }
    // A head width that does not divide the model width is refused.
    #expect { try CLIP(file: fixtures.appendingPathComponent("clip_tiny_openai.safetensors"), headWidth: 48) } throws: {
        "\($0)".contains("head width 48")
    }
    let text = try openAIModel.textTower()
    #expect(throws: CLIPError.self) { try text.encode([[1, 2, 999]]) }
    #expect(throws: CLIPError.self) { try openAIModel.vision().tokenMap(Tensor(shape: [1, 32, 32])) }
}

@Test func huggingFaceErrorsNameTheFile() throws {
    let url = fixtures.appendingPathComponent("clip_tiny_hf.safetensors")
    var tensors = try SafeTensorsFile(url: url).tensors()
    tensors["text_model.final_layer_norm.bias"] = nil
    let damaged = FileManager.default.temporaryDirectory.appendingPathComponent("clip_tiny_hf_damaged.safetensors")
    try SafeTensors.write(tensors, to: damaged)
    defer { try? FileManager.default.removeItem(at: damaged) }
    #expect { try CLIP(file: damaged, headWidth: headWidth) } throws: {
        "\($0)".contains(damaged.path) && "\($0)".contains("ln_final.bias")
    }
}
