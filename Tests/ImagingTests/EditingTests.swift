import Imaging
import Tensors
import Testing

@Suite struct EditingTests {
    let image = PatternSpec(width: 13, height: 9, kind: "noise", seed: 3).image()

    @Test func cropAndPad() {
        let crop = image.cropped(x: 2, y: 3, width: 5, height: 4)
        #expect(crop.width == 5 && crop.height == 4)
        #expect(crop[0, 0] == image[2, 3] && crop[4, 3] == image[6, 6])
        let padded = image.padded(toWidth: 16, height: 12, value: RGB(1, 2, 3))
        #expect(padded.cropped(x: 0, y: 0, width: 13, height: 9) == image)
        #expect(padded[13, 0] == RGB(1, 2, 3) && padded[0, 9] == RGB(1, 2, 3) && padded[15, 11] == RGB(1, 2, 3))
    }

    @Test func tensorRoundTrip() {
        let bytes = image.tensor(range: .byte)
        #expect(bytes.shape == [3, 9, 13])
        let pixel = image[4, 2]
        #expect(bytes.scalars[0 * 117 + 2 * 13 + 4] == Float(pixel.red))
        #expect(bytes.scalars[2 * 117 + 2 * 13 + 4] == Float(pixel.blue))
        let unit = image.tensor(range: .unit)
        #expect(unit.scalars[1 * 117 + 2 * 13 + 4] == Float(pixel.green) / 255)
        #expect(RGBImage(tensor: bytes) == image)
        #expect(RGBImage(tensor: unit, range: .unit) == image)
        let clipped = RGBImage(tensor: Tensor(shape: [3, 1, 2], scalars: [-5, 300, 0.4, 0.6, 254.5, 255.49]))
        #expect(clipped.pixels == [0, 0, 255, 255, 1, 255])  // planes R [-5, 300], G [0.4, 0.6], B [254.5, 255.49]
    }
}
