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

    /// Runs segment on the fixture's boxes into `directory`/out and checks the tokens and IoU
    /// predictions it wrote against the reference's `outputs` (second axis); returns the PNGs' names.
    static func segmentFixture(in directory: URL, image: URL, multimask: Bool, outputs: Range<Int>) throws -> [String] {
        let out = directory.appendingPathComponent("out")
        let result = try segment([image.path, "--out", out.path] + boxArguments() + (multimask ? ["--multimask"] : []))
        #expect(result.status == 0, "\(result.standardError)")
        let tokens = try NPY.read(out.appendingPathComponent("mask_tokens.npy"))
        let iou = try NPY.read(out.appendingPathComponent("iou.npy"))
        #expect(tokens.shape == [5, outputs.count, 32] && iou.shape == [5, outputs.count])
        #expect(relativeError(tokens, try fixture("vit_mask_tokens.npy").slice(axis: 1, range: outputs)) < 1e-4)
        #expect(maxDifference(iou, try fixture("vit_iou.npy").slice(axis: 1, range: outputs)) < 1e-4)
        #expect(try NPY.read(out.appendingPathComponent("image_embedding.npy")).shape == [32, 8, 8])
        return try FileManager.default.contentsOfDirectory(atPath: out.path).filter { $0.hasSuffix(".png") }.sorted()
    }

    /// One mask per box, as segment-anything's `multimask_output=False`: mask 0, its IoU
    /// prediction and mask token 0 (RegionSpot's region feature).
    @Test func writesOneMaskItsTokenAndIoUPerBox() throws {
        let (directory, image) = try Self.directoryWithImage()
        defer { try? FileManager.default.removeItem(at: directory) }
        let written = try Self.segmentFixture(in: directory, image: image, multimask: false, outputs: 0..<1)
        #expect(written == (0..<5).map { "mask_\($0).png" })
        let expected = try Self.fixture("vit_masks.npy")  // [5, H, W] of 0/1: mask 0 at the image's size
        let (height, width) = (expected.shape[1], expected.shape[2])
        for box in 0..<5 {
            let mask = try RGBImage(contentsOf: directory.appendingPathComponent("out/mask_\(box).png"))
            #expect(mask.width == width && mask.height == height)
            let reference = expected.scalars[(box * height * width)..<((box + 1) * height * width)]
            let agree = zip(stride(from: 0, to: mask.pixels.count, by: 3), reference).filter { (mask.pixels[$0] > 127) == ($1 > 0.5) }.count
            #expect(Double(agree) >= 0.999 * Double(height * width), "mask \(box)")
        }
    }

    /// With --multimask, segment-anything's `multimask_output=True`: masks 1…3 of each box, with
    /// their IoU predictions and mask tokens 1…3.
    @Test func multimaskWritesThreeMasksTokensAndIoUsPerBox() throws {
        let (directory, image) = try Self.directoryWithImage()
        defer { try? FileManager.default.removeItem(at: directory) }
        let written = try Self.segmentFixture(in: directory, image: image, multimask: true, outputs: 1..<4)
        #expect(written == (0..<5).flatMap { box in (1...3).map { "mask_\(box)_\($0).png" } })
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

    /// `--everything`: segment-anything's automatic mask generator, as the fixture of
    /// Tools/make_amg_fixtures.py recorded it (amg_plain: masks.json fields and PNGs).
    @Test func everythingWritesTheReferenceMasks() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sam-everything-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let fixture = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixtures.appendingPathComponent("amg_plain.json"))) as! [String: Any]
        let options = (fixture["options"] as! [String: Any]).map { "--\($0.key.replacingOccurrences(of: "_", with: "-"))=\($0.value)" }
        let result = try Self.segment([Self.fixtures.appendingPathComponent("amg_image.png").path, "--everything",
                                       "--out", directory.path] + options)
        #expect(result.status == 0, "\(result.standardError)")
        let records = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("masks.json"))) as! [[String: Any]]
        let expected = fixture["masks"] as! [[String: Any]]
        #expect(records.count == expected.count)
        for (i, (ours, theirs)) in zip(records, expected).enumerated() {
            #expect(ours["bbox"] as! [Int] == theirs["bbox"] as! [Int] && ours["area"] as! Int == theirs["area"] as! Int)
            #expect(abs((ours["predicted_iou"] as! Double) - (theirs["predicted_iou"] as! Double)) < 1e-4)
            #expect(ours["crop_box"] as! [Int] == theirs["crop_box"] as! [Int])
            let segmentation = ours["segmentation"] as! [String: Any]
            let size = segmentation["size"] as! [Int]
            let rle = RLE(compressed: Array((segmentation["counts"] as! String).utf8), height: size[0], width: size[1])
            #expect(Int(rle.area) == ours["area"] as! Int)
            let png = try RGBImage(contentsOf: directory.appendingPathComponent("mask_\(i).png"))
            #expect(png.width == size[1] && png.height == size[0])
        }
    }

    /// With every filter off, empty masks survive and their stability is 0/0, as in segment-anything;
    /// masks.json writes it as the string "NaN" (JSON has no NaN) instead of failing. The demo
    /// bundle's SAM on the world's val scenes gives such masks.
    @Test func everythingWritesTheStabilityOfEmptyMasksAsNaN() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sam-nan-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let synth = try Executable.run(["synth", "--out", directory.path, "--images", "400", "--val-images", "4", "--val-only", "--threads", "1"])
        #expect(synth.status == 0, "\(synth.standardError)")
        let sam = DemoBundleTests.source.appendingPathComponent("sam.safetensors").path
        var empty = 0
        for image in 1...4 {
            let out = directory.appendingPathComponent("out-\(image)")
            let result = try Executable.run(["segment", "--sam", sam, directory.appendingPathComponent(String(format: "val/%06d.png", image)).path,
                                             "--everything", "--no-png", "--out", out.path, "--points-per-side", "16",
                                             "--pred-iou-thresh", "0", "--stability-score-thresh", "0", "--stability-score-offset", "0",
                                             "--box-nms-thresh", "1", "--threads", "1"])
            #expect(result.status == 0, "\(result.standardError)")
            let records = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("masks.json"))) as! [[String: Any]]
            for record in records where record["stability_score"] as? String == "NaN" {
                #expect(record["area"] as! Int == 0)
                empty += 1
            }
            #expect(records.allSatisfy { $0["stability_score"] is NSNumber || $0["stability_score"] as? String == "NaN" })
        }
        #expect(empty > 0, "no empty mask: the test no longer covers the NaN case")
    }
}
