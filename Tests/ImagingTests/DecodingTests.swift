import Foundation
import Imaging
import Testing

struct DecodeCase: Codable, Sendable, CustomTestStringConvertible {
    var file: String
    var width: Int?
    var height: Int?
    var expected: String?
    var error: String?

    var testDescription: String { file }
}

private struct DecodeManifest: Codable {
    var cases: [DecodeCase]
}

private let decodeCases = Fixtures.json("decode.json", as: DecodeManifest.self).cases

@Suite struct DecodingTests {
    /// Every format and pixel layout decodes to exactly what Pillow's open + EXIF transpose +
    /// convert("RGB") gives.
    @Test(arguments: decodeCases.filter { $0.expected != nil })
    func decodesLikePillow(_ fixture: DecodeCase) throws {
        let image = try RGBImage(decoding: Fixtures.data("decode/\(fixture.file)"), source: fixture.file)
        #expect(image.width == fixture.width && image.height == fixture.height)
        let expected = Fixtures.bytes("decode/\(fixture.expected!)")
        guard image.pixels.count == expected.count else { return }
        let diff = difference(image.pixels, expected)
        #expect(diff.count == 0, "\(fixture.file): \(diff.count) bytes differ, by up to \(diff.max)")
    }

    /// Non-images, truncated and corrupt files and decompression bombs are refused with an
    /// error of the expected kind that names the source.
    @Test(arguments: decodeCases.filter { $0.error != nil })
    func refusesBadInput(_ fixture: DecodeCase) throws {
        let expected: [String: ImageError.Kind] = [
            "truncated": .truncated, "notAnImage": .notAnImage, "tooManyPixels": .tooManyPixels, "corrupt": .corrupt,
        ]
        let error = #expect(throws: ImageError.self) {
            try RGBImage(decoding: Fixtures.data("decode/\(fixture.file)"), source: fixture.file)
        }
        #expect(error?.kind == expected[fixture.error!], "\(fixture.file): \(String(describing: error))")
        #expect(error?.description.hasPrefix(fixture.file + ": ") == true)
    }

    @Test func headerIsReadWithoutDecoding() throws {
        let header = try RGBImage.header(of: Fixtures.data("decode/orientation6.jpg"), source: "orientation6.jpg")
        #expect(header.format == .jpeg)
        #expect(header.width == 40 && header.height == 26 && header.orientation == 6)
        #expect(header.orientedWidth == 26 && header.orientedHeight == 40)
        let bomb = try RGBImage.header(of: Fixtures.data("decode/bomb.png"), source: "bomb.png")
        #expect(bomb.format == .png && bomb.width == 100_000 && bomb.height == 100_000)
        #expect(try RGBImage.header(of: Fixtures.data("decode/lossy.webp"), source: "").format == .webp)
        #expect(try RGBImage.header(of: Fixtures.data("decode/rgb24.bmp"), source: "").format == .bmp)
    }

    @Test func pixelLimitIsConfigurable() throws {
        let data = Fixtures.data("decode/rgb.png")  // 40×26 = 1040 pixels
        #expect(try RGBImage(decoding: data, source: "rgb.png", maxPixels: 1040).width == 40)
        let error = #expect(throws: ImageError.self) { try RGBImage(decoding: data, source: "rgb.png", maxPixels: 1039) }
        #expect(error?.kind == .tooManyPixels)
        #expect(error?.description.contains("40x26") == true)
    }

    @Test func readsFilesAndNamesMissingOnes() throws {
        let url = Fixtures.directory.appendingPathComponent("decode/rgb420.jpg")
        #expect(try RGBImage(contentsOf: url).width == 40)
        let missing = Fixtures.directory.appendingPathComponent("decode/no-such-file.png")
        let error = #expect(throws: ImageError.self) { try RGBImage(contentsOf: missing) }
        #expect(error?.kind == .io)
        #expect(error?.source == missing.path)
    }
}
