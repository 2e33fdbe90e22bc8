import Foundation
import Imaging
import Testing
import TestSupport
import Tensors
@testable import RegionSpot
import Training

/// What the daemon's batching relies on: the fusion module over several images at once gives each
/// image's numbers bit for bit.
struct BatchedStagesTests {
    /// At a published head's size the row-wise layers stack the images (`RowBlocks`).
    @Test(arguments: [1, 2]) func aStackedHeadGivesEachImageItsOwnNumbers(threads: Int) throws {
        let model = try RegionSpotModel.pytorchDefault(config: FusionConfig(dModel: 512, textDim: 512), seed: 4)
        #expect(model.stacksImages)
        var generator = SplitMix64(seed: 11)
        let images = [1, 10, 49, 0, 96].map { regions in
            (maskTokens: Tensor.random([regions, 256], using: &generator), clipFeatures: Tensor.random([50, 512], using: &generator))
        }
        try Parallel.withThreads(threads) {
            let together = try model.regionFeatures(batch: images)
            for (image, stacked) in zip(images, together) {
                #expect(stacked == (try model.regionFeatures(maskTokens: image.maskTokens, clipFeatures: image.clipFeatures)),
                        "\(image.maskTokens.dim(0)) regions, \(threads) threads")
            }
        }
    }

    /// The test bundle's head is too small to stack (see `stacksImages`); the recognizer's batch is the same.
    @Test func fusionOfSeveralImagesEqualsFusionOfEach() throws {
        let (recognizer, image, request, directory) = try StagesTests.load()
        defer { try? FileManager.default.removeItem(at: directory) }
        let other = RGBImage(width: image.width, height: image.height, pixels: image.pixels.map { 255 - $0 })
        let classes = try recognizer.classEmbeddings(for: request.vocabulary)
        let inputs = try [(image, Array(request.boxes.prefix(2))), (other, request.boxes), (image, Array(request.boxes.suffix(1)))].map { picture, boxes in
            Recognizer.ClassificationInput(maskTokens: try recognizer.regionTokens(recognizer.encodeImage(picture), boxes: boxes, masks: false).maskTokens,
                                           tokenMap: try recognizer.tokenMap(picture), classEmbeddings: classes, topK: 3)
        }
        let together = try recognizer.classify(batch: inputs)
        for (input, batched) in zip(inputs, together) {
            let alone = try recognizer.classify(maskTokens: input.maskTokens, tokenMap: input.tokenMap, classEmbeddings: classes, topK: 3)
            print("fusion together vs alone: max |Δ probability| \(maxDifference(batched.probabilities, alone.probabilities))")
            #expect(batched.probabilities == alone.probabilities)
        }
    }
}
