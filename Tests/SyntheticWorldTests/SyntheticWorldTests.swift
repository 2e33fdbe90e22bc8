import Foundation
import Testing
import Evaluation
import Imaging
import RegionSpot
import Tensors
@testable import SyntheticWorld

/// A small world in a fresh temporary directory.
private func makeWorld(seed: UInt64 = 7, categories: Int = 40, heldOut: Int = 4, images: Int = 80, valImages: Int = 30,
                       pretrainImages: Int = 0, size: Int = 64, threads: Int = 2, valOnly: Bool = false,
                       boxSidecars: Bool = false) throws -> URL {
    var c = WorldConfiguration()
    (c.seed, c.categories, c.heldOut, c.trainImages, c.valImages, c.width, c.height) = (seed, categories, heldOut, images, valImages, size, size)
    c.pretrainImages = pretrainImages
    c.writesTrainingSplit = !valOnly
    c.writesBoxSidecars = boxSidecars
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("synth-\(UUID().uuidString)")
    _ = try Parallel.withThreads(threads) { try SyntheticWorld.generate(c, to: directory) }
    return directory
}

/// Every file under `directory`, by relative path.
private func contents(_ directory: URL) throws -> [String: Data] {
    var files: [String: Data] = [:]
    for name in try FileManager.default.subpathsOfDirectory(atPath: directory.path) {
        let url = directory.appendingPathComponent(name)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue {
            files[name] = try Data(contentsOf: url)
        }
    }
    return files
}

private func json(_ url: URL) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
}

private func records(_ file: [String: Any], _ key: String) -> [[String: Any]] { file[key] as! [[String: Any]] }

@Test func sameSeedGivesSameBytesWhateverTheThreads() throws {
    let first = try makeWorld(threads: 2), second = try makeWorld(threads: 1), other = try makeWorld(seed: 8)
    defer { for url in [first, second, other] { try? FileManager.default.removeItem(at: url) } }
    let a = try contents(first), b = try contents(second), c = try contents(other)
    #expect(a.count == 80 + 30 + 3)
    #expect(a == b)
    #expect(a["train.json"] != c["train.json"])
}

@Test func boxSidecarsHoldEachValImagesAnnotatedBoxes() throws {
    let world = try makeWorld(valOnly: true, boxSidecars: true)
    defer { try? FileManager.default.removeItem(at: world) }
    let val = try json(world.appendingPathComponent("val.json"))
    for image in records(val, "images") {
        let name = (image["file_name"] as! String).replacingOccurrences(of: ".png", with: ".boxes.json")
        let sidecar = try BoxesFile(contentsOf: world.appendingPathComponent("val").appendingPathComponent(name))
        let expected = records(val, "annotations").filter { $0["image_id"] as! Int == image["id"] as! Int }.map { a in
            let b = (a["bbox"] as! [NSNumber]).map(\.floatValue)
            return Box(x0: b[0], y0: b[1], x1: b[0] + b[2], y1: b[1] + b[3])
        }
        #expect(sidecar.boxes == expected, "\(name)")
    }
}

