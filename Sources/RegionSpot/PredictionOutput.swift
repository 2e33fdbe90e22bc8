import Foundation
import Imaging
import SAM

/// The JSON `regionspot predict` prints: one record per box, in request order.
public struct PredictionOutput: Codable, Sendable {
    public struct Label: Codable, Sendable {
        public var name: String
        public var index: Int
        public var score: Float
    }

    public struct Region: Codable, Sendable {
        public var box: [Float]
        public var boxScore: Float?
        public var labels: [Label]
        public var maskScore: Float
        public var mask: CompressedRLE?
        enum CodingKeys: String, CodingKey {
            case box, boxScore = "box_score", labels, maskScore = "mask_score", mask
        }
    }

    public var image: String
    public var width: Int
    public var height: Int
    public var regions: [Region]
    public var timings: StageTimings?

    public init(image: String, width: Int, height: Int, recognition: Recognition, vocabulary: [String], includeTimings: Bool = false) {
        self.image = image
        self.width = width
        self.height = height
        regions = recognition.regions.map { region in
            Region(box: region.box, boxScore: region.boxScore,
                   labels: region.labels.map { Label(name: vocabulary[$0.classIndex], index: $0.classIndex, score: $0.score) },
                   maskScore: region.maskScore, mask: region.mask.map(CompressedRLE.init))
        }
        timings = includeTimings ? recognition.timings : nil
    }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}

/// The picture `regionspot predict --visualize` writes: masks tinted, boxes outlined, each
/// labelled with its best class and score.
public enum Visualization {
    static let palette: [RGB] = [
        RGB(230, 25, 75), RGB(60, 180, 75), RGB(0, 130, 200), RGB(245, 130, 48), RGB(145, 30, 180),
        RGB(70, 240, 240), RGB(240, 50, 230), RGB(128, 128, 0), RGB(0, 128, 128), RGB(170, 110, 40),
    ]

    public static func draw(_ recognition: Recognition, vocabulary: [String], on image: RGBImage) -> RGBImage {
        var canvas = image
        let thickness = max(2, min(image.width, image.height) / 300)
        let scale = max(0.4, Double(min(image.width, image.height)) / 1200)
        for (index, region) in recognition.regions.enumerated() {
            let color = palette[(region.labels.first?.classIndex ?? index) % palette.count]
            if let mask = region.mask { canvas.overlay(mask: mask.pixels, color: color, alpha: 0.45) }
            let label = region.labels.first.map { String(format: "%@ %.2f", vocabulary[$0.classIndex], $0.score) }
            let b = region.box
            canvas.drawBox(x0: Int(b[0].rounded()), y0: Int(b[1].rounded()), x1: Int(b[2].rounded()), y1: Int(b[3].rounded()),
                           color: color, label: label, thickness: thickness, scale: scale)
        }
        return canvas
    }
}
