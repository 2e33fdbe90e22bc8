import ArgumentParser
import Foundation
import Imaging
import RegionSpot

extension RegionSpotCommand {
    struct Predict: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Name what is in each box of an image, from a vocabulary given now; prints JSON.")

        @OptionGroup var model: ModelOptions
        @OptionGroup var threads: ThreadOptions
        @OptionGroup var cache: CacheOptions
        @Argument(help: "The image (JPEG, PNG, ...).")
        var image: String
        @Option(help: "JSON file of boxes [x0, y0, x1, y1] in image pixels, optionally with detector scores.")
        var boxes: String
        @Option(help: "Comma-separated class names.")
        var vocab: String?
        @Option(help: "File of class names, one per line.")
        var vocabFile: String?
        @Option(help: "Labels to report per box.")
        var topK: Int = 5
        @Flag(help: "Also output each box's SAM mask (COCO compressed RLE).")
        var masks = false
        @Option(help: "Write a picture of the boxes, labels, scores and masks here (.png or .jpg).")
        var visualize: String?
        @Flag(help: "Include per-stage timings in the JSON.")
        var timings = false

        func validate() throws {
            guard (vocab == nil) != (vocabFile == nil) else { throw ValidationError("give exactly one of --vocab and --vocab-file") }
            guard topK >= 1 else { throw ValidationError("--top-k must be at least 1") }
        }

        func run() throws {
            let vocabulary = try vocab.map(VocabularyInput.parse(commaSeparated:)) ?? VocabularyInput.read(URL(fileURLWithPath: vocabFile!))
            let request = try BoxesFile(contentsOf: URL(fileURLWithPath: boxes))
            let picture = try RGBImage(contentsOf: URL(fileURLWithPath: image))
            let recognizer = try makeRecognizer(model, threads, cache)
            let result = try recognizer.recognize(image: picture, boxes: request.boxes, boxScores: request.scores,
                                                  vocabulary: vocabulary, topK: topK, masks: masks || visualize != nil)
            if let visualize {
                try Visualization.draw(result, vocabulary: vocabulary, on: picture).write(to: URL(fileURLWithPath: visualize))
            }
            var output = PredictionOutput(image: image, width: picture.width, height: picture.height, recognition: result,
                                          vocabulary: vocabulary, includeTimings: timings)
            if !masks { output.regions.indices.forEach { output.regions[$0].mask = nil } }
            print(String(decoding: try output.json(), as: UTF8.self))
        }
    }
}
