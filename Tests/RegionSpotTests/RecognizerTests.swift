import CLIP
import Foundation
import Imaging
import Testing
import TestSupport
import Tensors
@testable import RegionSpot

/// End to end against RegionSpot's predictor pipeline in PyTorch (Tools/make_pipeline_fixtures.py):
/// tiny random SAM + CLIP + fusion, one image, five boxes, five classes.
struct RecognizerTests {
    static let fixtures = TinyBundle.fixtures

    struct Request: Decodable {
        var boxes: [Box]
        var scores: [Float]
        var vocabulary: [String]
        var clip_input_size: Int
        var top_k: Int
    }

    static func makeBundle(logitScale: Float? = nil) throws -> (ModelBundle, Request) {
        let request = try JSONDecoder().decode(Request.self, from: Data(contentsOf: TinyBundle.request))
        return (try ModelBundle(directory: TinyBundle.make(logitScale: logitScale)), request)
    }

    @Test func predictionsMatchTheReferencePipeline() throws {
        let (bundle, request) = try Self.makeBundle()
        defer { try? FileManager.default.removeItem(at: bundle.directory) }
        let recognizer = try Recognizer(bundle: bundle)
        let expected = try SafeTensorsFile(url: Self.fixtures.appendingPathComponent("expected.safetensors"))
        let image = try RGBImage(contentsOf: Self.fixtures.appendingPathComponent("image.png"))

        // Stage by stage, so a failure points at the part that drifted.
        let clipTokens = try recognizer.vision.tokenMap(CLIPPreprocessing.squashed(image, size: recognizer.clipInputSize))
        let expectedClip = try expected.tensor(named: "clip_features")
        #expect(maxDifference(clipTokens.reshaped(expectedClip.shape), expectedClip) < 1e-4)
        let classes = try recognizer.classEmbeddings(for: request.vocabulary)
        #expect(maxDifference(classes, try expected.tensor(named: "class_embeddings")) < 1e-4)
        let storedScale = try SafeTensorsFile(url: Self.fixtures.appendingPathComponent("clip_parts.safetensors")).tensor(named: "logit_scale")
        #expect(recognizer.logitScale == Foundation.exp(storedScale.scalars[0]))  // exp(CLIP logit_scale)

        let result = try recognizer.recognize(image: image, boxes: request.boxes, boxScores: request.scores,
                                              vocabulary: request.vocabulary, topK: request.top_k, masks: true)
        let probabilities = try expected.tensor(named: "probs")
        print("pipeline: max |Δ probability| \(maxDifference(result.probabilities, probabilities))")
        #expect(maxDifference(result.probabilities, probabilities) < 1e-4)
        let expectedTop = Scoring.topLabels(probabilities: probabilities, k: request.top_k)
        #expect(result.regions.map { $0.labels.map(\.classIndex) } == expectedTop.map { $0.map(\.classIndex) })
        #expect(result.regions.map(\.boxScore) == request.scores.map { Optional($0) })

        let iou = try expected.tensor(named: "iou")
        let masks = try expected.tensor(named: "masks")  // [N, H, W] of 0/1
        for (i, region) in result.regions.enumerated() {
            #expect(abs(region.maskScore - iou.scalars[i]) < 1e-4)
            let mask = try #require(region.mask)
            #expect(mask.width == image.width && mask.height == image.height)
            let plane = image.width * image.height
            let agree = (0..<plane).filter { mask.pixels[$0] == (masks.scalars[i * plane + $0] > 0.5) }.count
            #expect(agree == plane, "mask \(i): \(plane - agree) pixels differ")
        }
    }

    @Test func masksOnlyWhenAskedAndNoBoxesIsEmpty() throws {
        let (bundle, request) = try Self.makeBundle(logitScale: 50)
        defer { try? FileManager.default.removeItem(at: bundle.directory) }
        let recognizer = try Recognizer(bundle: bundle)
        #expect(recognizer.logitScale == 50)
        let image = try RGBImage(contentsOf: Self.fixtures.appendingPathComponent("image.png"))
        let result = try recognizer.recognize(image: image, boxes: Array(request.boxes.prefix(2)), vocabulary: ["cat", "dog"], topK: 1)
        #expect(result.regions.count == 2 && result.regions.allSatisfy { $0.mask == nil && $0.labels.count == 1 })
        let empty = try recognizer.recognize(image: image, boxes: [], vocabulary: ["cat"])
        #expect(empty.regions.isEmpty && empty.probabilities.shape == [0, 1])
    }

    @Test func badRequestsAreNamed() throws {
        let (bundle, _) = try Self.makeBundle()
        defer { try? FileManager.default.removeItem(at: bundle.directory) }
        let recognizer = try Recognizer(bundle: bundle)
        let image = RGBImage(width: 8, height: 8, color: RGB(10, 20, 30))
        #expect(throws: RecognizerError.badBox(index: 1, box: [2, 0, 1, 1])) {
            try recognizer.recognize(image: image, boxes: [[0, 0, 1, 1], [2, 0, 1, 1]], vocabulary: ["a"])
        }
        #expect(throws: RecognizerError.emptyVocabulary) {
            try recognizer.recognize(image: image, boxes: [[0, 0, 1, 1]], vocabulary: [])
        }
        #expect(throws: RecognizerError.boxScoreCount(boxes: 1, scores: 2)) {
            try recognizer.recognize(image: image, boxes: [[0, 0, 1, 1]], boxScores: [1, 2], vocabulary: ["a"])
        }
    }
}
