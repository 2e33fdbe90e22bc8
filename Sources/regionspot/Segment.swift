import ArgumentParser
import Foundation
import Imaging
import SAM
import Tensors

extension RegionSpotCommand {
    /// `regionspot segment`: SAM masks, IoU scores and mask tokens for boxes on one image.
    struct Segment: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Segment boxes with SAM: masks (PNG), mask_tokens.npy, iou.npy, image_embedding.npy; or the whole image.",
            discussion: "One mask per box (SAM's mask 0, whose token is RegionSpot's region feature), or with --multimask "
                + "masks 1…3; mask_tokens.npy and iou.npy hold the tokens and IoU predictions of the masks written. "
                + "With --everything, segment-anything's automatic mask generator instead: mask_<i>.png and masks.json, "
                + "one record per mask (segmentation as COCO compressed RLE, area, bbox XYWH, predicted_iou, "
                + "point_coords, stability_score, crop_box).")

        @Option(help: "SAM weights (.safetensors; segment-anything, MobileSAM or Hugging Face names).")
        var sam: String
        @Argument(help: "The image (its size gives the box coordinate frame). Optional with --pixels.")
        var image: String?
        @Option(name: .customLong("box"), help: "A box x0,y0,x1,y1 in image pixels (repeat for more).")
        var boxes: [String] = []
        @Option(help: "An already preprocessed [3, S, S] tensor (.npy) to encode instead of the image.")
        var pixels: String?
        @Flag(help: "Three masks per box (SAM's multimask output) instead of one.")
        var multimask = false
        @Flag(help: "Segment the whole image from a grid of point prompts (segment-anything's automatic mask generator).")
        var everything = false
        @Flag(help: "With --everything, write masks.json only.")
        var noPNG = false
        @OptionGroup(title: "Automatic mask generator (--everything)") var generator: MaskGeneratorOptions
        @Option(help: "Output directory.")
        var out: String
        @OptionGroup var threads: ThreadOptions

        func validate() throws {
            if everything {
                guard image != nil, pixels == nil, boxes.isEmpty, !multimask else {
                    throw ValidationError("--everything takes an IMAGE and no --pixels, --box or --multimask")
                }
                return
            }
            guard image != nil || pixels != nil else { throw ValidationError("give an IMAGE or --pixels") }
            guard !boxes.isEmpty else { throw ValidationError("give at least one --box x0,y0,x1,y1 (or --everything)") }
            for box in boxes where Self.parseBox(box) == nil {
                throw ValidationError("--box \(box): expected four numbers x0,y0,x1,y1")
            }
        }

        func run() throws {
            let predictor = SamPredictor(model: try Sam(contentsOf: URL(fileURLWithPath: sam)))
            if everything { return try segmentEverything(with: predictor) }
            let (embedded, prediction) = try threads.run {
                let embedded = try embed(with: predictor)
                return (embedded, try predictor.predict(boxes: boxes.compactMap(Self.parseBox), on: embedded, multimask: multimask))
            }
            try write(prediction, outputs: predictor.selectedOutputs(multimask: multimask), embedding: embedded.embedding,
                      to: URL(fileURLWithPath: out))
        }

        static func parseBox(_ text: String) -> Box? {
            let parts = text.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.count == 4, parts.allSatisfy({ $0?.isFinite == true }) else { return nil }
            return Box(parts.map { $0! })
        }

        /// With --pixels, the tensor [3, S, S] is encoded as is; the image (if given) only sets the
        /// coordinate frame. Without an image, boxes are in model input pixels (S×S).
        private func embed(with predictor: SamPredictor) throws -> SamPredictor.ImageEmbedding {
            let picture = try image.map { try RGBImage(contentsOf: URL(fileURLWithPath: $0)) }
            guard let pixels else { return predictor.setImage(picture!) }  // validate() asked for one of the two
            let size = predictor.model.imageEncoder.imageSize
            let stored = try NPY.read(URL(fileURLWithPath: pixels))
            let tensor = stored.rank == 4 && stored.shape[0] == 1 ? stored.reshaped(Array(stored.shape.dropFirst())) : stored
            guard tensor.shape == [3, size, size] else {
                throw SAMError.badInput(what: pixels, reason: "pixels have shape \(stored.shape), expected [3, \(size), \(size)]")
            }
            let original = picture.map { ($0.height, $0.width) } ?? (size, size)
            let input = picture.map { predictor.transform.preprocessShape(height: $0.height, width: $0.width) } ?? (size, size)
            return predictor.embed(pixels: tensor, inputSize: input, originalSize: original)
        }

        /// For B boxes and the `outputs` asked for (one, or SAM's three with --multimask):
        /// mask_<box>.png or mask_<box>_<k>.png (k = 1…3), mask_tokens.npy [B, outputs, E], iou.npy
        /// [B, outputs], image_embedding.npy [E, g, g]. Mask k's token is the decoder's mask token k.
        private func write(_ p: SamPredictor.Prediction, outputs: Range<Int>, embedding: Tensor, to directory: URL) throws {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for (i, mask) in p.masks.enumerated() {
                let name = outputs.count == 1 ? "mask_\(i).png" : "mask_\(i / outputs.count)_\(i % outputs.count + 1).png"
                try GrayImage(mask: mask.pixels, width: mask.width, height: mask.height).write(to: directory.appendingPathComponent(name))
            }
            try NPY.write(p.maskTokens.slice(axis: 1, range: outputs), to: directory.appendingPathComponent("mask_tokens.npy"))
            try NPY.write(p.iouPredictions.slice(axis: 1, range: outputs), to: directory.appendingPathComponent("iou.npy"))
            try NPY.write(embedding, to: directory.appendingPathComponent("image_embedding.npy"))
        }

        /// --everything: every mask the generator keeps, as PNGs and masks.json.
        private func segmentEverything(with predictor: SamPredictor) throws {
            let generator = try AutomaticMaskGenerator(predictor: predictor, options: self.generator.options)
            let picture = try RGBImage(contentsOf: URL(fileURLWithPath: image!))
            let start = Date()
            let masks = threads.run { generator.generate(picture) }
            let seconds = Date().timeIntervalSince(start)
            let directory = URL(fileURLWithPath: out)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            if !noPNG {
                for (i, mask) in masks.enumerated() {
                    let binary = BinaryMask(mask.segmentation)!  // encoded by us at the image's size
                    try GrayImage(mask: binary.pixels, width: binary.width, height: binary.height)
                        .write(to: directory.appendingPathComponent("mask_\(i).png"))
                }
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            // An empty mask's stability is 0/0 (NaN), as in segment-anything, and survives when
            // --stability-score-thresh is 0. JSON has no NaN: it is written as the string "NaN".
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
            try encoder.encode(masks.map(GeneratedMaskRecord.init)).write(to: directory.appendingPathComponent("masks.json"))
            print("\(masks.count) masks in \(String(format: "%.2f", seconds)) s → \(directory.path)")
        }
    }
}

/// One record of masks.json, with segment-anything's field names (`output_mode="coco_rle"`).
struct GeneratedMaskRecord: Codable {
    struct Segmentation: Codable {
        var size: [Int]
        var counts: String
    }

    var segmentation: Segmentation
    var area: Int
    var bbox: [Int]
    var predictedIou: Double
    var pointCoords: [[Double]]
    var stabilityScore: Double
    var cropBox: [Int]

    enum CodingKeys: String, CodingKey {
        case segmentation, area, bbox
        case predictedIou = "predicted_iou", pointCoords = "point_coords", stabilityScore = "stability_score", cropBox = "crop_box"
    }

    init(_ mask: GeneratedMask) {
        segmentation = Segmentation(size: [mask.segmentation.height, mask.segmentation.width],
                                    counts: mask.segmentation.compressedString)
        area = mask.area
        bbox = mask.box.xywh
        predictedIou = Double(mask.predictedIoU)
        pointCoords = [[mask.point.x, mask.point.y]]
        stabilityScore = Double(mask.stabilityScore)
        cropBox = mask.cropBox.xywh
    }
}
