import Foundation
import Imaging
import Testing
@testable import SAM

// Parity with segment-anything's SamAutomaticMaskGenerator and the amg.py helpers, on fixtures
// from Tools/make_amg_fixtures.py (the tiny random ViT SAM of make_sam_fixtures.py).

private func json(_ name: String) throws -> [String: Any] {
    let data = try Data(contentsOf: fixtures.appendingPathComponent(name))
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
}

private func ints(_ value: Any?) -> [Int] { (value as? [Any] ?? []).map { ($0 as! NSNumber).intValue } }
private func doubles(_ value: Any?) -> [Double] { (value as? [Any] ?? []).map { ($0 as! NSNumber).doubleValue } }

/// segment-anything's argument names → our options.
private func options(_ reference: [String: Any]) -> AutomaticMaskGenerator.Options {
    var o = AutomaticMaskGenerator.Options()
    func value(_ key: String) -> Double? { (reference[key] as? NSNumber)?.doubleValue }
    if let v = value("points_per_side") { o.pointsPerSide = Int(v) }
    if let v = value("points_per_batch") { o.pointsPerBatch = Int(v) }
    if let v = value("pred_iou_thresh") { o.predIouThresh = v }
    if let v = value("stability_score_thresh") { o.stabilityScoreThresh = v }
    if let v = value("stability_score_offset") { o.stabilityScoreOffset = v }
    if let v = value("box_nms_thresh") { o.boxNmsThresh = v }
    if let v = value("crop_n_layers") { o.cropNLayers = Int(v) }
    if let v = value("crop_nms_thresh") { o.cropNmsThresh = v }
    if let v = value("crop_overlap_ratio") { o.cropOverlapRatio = v }
    if let v = value("crop_n_points_downscale_factor") { o.cropNPointsDownscaleFactor = Int(v) }
    if let v = value("min_mask_region_area") { o.minMaskRegionArea = Int(v) }
    return o
}

private func mask(rows: Any?) -> BinaryMask {
    let rows = (rows as! [[Any]]).map { $0.map { ($0 as! NSNumber).intValue != 0 } }
    return BinaryMask(width: rows[0].count, height: rows.count, pixels: rows.flatMap { $0 })
}

@Test(arguments: ["amg_plain", "amg_crops", "amg_regions"])
func generatorMatchesReference(_ name: String) throws {
    let fixture = try json("\(name).json")
    let reference = try #require(fixture["masks"] as? [[String: Any]])
    let image = try RGBImage(contentsOf: fixtures.appendingPathComponent("amg_image.png"))
    let generator = try AutomaticMaskGenerator(predictor: SamPredictor(model: try loadViT()),
                                               options: options(fixture["options"] as! [String: Any]))
    let masks = generator.generate(image)
    #expect(masks.count == reference.count)
    for (ours, theirs) in zip(masks, reference) {
        #expect(ours.box.xywh == ints(theirs["bbox"]))
        #expect(ours.area == (theirs["area"] as! NSNumber).intValue)
        #expect(abs(Double(ours.predictedIoU) - (theirs["predicted_iou"] as! NSNumber).doubleValue) < 1e-4)
        #expect(abs(Double(ours.stabilityScore) - (theirs["stability_score"] as! NSNumber).doubleValue) < 1e-4)
        #expect(ours.cropBox.xywh == ints(theirs["crop_box"]))
        let point = doubles((theirs["point_coords"] as! [Any])[0])
        #expect(abs(ours.point.x - point[0]) < 1e-9 && abs(ours.point.y - point[1]) < 1e-9)
        let segmentation = theirs["segmentation"] as! [String: Any]
        let size = ints(segmentation["size"])
        let expected = try #require(BinaryMask(RLE(height: size[0], width: size[1],
                                                   counts: ints(segmentation["counts"]).map(UInt32.init))))
        let actual = try #require(BinaryMask(ours.segmentation))
        let agreement = Double(zip(actual.pixels, expected.pixels).filter { $0 == $1 }.count) / Double(expected.pixels.count)
        #expect(agreement >= 0.999, "\(name): pixel agreement \(agreement)")
    }
}

