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
                + "that a detection's score is class probability × box_score, as with a detector's scores.\n\n"
                + "With --dataset, every image of an LVIS/COCO dataset is recognized into one results file for "
                + "`regionspot eval`, as RegionSpot evaluates: the boxes are --proposals FILE (score: box score × class "
                + "probability, the image's 900 best pairs), SAM's proposals (--proposals sam; box score: predicted IoU) "
                + "or the annotations (--gt-boxes; score: the probability), the "
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
        @Option(help: ArgumentHelp("Where the regions come from instead of --boxes: `sam` (SAM's automatic mask generator, "
                                   + "the default without --boxes), or with --dataset `sam` or a file of scored boxes.",
                                   discussion: "A results file [{image_id, bbox [x, y, w, h], score}], or RegionSpot's proposals "
                                       + "{\"<image_id>\": {boxes [[x0, y0, x1, y1]], scores}} (GLIP's nms_results_…_lvis_val.json)."))
        var proposals: String?
        @OptionGroup(title: "Automatic mask generator (with --proposals sam, or without --boxes)") var generator: MaskGeneratorOptions
        @Flag(help: "Include per-stage timings in the JSON.")
        var timings = false

        func validate() throws {
            if dataset.dataset != nil {
                guard image == nil, recognition.boxes == nil, recognition.labels.vocab == nil, recognition.visualize == nil,
                      !recognition.text, !timings else {
                    throw ValidationError("--dataset takes no image, --boxes, --vocab, --visualize, --text or --timings (--vocab-file: one name per category)")
                }
                try dataset.check(proposals: proposals)
            } else {
                guard image != nil else { throw ValidationError("give an image, or --dataset") }
                try recognition.check(boxesRequired: false)
                if let proposals {
                    guard proposals == ProposalSource.sam.rawValue else {
                        throw ValidationError("--proposals for one image is `sam`; a file of scored boxes goes with --dataset")
                    }
                    guard recognition.boxes == nil else { throw ValidationError("give --boxes or --proposals, not both") }
                }
            }
        }

        func run() throws {
            guard let image else {
                return try dataset.run(recognizer: makeRecognizer(model, threads, cache), proposals: proposals, generator: generator.options,
                                       threads: threads.threads, vocabulary: recognition.labels.vocabulary(), masks: recognition.masks)
            }
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
                                                  masks: recognition.masks || recognition.visualize != nil)
            let output = PredictionOutput(image: image, width: picture.width, height: picture.height, recognition: result,
                                          vocabulary: vocabulary, includeTimings: timings)
            try recognition.show(output, result, vocabulary: vocabulary, picture: picture)
        }
    }
}

/// Region proposals a command can use instead of given boxes.
enum ProposalSource: String, ExpressibleByArgument, CaseIterable {
    /// SAM's automatic mask generator.
    case sam
}
