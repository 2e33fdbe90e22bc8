import ArgumentParser
import Foundation
import Imaging
import RegionSpot

extension RegionSpotCommand {
    struct Predict: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Name what is in each box of an image, from a vocabulary given now; prints JSON.",
            discussion: "With --dataset, every image of an LVIS/COCO dataset is recognized into one results file for "
                + "`regionspot eval`, as RegionSpot evaluates: the boxes are --proposals (score: box score × class "
                + "probability, the image's 900 best pairs) or the annotations (--gt-boxes; score: the probability), the "
                + "vocabulary is the dataset's categories unless --vocab-file gives one name per category. Both encoders "
                + "work at once (one image's SAM beside another's CLIP), --threads split between them. A bad image is "
                + "reported and skipped (exit status 1 at the end); --resume continues a killed run.")

        @OptionGroup var model: ModelOptions
        @OptionGroup var threads: ThreadOptions
        @OptionGroup var cache: CacheOptions
        @Argument(help: "The image (JPEG, PNG, ...); none with --dataset.")
        var image: String?
        @OptionGroup var dataset: DatasetOptions
        @OptionGroup var recognition: RecognitionOptions
        @Option(help: "Write a picture of the boxes, labels, scores and masks here (.png or .jpg).")
        var visualize: String?
        @Flag(help: "Include per-stage timings in the JSON.")
        var timings = false

        func validate() throws {
            if dataset.dataset != nil {
                guard image == nil, recognition.boxes == nil, recognition.labels.vocab == nil, visualize == nil, !timings else {
                    throw ValidationError("--dataset takes no image, --boxes, --vocab, --visualize or --timings (--vocab-file: one name per category)")
                }
                try dataset.check()
            } else {
                guard image != nil else { throw ValidationError("give an image, or --dataset") }
                try recognition.check()
            }
        }

        func run() throws {
            guard let image else {
                return try dataset.run(recognizer: makeRecognizer(model, threads, cache), threads: threads.threads,
                                       vocabulary: recognition.labels.vocabulary(), masks: recognition.masks)
            }
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
