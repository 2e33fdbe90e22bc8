import Foundation
import Imaging
import Testing
import Imaging
import TestSupport
import Tensors
@testable import SAM

// Parity with segment-anything / MobileSAM on fixtures from Tools/make_sam_fixtures.py
// (tiny random-weight models, every tensor randomised).

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

func fixture(_ name: String) throws -> Tensor { try NPY.read(fixtures.appendingPathComponent(name)) }

func loadViT(_ file: String = "vit_tiny.safetensors") throws -> Sam {
    try Sam(contentsOf: fixtures.appendingPathComponent(file))
}

/// The fixture image's predictor state, from the reference's preprocessed pixels.
func embedFixture(_ predictor: SamPredictor) throws -> SamPredictor.ImageEmbedding {
    let image = try fixture("vit_image.npy"), resized = try fixture("vit_resized.npy")
    return predictor.embed(pixels: try fixture("vit_pixels.npy"), inputSize: (resized.shape[0], resized.shape[1]),
                           originalSize: (image.shape[0], image.shape[1]))
}

func boxesFixture() throws -> [Box] {
    let t = try fixture("vit_boxes.npy")
    return (0..<t.shape[0]).map { Box(Array(t.scalars[($0 * 4)..<($0 * 4 + 4)]))! }
}

@Test func vitConfigurationIsInferred() throws {
    guard case let .vit(encoder) = try loadViT().imageEncoder else { Issue.record("not a ViT"); return }
    #expect(encoder.configuration == .init(imageSize: 128, patchSize: 16, embedDim: 32, depth: 2, heads: 2, windowSize: 5,
                                           globalAttentionIndexes: [1], outChannels: 32))
}

@Test func vitImageEmbeddingMatchesReference() throws {
    let sam = try loadViT()
    let embedding = sam.imageEncoder(try fixture("vit_pixels.npy"))
    let expected = try fixture("vit_embedding.npy")
    #expect(embedding.shape == expected.shape)
    #expect(relativeError(embedding, expected) < 1e-4)
}

@Test func boxPromptsMatchReference() throws {
    let predictor = SamPredictor(model: try loadViT())
    let image = try embedFixture(predictor)
    let boxes = try boxesFixture()
    let sparse = try predictor.model.promptEncoder.sparseEmbeddings(
        boxes: boxes.map { predictor.transform.apply(box: $0, originalHeight: image.originalSize.height, originalWidth: image.originalSize.width) },
        points: nil)
    #expect(relativeError(sparse, try fixture("vit_sparse.npy")) < 1e-5)

    var small = predictor
    small.batchSize = 2  // exercise the split into decoder passes
    let out = try small.predict(boxes: boxes, on: image)
    #expect(relativeError(out.maskTokens, try fixture("vit_mask_tokens.npy")) < 1e-4)
    #expect(relativeError(out.iouPredictions, try fixture("vit_iou.npy")) < 1e-4)
    #expect(relativeError(try #require(out.lowResMasks), try fixture("vit_low_res.npy")) < 1e-4)
    try expectMasks(out.masks, match: "vit_masks.npy")
    // Without masks: the same tokens and IoU, no masks computed.
    let tokensOnly = try small.predict(boxes: boxes, on: image, masks: false)
    #expect(tokensOnly.maskTokens.scalars == out.maskTokens.scalars && tokensOnly.iouPredictions.scalars == out.iouPredictions.scalars)
    #expect(tokensOnly.lowResMasks == nil && tokensOnly.masks.isEmpty)
}

@Test func pointPromptsMatchReference() throws {
    let predictor = SamPredictor(model: try loadViT())
    let image = try embedFixture(predictor)
    let coords = try fixture("vit_points.npy"), labels = try fixture("vit_point_labels.npy")
    let set = (0..<coords.shape[1]).map { i in
        (x: coords.scalars[2 * i], y: coords.scalars[2 * i + 1], label: PromptEncoder.PointLabel(rawValue: Int(labels.scalars[i]))!)
    }
    let out = try predictor.predict(points: [set], on: image)
    #expect(relativeError(out.maskTokens, try fixture("vit_points_mask_tokens.npy")) < 1e-4)
    #expect(relativeError(out.iouPredictions, try fixture("vit_points_iou.npy")) < 1e-4)
    #expect(relativeError(try #require(out.lowResMasks), try fixture("vit_points_low_res.npy")) < 1e-4)
    try expectMasks(out.masks, match: "vit_points_masks.npy")
}

