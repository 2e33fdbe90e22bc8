import Imaging
import Testing

@Suite struct DrawingTests {
    let background = RGB(10, 20, 30)

    /// Pixels that differ between two images, as (x, y).
    func changed(_ a: RGBImage, _ b: RGBImage) -> Set<[Int]> {
        var result = Set<[Int]>()
        for y in 0..<a.height { for x in 0..<a.width where a[x, y] != b[x, y] { result.insert([x, y]) } }
        return result
    }

    @Test func rectangleOutlineCoversExactlyItsEdges() {
        let blank = RGBImage(width: 20, height: 15, color: background)
        var image = blank
        image.drawRectangle(x0: 3, y0: 2, x1: 12, y1: 9, color: RGB(255, 0, 0), thickness: 1)
        var expected = Set<[Int]>()
        for x in 3...12 { expected.insert([x, 2]); expected.insert([x, 9]) }
        for y in 2...9 { expected.insert([3, y]); expected.insert([12, y]) }
        #expect(changed(blank, image) == expected)
        #expect(image[3, 2] == RGB(255, 0, 0) && image[7, 5] == background)
    }

    @Test func filledRectangleIsClippedToTheImage() {
        var image = RGBImage(width: 10, height: 8, color: background)
        image.fillRectangle(x0: -50, y0: 5, x1: 4, y1: 1000, color: RGB(0, 255, 0))
        for y in 0..<8 {
            for x in 0..<10 { #expect(image[x, y] == (x <= 4 && y >= 5 ? RGB(0, 255, 0) : background)) }
        }
        var far = RGBImage(width: 10, height: 8, color: background)
        far.drawRectangle(x0: Int.min / 2, y0: Int.min / 2, x1: Int.max / 2, y1: Int.max / 2, color: RGB(1, 1, 1))
        #expect(far == RGBImage(width: 10, height: 8, color: background))  // edges all outside
    }

    @Test func maskOverlayBlendsOnlyMaskedPixels() {
        var image = RGBImage(width: 4, height: 2, color: RGB(100, 0, 200))
        let mask = [true, false, false, true, false, false, true, false]
        image.overlay(mask: mask, color: RGB(0, 255, 0), alpha: 0.5)
        for (i, inside) in mask.enumerated() {
            #expect(image[i % 4, i / 4] == (inside ? RGB(50, 128, 100) : RGB(100, 0, 200)))
        }
    }

    @Test func labelDrawsTextOnItsBackground() {
        let blank = RGBImage(width: 120, height: 40, color: background)
        var image = blank
        let size = RGBImage.labelSize("cat 0.91")
        image.drawLabel("cat 0.91", x: 5, y: 6, color: RGB(255, 255, 255), background: RGB(0, 0, 255))
        let touched = changed(blank, image)
        let xs = touched.map { $0[0] }, ys = touched.map { $0[1] }
        #expect(xs.min() == 5 && ys.min() == 6)
        #expect(xs.max() == 5 + size.width - 1 && ys.max() == 6 + size.height - 1)
        let colours = Set(touched.map { image[$0[0], $0[1]] })
        #expect(colours.contains(RGB(0, 0, 255)))
        #expect(colours.contains { $0.red > 200 && $0.green > 200 })  // glyph cores
        #expect(colours.count > 2)  // anti-aliased glyph edges
    }

    @Test func boxLabelGoesAboveOrInsideAndClips() {
        var image = RGBImage(width: 60, height: 50, color: background)
        image.drawBox(x0: 10, y0: 30, x1: 50, y1: 45, color: RGB(200, 0, 0), label: "dog")
        let size = RGBImage.labelSize("dog")
        #expect(image[10, 30 - size.height] == RGB(200, 0, 0))  // label background above the box
        var top = RGBImage(width: 60, height: 50, color: background)
        top.drawBox(x0: 40, y0: 0, x1: 70, y1: 20, color: RGB(200, 0, 0), label: "überlong label text")
        #expect(top[45, size.height - 2] == RGB(200, 0, 0))  // no room above: the label sits inside
        #expect(top[59, 5] != background)  // clipped at the right edge, not dropped
    }
}
