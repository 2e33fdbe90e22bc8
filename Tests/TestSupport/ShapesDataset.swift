import Foundation
import Imaging
import Tensors

/// A small LVIS-format dataset the training tests make: coloured rectangles on varied plain
/// backgrounds, one category per colour with LVIS frequencies (frequent, common, rare), split
/// into train and val annotation files over one images directory. Every absent category is
/// listed as a verified negative, so LVIS AP counts false positives.
public enum ShapesDataset {
    public static let categories: [(name: String, color: RGB, frequency: String)] = [
        ("cat", RGB(220, 30, 30), "f"), ("traffic light", RGB(30, 200, 40), "f"),
        ("coffee mug", RGB(30, 60, 220), "c"), ("Band_Aid", RGB(230, 220, 30), "r"),
    ]

    public struct Files {
        public let directory: URL
        public var images: URL { directory.appendingPathComponent("images") }
        public var train: URL { directory.appendingPathComponent("train.json") }
        public var val: URL { directory.appendingPathComponent("val.json") }
        /// `lvis:TRAIN.json:IMAGES` and `lvis:VAL.json:IMAGES` for `--data` and `--val`.
        public var trainSpec: String { "lvis:\(train.path):\(images.path)" }
        public var valSpec: String { "lvis:\(val.path):\(images.path)" }
    }

    /// Writes `train` + `val` images (64×48 PNGs, 1–3 boxes each) into a fresh temporary directory.
    public static func make(train: Int, val: Int, seed: UInt64 = 7) throws -> Files {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("regionspot-shapes-\(UUID().uuidString)")
        let files = Files(directory: directory)
        try FileManager.default.createDirectory(at: files.images, withIntermediateDirectories: true)
        var generator = SplitMix64(seed: seed)
        func draw(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(generator.next() % UInt64(range.count)) }
        var annotationID = 1
        func split(_ ids: Range<Int>) throws -> [String: Any] {
            var images: [[String: Any]] = [], annotations: [[String: Any]] = []
            for id in ids {
                let (width, height) = (64, 48)
                let background = RGB(UInt8(draw(60...160)), UInt8(draw(60...160)), UInt8(draw(60...160)))
                var picture = RGBImage(width: width, height: height, color: background)
                var present = Set<Int>()
                for _ in 0..<draw(1...3) {
                    let category = draw(0...(categories.count - 1))
                    let w = draw(12...28), h = draw(10...22)
                    let x = draw(0...(width - w)), y = draw(0...(height - h))
                    picture.fillRectangle(x0: x, y0: y, x1: x + w - 1, y1: y + h - 1, color: categories[category].color)
                    annotations.append(["id": annotationID, "image_id": id, "category_id": category + 1,
                                        "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0])
                    present.insert(category + 1)
                    annotationID += 1
                }
                let name = String(format: "%06d.png", id)
                try picture.write(to: files.images.appendingPathComponent(name))
                images.append(["id": id, "width": width, "height": height, "file_name": name,
                               "neg_category_ids": (1...categories.count).filter { !present.contains($0) }, "not_exhaustive_category_ids": [Int]()])
            }
            let cats = categories.enumerated().map { ["id": $0.offset + 1, "name": $0.element.name, "frequency": $0.element.frequency] as [String: Any] }
            return ["images": images, "annotations": annotations, "categories": cats]
        }
        try JSONSerialization.data(withJSONObject: split(1..<(train + 1))).write(to: files.train)
        try JSONSerialization.data(withJSONObject: split((train + 1)..<(train + val + 1))).write(to: files.val)
        return files
    }
}