@Test func valOnlyWritesTheSameValSplitAndNoTrainingSplit() throws {
    let full = try makeWorld(), valOnly = try makeWorld(valOnly: true)
    defer { for url in [full, valOnly] { try? FileManager.default.removeItem(at: url) } }
    let all = try contents(full), written = try contents(valOnly)
    #expect(written.count == 30 + 2)
    #expect(written == all.filter { !$0.key.hasPrefix("train") })
    let names = String(decoding: try #require(written["names.txt"]), as: UTF8.self).split(separator: "\n").map(String.init)
    #expect(names == records(try json(full.appendingPathComponent("val.json")), "categories").map { $0["name"] as! String })
}

@Test func pretrainingSplitDrawsTrainingCategoriesAlikeAndLeavesTheOthersUnchanged() throws {
    let plain = try makeWorld(categories: 30, heldOut: 3, images: 400, valImages: 10, size: 48)
    let world = try makeWorld(categories: 30, heldOut: 3, images: 400, valImages: 10, pretrainImages: 600, size: 48)
    let again = try makeWorld(categories: 30, heldOut: 3, images: 400, valImages: 10, pretrainImages: 600, size: 48, threads: 1)
    defer { for url in [plain, world, again] { try? FileManager.default.removeItem(at: url) } }
    let files = try contents(world)
    #expect(files == (try contents(again)))
    #expect(files.filter { !$0.key.hasPrefix("pretrain") } == (try contents(plain)))
    #expect(files.keys.filter { $0.hasPrefix("pretrain/") }.count == 600)

    let pretrain = try json(world.appendingPathComponent("pretrain.json")), train = try json(world.appendingPathComponent("train.json"))
    let heldOut = Set(records(try json(world.appendingPathComponent("val.json")), "categories").filter { $0["held_out"] as! Bool }
        .map { $0["id"] as! Int })
    #expect(records(pretrain, "categories").map { $0["id"] as! Int } == records(train, "categories").map { $0["id"] as! Int })
    var counts: [Int: Int] = [:]
    for a in records(pretrain, "annotations") { counts[a["category_id"] as! Int, default: 0] += 1 }
    #expect(heldOut.isDisjoint(with: counts.keys))
    #expect(records(pretrain, "images").allSatisfy { heldOut.isDisjoint(with: $0["neg_category_ids"] as! [Int]) })
    // No long tail: 600 scenes of 1-6 objects over 27 categories, about 78 draws each (fewer annotated, as some are hidden).
    #expect(counts.count == 27)
    #expect(counts.values.min()! >= 20 && counts.values.max()! <= 120, "\(counts.values.sorted())")
}

@Test func frequenciesFollowLVISRuleAndSpanTheTail() throws {
    let world = try makeWorld(categories: 30, heldOut: 3, images: 1500, valImages: 10, size: 48)
    defer { try? FileManager.default.removeItem(at: world) }
    let train = try json(world.appendingPathComponent("train.json"))
    var images: [Int: Set<Int>] = [:]
    for a in records(train, "annotations") { images[a["category_id"] as! Int, default: []].insert(a["image_id"] as! Int) }
    var groups: [String: Int] = [:]
    for category in records(train, "categories") {
        let count = images[category["id"] as! Int]?.count ?? 0
        let frequency = category["frequency"] as! String
        #expect(count >= 1, "\(category["name"]!) has no training image")
        #expect(frequency == (count <= 10 ? "r" : count <= 100 ? "c" : "f"), "\(category["name"]!): \(count) images, \(frequency)")
        #expect(category["image_count"] as! Int == count)
        groups[frequency, default: 0] += 1
    }
    #expect(groups.keys.sorted() == ["c", "f", "r"], "groups \(groups)")
}

@Test func heldOutNamesNeverReachTraining() throws {
    let world = try makeWorld()
    defer { try? FileManager.default.removeItem(at: world) }
    let trainText = try String(contentsOf: world.appendingPathComponent("train.json"), encoding: .utf8)
    let train = try json(world.appendingPathComponent("train.json")), val = try json(world.appendingPathComponent("val.json"))
    let heldOut = records(val, "categories").filter { $0["held_out"] as! Bool }
    #expect(heldOut.count == 4)
    let trainNames = records(train, "categories").map { $0["name"] as! String }
    #expect(trainNames.count == 36)
    let trainIDs = Set(records(train, "categories").map { $0["id"] as! Int })
    for category in heldOut {
        let name = category["name"] as! String
        #expect(!trainText.contains("\"\(name)\""), "\(name) is named in train.json")
        #expect(!trainIDs.contains(category["id"] as! Int))
        for word in name.split(separator: " ") {
            #expect(trainNames.contains { $0.split(separator: " ").contains(word) }, "\(word) of \(name) is in no training name")
        }
    }
    let heldOutIDs = Set(heldOut.map { $0["id"] as! Int })
    for image in records(train, "images") {
        #expect(heldOutIDs.isDisjoint(with: image["neg_category_ids"] as! [Int]))
    }
    #expect(records(train, "annotations").allSatisfy { !heldOutIDs.contains($0["category_id"] as! Int) })
    #expect(records(val, "annotations").contains { heldOutIDs.contains($0["category_id"] as! Int) })
}

@Test func masksAgreeWithBoxesAndAreas() throws {
    let world = try makeWorld()
    defer { try? FileManager.default.removeItem(at: world) }
    let val = try json(world.appendingPathComponent("val.json"))
    let present = Dictionary(grouping: records(val, "annotations"), by: { $0["image_id"] as! Int })
    for image in records(val, "images") {
        let negatives = Set(image["neg_category_ids"] as! [Int])
        let here = Set((present[image["id"] as! Int] ?? []).map { $0["category_id"] as! Int })
        #expect(negatives.isDisjoint(with: here), "image \(image["id"]!) lists a present category as negative")
    }
    for a in records(val, "annotations") {
        let segmentation = a["segmentation"] as! [String: Any]
        let size = segmentation["size"] as! [Int]
        let rle = RLE(compressed: Array((segmentation["counts"] as! String).utf8), height: size[0], width: size[1])
        #expect(rle.boundingBox == (a["bbox"] as! [Int]).map(Double.init), "annotation \(a["id"]!)")
        #expect(Int(rle.area) == a["area"] as! Int, "annotation \(a["id"]!)")
    }
}

@Test func groundTruthAsDetectionsScoresPerfectly() throws {
    let world = try makeWorld()
    defer { try? FileManager.default.removeItem(at: world) }
    for split in ["train", "val"] {
        let annotations = world.appendingPathComponent("\(split).json")
        let detections = records(try json(annotations), "annotations").map { a -> [String: Any] in
            ["image_id": a["image_id"]!, "category_id": a["category_id"]!, "bbox": a["bbox"]!,
             "segmentation": a["segmentation"]!, "score": 1.0]
        }
        let results = world.appendingPathComponent("\(split)-results.json")
        try JSONSerialization.data(withJSONObject: detections).write(to: results)
        for iouType in IoUType.allCases {
            let evaluation = try Evaluation(groundTruth: annotations.path, detections: results.path, iouType: iouType, format: .lvis)
            let ap = evaluation.metrics.first { $0.key == "AP" }!.value
            #expect(abs(ap - 1) < 1e-9, "\(split) \(iouType) AP \(ap)")
        }
    }
}

@Test func badConfigurationsAreRefusedByName() throws {
    var c = WorldConfiguration()
    c.trainImages = 10
    #expect(throws: WorldError.self) { try SyntheticWorld.generate(c, to: FileManager.default.temporaryDirectory) }
    c = WorldConfiguration()
    c.categories = 1000
    #expect(throws: WorldError.invalidConfiguration("--categories must lie in 2...320 (colours × shapes × textures), got 1000")) {
        try SyntheticWorld.generate(c, to: FileManager.default.temporaryDirectory)
    }
}
