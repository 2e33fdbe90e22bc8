import Foundation
import Testing
import Imaging
@testable import Evaluation

/// pycocotools' own outputs for polygons, boxes, masks and IoUs (Tools/make_eval_fixtures.py).
struct MaskFixtures {
    let json: [String: Any]
    init() throws {
        json = try readFixture("masks.json") as! [String: Any]
    }
    func cases(_ key: String) -> [[String: Any]] { json[key] as! [[String: Any]] }
}


@Test func polygonsRasteriseLikePycocotools() throws {
    let fixtures = try MaskFixtures()
    for (n, c) in fixtures.cases("polygons").enumerated() {
        let h = int(c["height"]), w = int(c["width"])
        let parts = (c["polygons"] as! [Any]).map { doubles($0) }
        let rles = parts.map { RLE(polygon: $0, height: h, width: w) }
        #expect(rles.map(\.compressedString) == c["parts"] as! [String], "case \(n) parts")
        let merged = RLE.merge(rles)
        #expect(merged.compressedString == c["counts"] as! String, "case \(n)")
        #expect(Int(merged.area) == int(c["area"]), "case \(n) area")
        #expect(merged.boundingBox == doubles(c["bbox"]), "case \(n) bbox")
    }
}

@Test func boxesRasteriseLikePycocotools() throws {
    for c in try MaskFixtures().cases("boxes") {
        let rle = RLE(box: doubles(c["box"]), height: int(c["height"]), width: int(c["width"]))
        #expect(rle.compressedString == c["counts"] as! String)
    }
}

@Test func masksEncodeAndDecode() throws {
    for c in try MaskFixtures().cases("masks") {
        let h = int(c["height"]), w = int(c["width"])
        let mask = (c["mask"] as! [Any]).map { UInt8(int($0)) }
        let rle = RLE(mask: mask, height: h, width: w)
        #expect(rle.compressedString == c["counts"] as! String)
        let decoded = RLE(compressed: Array((c["counts"] as! String).utf8), height: h, width: w)
        #expect(decoded == rle)
        #expect(decoded.decoded() == mask)
        #expect(Int(rle.area) == int(c["area"]))
        #expect(rle.boundingBox == doubles(c["bbox"]))
    }
}

@Test func maskAndBoxIoUs() throws {
    let fixtures = try MaskFixtures()
    func rles(_ list: Any?) -> [RLE] {
        (list as! [[String: Any]]).map {
            let size = doubles($0["size"])
            return RLE(compressed: Array(($0["counts"] as! String).utf8), height: Int(size[0]), width: Int(size[1]))
        }
    }
    let masks = fixtures.json["iou"] as! [String: Any]
    let dts = rles(masks["dt"]), gts = rles(masks["gt"])
    let crowd = (masks["crowd"] as! [Any]).map { int($0) != 0 }
    let expected = (masks["iou"] as! [Any]).map { doubles($0) }
    for (d, dt) in dts.enumerated() {
        for (g, gt) in gts.enumerated() {
            let iou = RLE.iou(dt, gt, dtBox: dt.boundingBox, gtBox: gt.boundingBox, crowd: crowd[g])
            #expect(iou == expected[d][g], "mask iou \(d),\(g)")
        }
    }
    let boxes = fixtures.json["box_iou"] as! [String: Any]
    let dtBoxes = (boxes["dt"] as! [Any]).map { doubles($0) }, gtBoxes = (boxes["gt"] as! [Any]).map { doubles($0) }
    let boxExpected = (boxes["iou"] as! [Any]).map { doubles($0) }
    for d in dtBoxes.indices {
        for g in gtBoxes.indices {
            #expect(RLE.boxIoU(dtBoxes[d], gtBoxes[g], crowd: crowd[g]) == boxExpected[d][g], "box iou \(d),\(g)")
        }
    }
}