func expectMasks(_ masks: [BinaryMask], match name: String) throws {
    let expected = try fixture(name)
    #expect(masks.count == expected.shape[0])
    let flat = masks.flatMap(\.pixels)
    #expect(masks.allSatisfy { $0.height == expected.shape[1] && $0.width == expected.shape[2] })
    let agree = zip(flat, expected.scalars).filter { $0 == ($1 > 0.5) }.count
    #expect(Double(agree) / Double(expected.count) >= 0.999)
}

@Test func huggingFaceNamesGiveTheSameModel() throws {
    let predictor = SamPredictor(model: try loadViT("vit_tiny_hf.safetensors"))
    let image = try embedFixture(predictor)
    #expect(relativeError(image.embedding, try fixture("vit_embedding.npy")) < 1e-4)
    let out = try predictor.predict(boxes: try boxesFixture(), on: image)
    #expect(relativeError(out.maskTokens, try fixture("vit_mask_tokens.npy")) < 1e-4)
}

@Test func tinyViTImageEmbeddingMatchesReference() throws {
    let url = fixtures.appendingPathComponent("tinyvit_tiny.safetensors")
    let loader = try WeightLoader(file: url, rename: SamCheckpoint.renaming(try SafeTensorsFile(url: url).names, origin: url.path))
    let encoder = try TinyViT(loader.scoped("image_encoder"), imageSize: 128)
    #expect(encoder.configuration.embedDims == [16, 24, 32, 40])
    #expect(encoder.configuration.heads == [0, 2, 2, 4])
    #expect(encoder.configuration.windowSizes == [0, 7, 14, 7])
    #expect(loader.unusedKeys().isEmpty)
    let embedding = encoder(try fixture("tinyvit_pixels.npy"))
    let expected = try fixture("tinyvit_embedding.npy")
    #expect(embedding.shape == expected.shape)
    #expect(relativeError(embedding, expected) < 1e-4)
}

@Test func unexpectedOrMissingTensorsAreNamed() throws {
    let file = try SafeTensorsFile(url: fixtures.appendingPathComponent("vit_tiny.safetensors"))
    var tensors = try file.tensors()
    tensors["mask_decoder.extra.weight"] = Tensor(shape: [1], repeating: 0)
    #expect(throws: SAMError.unusedTensors(origin: "<weights>", keys: ["mask_decoder.extra.weight"])) {
        try Sam(loader: WeightLoader(tensors: tensors))
    }
    tensors["mask_decoder.extra.weight"] = nil
    tensors["image_encoder.blocks.1.attn.proj.bias"] = nil
    do {
        _ = try Sam(loader: WeightLoader(tensors: tensors))
        Issue.record("loaded without a bias")
    } catch {
        #expect("\(error)".contains("image_encoder.blocks.1.attn.proj.bias"))
    }
}

/// A patch-8 ViT (the demo encoder's shape): an embedding grid of S / 8, which the prompt
/// encoder's positional grid must follow (the released models' S / 16 would not fit).
@Test func patch8ViTMatchesReference() throws {
    let predictor = SamPredictor(model: try loadViT("vit_patch8.safetensors"))
    #expect(predictor.model.imageEncoder.embeddingGridSize == 8)
    let image = try fixture("vit_patch8_image.npy")
    let embedded = predictor.embed(pixels: try fixture("vit_patch8_pixels.npy"), inputSize: (image.shape[0], image.shape[1]),
                                   originalSize: (image.shape[0], image.shape[1]))
    let t = try fixture("vit_patch8_boxes.npy")
    let boxes = (0..<t.shape[0]).map { Box(Array(t.scalars[($0 * 4)..<($0 * 4 + 4)]))! }
    let out = try predictor.predict(boxes: boxes, on: embedded)
    #expect(relativeError(out.maskTokens, try fixture("vit_patch8_mask_tokens.npy")) < 1e-4)
    #expect(relativeError(out.iouPredictions, try fixture("vit_patch8_iou.npy")) < 1e-4)
    #expect(relativeError(try #require(out.lowResMasks), try fixture("vit_patch8_low_res.npy")) < 1e-4)
    try expectMasks(out.masks, match: "vit_patch8_masks.npy")
}
