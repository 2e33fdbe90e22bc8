import Foundation
import Imaging
import Testing

@Suite struct EncodingTests {
    let image = PatternSpec(width: 31, height: 17, kind: "mixed", seed: 5).image()

    @Test func pngRoundTripIsExact() throws {
        let data = try image.encoded(as: .png)
        #expect(try RGBImage.header(of: data, source: "png").format == .png)
        #expect(try RGBImage(decoding: data, source: "png") == image)
    }

    @Test func jpegRoundTripIsClose() throws {
        let smooth = PatternSpec(width: 64, height: 48, kind: "gradient", seed: 1).image()
        let data = try smooth.encoded(as: .jpeg(quality: 95))
        #expect(try RGBImage.header(of: data, source: "jpeg").format == .jpeg)
        let decoded = try RGBImage(decoding: data, source: "jpeg")
        let meanError = zip(decoded.pixels, smooth.pixels).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) } / smooth.pixels.count
        #expect(meanError <= 2)
        #expect(try smooth.encoded(as: .jpeg(quality: 10)).count < data.count)
    }

    @Test func grayMaskPNGRoundTrips() throws {
        let mask = (0..<(7 * 5)).map { $0 % 3 == 0 }
        let gray = GrayImage(mask: mask, width: 7, height: 5)
        let decoded = try RGBImage(decoding: try gray.encoded(as: .png), source: "mask")
        let header = try RGBImage.header(of: try gray.encoded(as: .png), source: "mask")
        #expect(header.channels == 1 && header.bitDepth == 8)
        #expect(decoded.pixels == mask.flatMap { $0 ? [255, 255, 255] : [0, 0, 0] })
    }

    @Test func writesFilesAtomicallyByExtension() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("imaging-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let png = directory.appendingPathComponent("out.png"), jpeg = directory.appendingPathComponent("out.JPG")
        try image.write(to: png)
        try image.write(to: jpeg)
        try image.write(to: png)  // replaces the existing file
        #expect(try RGBImage(contentsOf: png) == image)
        #expect(try RGBImage.header(of: Data(contentsOf: jpeg), source: "").format == .jpeg)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["out.JPG", "out.png"])
        let unknown = #expect(throws: ImageError.self) { try image.write(to: directory.appendingPathComponent("out.tiff")) }
        #expect(unknown?.kind == .invalidArgument)
        let missing = #expect(throws: ImageError.self) { try image.write(to: directory.appendingPathComponent("no/dir/out.png")) }
        #expect(missing?.kind == .io)
    }

    @Test func jpegQualityIsChecked() {
        let error = #expect(throws: ImageError.self) { try image.encoded(as: .jpeg(quality: 101)) }
        #expect(error?.kind == .invalidArgument)
    }
}
