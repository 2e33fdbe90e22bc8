import Imaging
import Testing
import Tensors
@testable import RegionSpot

struct VisualizationTests {
    /// A 128×96 scene, grey with one white pixel, and one region: its box and a mask over its left half.
    static func scene() -> (RGBImage, Recognition) {
        var pixels = [UInt8](repeating: 90, count: 128 * 96 * 3)
        for c in 0..<3 { pixels[(5 * 128 + 7) * 3 + c] = 255 }
        let image = RGBImage(width: 128, height: 96, pixels: pixels)
        let mask = BinaryMask(width: 128, height: 96, pixels: (0..<128 * 96).map { i in (40..<60).contains(i % 128) && (30..<70).contains(i / 128) })
        let region = RecognizedRegion(box: Box(x0: 40, y0: 30, x1: 80, y1: 70), boxScore: nil,
                                      labels: [ScoredLabel(classIndex: 1, score: 0.9)], maskScore: 1, mask: mask)
        return (image, Recognition(regions: [region], probabilities: Tensor(shape: [1, 2]), timings: StageTimings(), imageWidth: 128, imageHeight: 96))
    }

    @Test func smallPicturesAreEnlargedByAWholeFactorWithBoxesAndMasksAlong() {
        let (image, recognition) = Self.scene()
        let picture = Visualization.draw(recognition, vocabulary: ["cat", "dog"], on: image)
        #expect(picture.width == 128 * 6 && picture.height == 96 * 6)  // 96 · 6 ≥ 512
        // Every pixel became a 6×6 square; one far from the region keeps its colour.
        #expect((0..<6).allSatisfy { dy in (0..<6).allSatisfy { dx in picture[7 * 6 + dx, 5 * 6 + dy] == RGB(255, 255, 255) } })
        #expect(picture[7 * 6 - 1, 5 * 6] == RGB(90, 90, 90))
        // The mask is tinted where it lies, scaled: inside its left half, not in the box's right half.
        let palette = Visualization.palette[1]
        let tinted = picture[50 * 6, 60 * 6], plain = picture[70 * 6, 60 * 6]
        #expect(tinted != RGB(90, 90, 90) && plain == RGB(90, 90, 90))
        // The box's outline in its colour at the scaled right edge.
        let edge = 80 * 6
        #expect((edge - 8...edge + 8).contains { x in picture[x, 360] == palette })
    }

    @Test func picturesLargeEnoughAreLeftAtTheirSize() {
        let image = RGBImage(width: 640, height: 512, pixels: [UInt8](repeating: 0, count: 640 * 512 * 3))
        let picture = Visualization.draw(Recognition(regions: [], probabilities: Tensor(shape: [0, 1]), timings: StageTimings(),
                                                     imageWidth: 640, imageHeight: 512), vocabulary: ["cat"], on: image)
        #expect(picture.width == 640 && picture.height == 512 && picture.pixels == image.pixels)
    }

    @Test func enlargingRepeatsEachPixelAndMaskValue() {
        let image = RGBImage(width: 2, height: 1, pixels: [1, 2, 3, 4, 5, 6])
        #expect(image.enlarged(by: 2).pixels == [1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6, 1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6])
        #expect(BinaryMask(width: 2, height: 1, pixels: [true, false]).enlarged(by: 2).pixels == [true, true, false, false, true, true, false, false])
        #expect(image.enlarged(by: 1) == image)
    }
}
