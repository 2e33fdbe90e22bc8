import Foundation
import Imaging
import Testing
import TestSupport
import Tensors

/// `regionspot segment` end to end on the tiny SAM of Tools/make_sam_fixtures.py (five boxes on
/// one image), against segment-anything's outputs.
@Suite struct SegmentTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../SAMTests/Fixtures").standardizedFileURL

    static func fixture(_ name: String) throws -> Tensor { try NPY.read(fixtures.appendingPathComponent(name)) }

    /// A fresh directory holding the fixture image as a PNG, removed by the caller.
    static func directoryWithImage() throws -> (directory: URL, image: URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sam-segment-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let pixels = try fixture("vit_image.npy")  // [H, W, 3] as float
        let image = directory.appendingPathComponent("image.png")
        try RGBImage(width: pixels.shape[1], height: pixels.shape[0], pixels: pixels.scalars.map { UInt8($0) }).write(to: image)
        return (directory, image)
    }

    /// `--box=x0,y0,x1,y1` arguments for the fixture's boxes (one starts with a minus sign).
    static func boxArguments() throws -> [String] {
        let boxes = try fixture("vit_boxes.npy")
        return (0..<boxes.shape[0]).map { b in "--box=" + (0..<4).map { "\(boxes.scalars[b * 4 + $0])" }.joined(separator: ",") }
    }

    static func segment(_ arguments: [String]) throws -> Executable.Result {
        try Executable.run(["segment", "--sam", fixtures.appendingPathComponent("vit_tiny.safetensors").path] + arguments)
    }

    @Test func writesMasksTokensAndEmbedding() throws {
        let (directory, image) = try Self.directoryWithImage()
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("out")
        let result = try Self.segment([image.path, "--out", out.path] + Self.boxArguments())
        #expect(result.status == 0, "\(result.standardError)")
        let tokens = try NPY.read(out.appendingPathComponent("mask_tokens.npy"))
        #expect(relativeError(tokens, try Self.fixture("vit_mask_tokens.npy")) < 1e-4)
        #expect(try NPY.read(out.appendingPathComponent("iou.npy")).shape == [5, 4])
        #expect(try NPY.read(out.appendingPathComponent("image_embedding.npy")).shape == [32, 8, 8])
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("mask_4.png").path))
    }

    @Test func refusesBadBoxesAndPixels() throws {
        let (directory, image) = try Self.directoryWithImage()
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("out").path
        let spaced = try Self.segment([image.path, "--out", out, "--box", "1, 2,3,4.5"])
        #expect(spaced.status == 0, "\(spaced.standardError)")
        let short = try Self.segment([image.path, "--out", out, "--box", "1,2,3"])
        #expect(short.status != 0)
        #expect(short.standardError.contains("--box 1,2,3: expected four numbers x0,y0,x1,y1"), "\(short.standardError)")
        let embedding = Self.fixtures.appendingPathComponent("vit_embedding.npy").path
        let pixels = try Self.segment(["--pixels", embedding, "--out", out, "--box", "0,0,1,1"])
        #expect(pixels.status != 0)
        #expect(pixels.standardError.contains("\(embedding): pixels have shape [32, 8, 8], expected [3, 128, 128]"), "\(pixels.standardError)")
    }
}
