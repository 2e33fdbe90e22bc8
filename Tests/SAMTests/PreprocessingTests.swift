import Foundation
import Imaging
import Testing
import TestSupport
import Tensors
@testable import SAM

// ResizeLongestSide (PIL bilinear) and Sam.preprocess against segment-anything's own output, and
// the `segment` command's library path end to end on the tiny model.

func fixtureImage() throws -> RGBImage {
    let t = try fixture("vit_image.npy")  // [H, W, 3] as float
    return RGBImage(width: t.shape[1], height: t.shape[0], pixels: t.scalars.map { UInt8($0) })
}

@Test func resizeLongestSideAndPreprocessMatchReference() throws {
    let image = try fixtureImage()
    let transform = ResizeLongestSide(targetLength: 128)
    let resized = transform.apply(image: image)
    let expected = try fixture("vit_resized.npy")
    #expect([resized.height, resized.width, 3] == expected.shape)
    let differing = zip(resized.pixels, expected.scalars).filter { Float($0) != $1 }.count
    #expect(differing == 0)
    let pixels = Sam.preprocess(resized, size: 128)
    #expect(relativeError(pixels, try fixture("vit_pixels.npy")) < 1e-6)
}

@Test func boxCoordinatesAreScaledLikeTheReference() {
    let transform = ResizeLongestSide(targetLength: 1024)
    let landscape = transform.preprocessShape(height: 480, width: 640)
    #expect(landscape.height == 768 && landscape.width == 1024)
    let odd = transform.preprocessShape(height: 333, width: 500)  // int(333·2.048 + 0.5)
    #expect(odd.height == 682 && odd.width == 1024)
    let box = transform.apply(box: [10, 20, 500, 333], originalHeight: 333, originalWidth: 500)
    #expect(box == [10 * Float(1024.0 / 500.0), 20 * Float(682.0 / 333.0), 1024, 333 * Float(682.0 / 333.0)])
}

@Test func segmentRunWritesMasksTokensAndEmbedding() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sam-segment-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: dir) }
    let imageURL = dir.appendingPathComponent("image.png")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    try fixtureImage().write(to: imageURL)
    let result = try SegmentRun.run(weights: fixtures.appendingPathComponent("vit_tiny.safetensors"), image: imageURL,
                                    pixels: nil, boxes: try boxesFixture(), multimask: false)
    try SegmentRun.write(result, to: dir)
    #expect(relativeError(result.prediction.maskTokens, try fixture("vit_mask_tokens.npy")) < 1e-4)
    #expect(try NPY.read(dir.appendingPathComponent("iou.npy")).shape == [5, 4])
    #expect(try NPY.read(dir.appendingPathComponent("image_embedding.npy")).shape == [32, 8, 8])
    #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("mask_4.png").path))
    #expect(SegmentRun.parseBox("1, 2,3,4.5") == [1, 2, 3, 4.5])
    #expect(SegmentRun.parseBox("1,2,3") == nil)
    #expect(throws: SAMError.self) {
        try SegmentRun.run(weights: fixtures.appendingPathComponent("vit_tiny.safetensors"), image: nil,
                           pixels: fixtures.appendingPathComponent("vit_embedding.npy"), boxes: [[0, 0, 1, 1]], multimask: false)
    }
}