@Test func cropBoxesMatchReference() throws {
    for case let c as [String: Any] in try json("amg_units.json")["crops"] as! [Any] {
        let boxes = CropBox.generate(width: (c["width"] as! NSNumber).intValue, height: (c["height"] as! NSNumber).intValue,
                                     layers: (c["layers"] as! NSNumber).intValue, overlapRatio: (c["ratio"] as! NSNumber).doubleValue)
        #expect(boxes.map { [$0.x0, $0.y0, $0.x1, $0.y1] } == (c["boxes"] as! [Any]).map(ints), "\(c["height"]!)x\(c["width"]!)")
        #expect(boxes.map(\.layer) == ints(c["layer"]))
    }
}

@Test func pointGridsMatchReference() throws {
    for case let g as [String: Any] in try json("amg_units.json")["grids"] as! [Any] {
        let grids = PointGrid.layers(perSide: (g["per_side"] as! NSNumber).intValue, cropLayers: (g["layers"] as! NSNumber).intValue,
                                     downscaleFactor: (g["factor"] as! NSNumber).intValue)
        let expected = (g["grids"] as! [[Any]]).flatMap { $0.map(doubles) }
        let ours = grids.flatMap { $0.points.map { [$0.x, $0.y] } }
        #expect(ours.count == expected.count && grids.map(\.points.count) == (g["grids"] as! [[Any]]).map(\.count))
        // Foundation's JSON parser is not correctly rounded, so the last bits of the fixture's doubles are lost.
        #expect(zip(ours, expected).allSatisfy { abs($0[0] - $1[0]) < 1e-12 && abs($0[1] - $1[1]) < 1e-12 })
    }
}

@Test func boxNMSMatchesTorchvision() throws {
    for case let n as [String: Any] in try json("amg_units.json")["nms"] as! [Any] {
        let boxes = (n["boxes"] as! [Any]).map(ints).map { MaskBox(x0: $0[0], y0: $0[1], x1: $0[2], y1: $0[3]) }
        let keep = BoxNMS.keep(boxes: boxes, scores: doubles(n["scores"]).map(Float.init),
                               threshold: (n["threshold"] as! NSNumber).doubleValue)
        #expect(keep == ints(n["keep"]))
    }
}

@Test func cropEdgesMatchReference() throws {
    for case let e as [String: Any] in try json("amg_units.json")["edges"] as! [Any] {
        let c = ints(e["crop"])
        let crop = CropBox(x0: c[0], y0: c[1], x1: c[2], y1: c[3], layer: 1)
        let near = (e["boxes"] as! [Any]).map(ints).map {
            MaskBox(x0: $0[0], y0: $0[1], x1: $0[2], y1: $0[3]).isNearCropEdge(crop, imageWidth: 200, imageHeight: 150)
        }
        #expect(near == (e["near"] as! [Bool]))
    }
}

@Test func smallRegionsMatchReference() throws {
    for case let r as [String: Any] in try json("amg_units.json")["regions"] as! [Any] {
        let area = (r["area"] as! NSNumber).intValue
        for (mode, key) in [(SmallRegions.Mode.holes, "holes"), (.islands, "islands")] {
            let expected = r[key] as! [String: Any]
            let (out, changed) = SmallRegions.remove(mask(rows: r["mask"]), minArea: area, mode: mode)
            #expect(changed == (expected["changed"] as! Bool), "\(key), area \(area)")
            #expect(out == mask(rows: expected["mask"]), "\(key), area \(area)")
        }
    }
}

@Test func placedRLEMatchesEncodingTheLargerMask() {
    let small = BinaryMask(width: 3, height: 2, pixels: [true, false, true, true, true, false])
    var large = BinaryMask(width: 6, height: 5, pixels: .init(repeating: false, count: 30))
    for y in 0..<2 { for x in 0..<3 { large.pixels[(y + 2) * 6 + x + 1] = small.pixels[y * 3 + x] } }
    #expect(RLE(small, at: 1, 2, width: 6, height: 5) == RLE(large))
    #expect(RLE(small, at: 0, 0, width: 3, height: 2) == RLE(small))
}

@Test func generatorRejectsBadOptions() throws {
    let predictor = SamPredictor(model: try loadViT())
    var o = AutomaticMaskGenerator.Options()
    o.cropNLayers = 2
    o.pointsPerSide = 3
    o.cropNPointsDownscaleFactor = 2
    #expect(throws: SAMError.self) { try AutomaticMaskGenerator(predictor: predictor, options: o) }
    o = .init()
    o.pointGrids = [PointGrid(perSide: 4)]
    #expect(throws: SAMError.self) { try AutomaticMaskGenerator(predictor: predictor, options: o) }
    o.pointsPerSide = nil
    _ = try AutomaticMaskGenerator(predictor: predictor, options: o)
}
