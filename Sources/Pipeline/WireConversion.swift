import Foundation
import Imaging
import PipelineProtocol
import RegionSpot
import SAM
import Tensors

// Conversions between the wire's messages and the engine's values.

extension Box {
    init(_ box: Regionspot_V1_Box) {
        self.init(x0: box.x0, y0: box.y0, x1: box.x1, y1: box.y1)
    }
}

extension Regionspot_V1_Box {
    init(_ box: Box, score: Float? = nil) {
        self.init()
        (x0, y0, x1, y1) = (box.x0, box.y0, box.x1, box.y1)
        if let score { self.score = score }
    }
}

extension Regionspot_V1_Status {
    init(_ code: Regionspot_V1_Code, _ message: String = "") {
        self.init()
        self.code = code
        self.message = message
    }
}

extension Regionspot_V1_RawImage {
    init(_ image: RGBImage) {
        self.init()
        width = UInt32(image.width)
        height = UInt32(image.height)
        rgb = Data(image.pixels)
    }
}

extension RGBImage {
    /// A decoded image from another process, whose sizes are checked against its bytes.
    init(_ raw: Regionspot_V1_RawImage) throws(RequestRefusal) {
        let (width, height) = (Int(raw.width), Int(raw.height))
        // Divided first, so that the product below cannot overflow.
        guard width > 0, height > 0, raw.rgb.count / 3 / width == height, raw.rgb.count == width * height * 3 else {
            throw RequestRefusal(.invalidArgument, "image: \(raw.rgb.count) bytes do not hold \(width)×\(height) RGB pixels")
        }
        self.init(width: width, height: height, pixels: [UInt8](raw.rgb))
    }
}

/// The generator's parameters and the localize task's fields that carry them, one pair each.
private let wholeParameters: [(WritableKeyPath<AutomaticMaskGenerator.Options, Int> & Sendable,
                                WritableKeyPath<Regionspot_V1_MaskGeneratorOptions, UInt32> & Sendable)] = [
    (\.pointsPerBatch, \.pointsPerBatch), (\.cropNLayers, \.cropNLayers),
    (\.cropNPointsDownscaleFactor, \.cropNPointsDownscaleFactor), (\.minMaskRegionArea, \.minMaskRegionArea),
]
private let realParameters: [(WritableKeyPath<AutomaticMaskGenerator.Options, Double> & Sendable,
                               WritableKeyPath<Regionspot_V1_MaskGeneratorOptions, Double> & Sendable)] = [
    (\.predIouThresh, \.predIouThresh), (\.stabilityScoreThresh, \.stabilityScoreThresh),
    (\.stabilityScoreOffset, \.stabilityScoreOffset), (\.boxNmsThresh, \.boxNmsThresh),
    (\.cropNmsThresh, \.cropNmsThresh), (\.cropOverlapRatio, \.cropOverlapRatio),
]

extension Regionspot_V1_MaskGeneratorOptions {
    /// `options` must be valid (`AutomaticMaskGenerator.pointGrids(for:)`), as the pipeline file's are.
    init(_ options: AutomaticMaskGenerator.Options) {
        self.init()
        pointsPerSide = UInt32(options.pointsPerSide ?? 0)
        for (option, field) in wholeParameters { self[keyPath: field] = UInt32(options[keyPath: option]) }
        for (option, field) in realParameters { self[keyPath: field] = options[keyPath: option] }
    }
}

extension AutomaticMaskGenerator.Options {
    /// The parameters a localize task carries; the generator checks them.
    init(_ message: Regionspot_V1_MaskGeneratorOptions) {
        self.init()
        pointsPerSide = Int(message.pointsPerSide)
        for (option, field) in wholeParameters { self[keyPath: option] = Int(message[keyPath: field]) }
        for (option, field) in realParameters { self[keyPath: option] = message[keyPath: field] }
    }
}

extension Regionspot_V1_RLE {
    init(_ mask: BinaryMask) {
        self.init()
        size = [UInt32(mask.height), UInt32(mask.width)]
        counts = RLE(mask).compressedString
    }
}

extension BinaryMask {
    init(_ rle: Regionspot_V1_RLE, field: String) throws(RequestRefusal) {
        guard rle.size.count == 2, let mask = BinaryMask(RLE(compressed: Array(rle.counts.utf8), height: Int(rle.size[0]),
                                                             width: Int(rle.size[1]))) else {
            throw RequestRefusal(.internal, "\(field): not a mask of size \(rle.size)")
        }
        self = mask
    }
}

extension Recognition {
    /// What a pipeline answered, as the engine would have: regions with their top labels and masks.
    /// `probabilities` is empty ([0, classes]): the wire carries only each box's top labels.
    init(_ reply: Regionspot_V1_RecognizeReply, vocabulary: [String]) throws(RequestRefusal) {
        var regions: [RecognizedRegion] = []
        for (index, region) in reply.regions.enumerated() {
            var labels: [ScoredLabel] = []
            for label in region.labels {
                guard Int(label.index) < vocabulary.count else {
                    throw RequestRefusal(.internal, "regions[\(index)].labels: class index \(label.index) outside the vocabulary")
                }
                labels.append(ScoredLabel(classIndex: Int(label.index), score: label.score))
            }
            let mask = region.hasMask ? try BinaryMask(region.mask, field: "regions[\(index)].mask") : nil
            regions.append(RecognizedRegion(box: Box(region.box), boxScore: region.box.hasScore ? region.box.score : nil,
                                            labels: labels, maskScore: region.maskScore, mask: mask))
        }
        var timings = StageTimings()
        let t = reply.timings
        (timings.samEncoder, timings.clipEncoder, timings.textEmbeddings) = (t.samEncoderMs / 1000, t.clipEncoderMs / 1000, t.classEmbeddingsMs / 1000)
        (timings.samDecoder, timings.fusion, timings.total) = (t.samDecoderMs / 1000, t.fusionMs / 1000, t.totalMs / 1000)
        timings.encoders = timings.samEncoder + timings.clipEncoder + timings.textEmbeddings
        self.init(regions: regions, probabilities: Tensor(shape: [0, vocabulary.count]), timings: timings,
                  imageWidth: Int(reply.imageWidth), imageHeight: Int(reply.imageHeight))
    }
}
