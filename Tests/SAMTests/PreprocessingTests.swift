import Foundation
import Imaging
import Testing
import TestSupport
import Tensors
@testable import SAM

// ResizeLongestSide (PIL bilinear) and Sam.preprocess against segment-anything's own output.

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
    let box = transform.apply(box: Box(x0: 10, y0: 20, x1: 500, y1: 333), originalHeight: 333, originalWidth: 500)
    #expect(box == Box(x0: 10 * Float(1024.0 / 500.0), y0: 20 * Float(682.0 / 333.0), x1: 1024, y1: 333 * Float(682.0 / 333.0)))
}
