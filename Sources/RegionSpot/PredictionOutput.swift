import Foundation

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
            Region(box: region.box.corners, boxScore: region.boxScore,
                   labels: region.labels.map { Label(name: vocabulary[$0.classIndex], index: $0.classIndex, score: $0.score) },
                   maskScore: region.maskScore, mask: region.mask.map(CompressedRLE.init))
        }
        timings = includeTimings ? recognition.timings : nil
    }

    /// One line per region: its box (and box score), then its labels with their probabilities.
    public func text() -> String {
        var lines = ["\(image) (\(width)×\(height)): \(regions.count) region\(regions.count == 1 ? "" : "s")"]
        for region in regions {
            let box = region.box.map { String(format: "%.0f", $0) }.joined(separator: ", ")
            let boxScore = region.boxScore.map { String(format: " (box %.2f)", $0) } ?? ""
            let labels = region.labels.map { String(format: "%@ %.2f", $0.name, $0.score) }.joined(separator: ", ")
            lines.append("  [\(box)]\(boxScore): \(labels)")
        }
        return lines.joined(separator: "\n")
    }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}
