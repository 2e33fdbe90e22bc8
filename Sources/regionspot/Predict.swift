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
        @OptionGroup var recognition: RecognitionOptions
        @Option(help: "Write a picture of the boxes, labels, scores and masks here (.png or .jpg).")
        var visualize: String?
        @Flag(help: "Include per-stage timings in the JSON.")
        var timings = false

        func validate() throws {
            try recognition.check()
        }

        func run() throws {
            let vocabulary = try recognition.vocabulary()
            let request = try recognition.boxesFile()
            let picture = try RGBImage(contentsOf: URL(fileURLWithPath: image))
            let recognizer = try makeRecognizer(model, threads, cache)
            let result = try recognizer.recognize(image: picture, boxes: request.boxes, boxScores: request.scores,
                                                  vocabulary: vocabulary, topK: recognition.topK, masks: recognition.masks || visualize != nil)
            if let visualize {
                try Visualization.draw(result, vocabulary: vocabulary, on: picture).write(to: URL(fileURLWithPath: visualize))
            }
            var output = PredictionOutput(image: image, width: picture.width, height: picture.height, recognition: result,
                                          vocabulary: vocabulary, includeTimings: timings)
            if !recognition.masks { output.regions.indices.forEach { output.regions[$0].mask = nil } }
            print(String(decoding: try output.json(), as: UTF8.self))
        }
    }
}
