import ArgumentParser
import Foundation
import Imaging
import RegionSpot

extension RegionSpotCommand {
    struct Predict: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Name what is in each box of an image, from a vocabulary given now; prints JSON.",
            discussion: "Without --boxes (or with --proposals sam), the regions are the masks SAM's automatic mask "
                + "generator keeps (options as `segment --everything`), each with its predicted IoU as box_score, so "
                + "that a detection's score is class probability × box_score, as with a detector's scores.")

        @OptionGroup var model: ModelOptions
        @OptionGroup var threads: ThreadOptions
        @OptionGroup var cache: CacheOptions
        @Argument(help: "The image (JPEG, PNG, ...).")
        var image: String
        @OptionGroup var recognition: RecognitionOptions
        @Option(help: "Where regions come from without --boxes: sam (SAM's automatic mask generator).")
        var proposals: ProposalSource?
        @OptionGroup(title: "Automatic mask generator (without --boxes)") var generator: MaskGeneratorOptions
        @Option(help: "Write a picture of the boxes, labels, scores and masks here (.png or .jpg).")
        var visualize: String?
        @Flag(help: "Include per-stage timings in the JSON.")
        var timings = false

        func validate() throws {
            try recognition.check(boxesRequired: false)
            if recognition.boxes != nil && proposals != nil { throw ValidationError("give --boxes or --proposals, not both") }
        }

        func run() throws {
            let vocabulary = try recognition.vocabulary()
            let regions: Recognizer.Regions
            if recognition.boxes != nil {
                let request = try recognition.boxesFile()
                regions = .boxes(request.boxes, scores: request.scores)
            } else {
                regions = .proposals(generator.options)
            }
            let picture = try RGBImage(contentsOf: URL(fileURLWithPath: image))
            let recognizer = try makeRecognizer(model, threads, cache)
            let result = try recognizer.recognize(image: picture, regions: regions, vocabulary: vocabulary, topK: recognition.topK,
                                                  masks: recognition.masks || visualize != nil)
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

/// Region proposals a command can use instead of given boxes.
enum ProposalSource: String, ExpressibleByArgument, CaseIterable {
    /// SAM's automatic mask generator.
    case sam
}
