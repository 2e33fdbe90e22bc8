import Imaging
import Testing

struct ResizeCase: Codable, Sendable, CustomTestStringConvertible {
    var source: PatternSpec
    var width: Int
    var height: Int
    var filter: String
    var expected: String?
    var fnv1a64: String?

    var testDescription: String { "\(source) → \(width)x\(height) \(filter)" }
}

struct OpenCVResizeCase: Codable, Sendable, CustomTestStringConvertible {
    var interpolation: String
    var width: Int
    var height: Int
    var expected: String

    var testDescription: String { "\(interpolation) \(width)x\(height)" }
}

private struct ResizeManifest: Codable {
    struct OpenCV: Codable {
        var source: PatternSpec
        var cases: [OpenCVResizeCase]
    }
    var cases: [ResizeCase]
    var opencv: OpenCV
}

private let manifest = Fixtures.json("resize.json", as: ResizeManifest.self)

@Suite struct ResizeTests {
    /// `pilResized` is bit-identical to Pillow's `Image.resize` (and torchvision's resize of a
    /// PIL image) for downscaling, upscaling, one-axis and extreme-ratio cases.
    @Test(arguments: manifest.cases)
    func pilResizeIsBitExact(_ fixture: ResizeCase) {
        let filter: PILFilter = fixture.filter == "bicubic" ? .bicubic : .bilinear
        let result = fixture.source.image().pilResized(width: fixture.width, height: fixture.height, filter: filter)
        #expect(result.width == fixture.width && result.height == fixture.height)
        if let expected = fixture.expected {
            let diff = difference(result.pixels, Fixtures.bytes("resize/\(expected)"))
            #expect(diff.count == 0, "\(diff.count) bytes differ, by up to \(diff.max)")
        } else {
            #expect(fnv1a64(result.pixels) == fixture.fnv1a64)
        }
    }

    /// `resized` is OpenCV's cv::resize (libopencv 4.6 against cv2 5.0 in the reference venv):
    /// linear and area agree exactly; cubic's fixed-point rounding changed between the two
    /// versions and differs by at most 1 on some bytes.
    @Test(arguments: manifest.opencv.cases)
    func openCVResizeMatchesCV2(_ fixture: OpenCVResizeCase) {
        let modes: [String: Interpolation] = ["linear": .linear, "cubic": .cubic, "area": .area]
        let result = manifest.opencv.source.image().resized(width: fixture.width, height: fixture.height,
                                                             interpolation: modes[fixture.interpolation]!)
        let diff = difference(result.pixels, Fixtures.bytes("resize/\(fixture.expected)"))
        #expect(diff.max <= (fixture.interpolation == "cubic" ? 1 : 0), "\(diff.count) bytes differ, by up to \(diff.max)")
    }

    @Test func sameSizeIsACopy() {
        let image = PatternSpec(width: 9, height: 4, kind: "noise", seed: 1).image()
        #expect(image.pilResized(width: 9, height: 4) == image)
    }
}
