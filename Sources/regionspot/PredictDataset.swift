import ArgumentParser
import Batch
import Foundation
import RegionSpot

/// `predict --dataset`: every image of a dataset into one results file (see `DatasetRecognition`).
struct DatasetOptions: ParsableArguments {
    @Option(help: "LVIS/COCO annotations: recognize every image of the dataset (with --images and --out).")
    var dataset: String?
    @Option(help: "Directory the dataset's file names (or LVIS coco_url tails, e.g. val2017/…) are relative to.")
    var images: String?
    @Option(help: ArgumentHelp("Scored boxes to recognize.",
                               discussion: "A results file [{image_id, bbox [x, y, w, h], score}], or RegionSpot's proposals "
                                   + "{\"<image_id>\": {boxes [[x0, y0, x1, y1]], scores}} (GLIP's nms_results_…_lvis_val.json)."))
    var proposals: String?
    @Flag(help: "Recognize the annotated boxes instead (RegionSpot's GT-box protocol).")
    var gtBoxes = false
    @Option(help: "The results file to write (for regionspot eval).")
    var out: String?
    @Flag(help: "Continue a run that was stopped: images already written are skipped.")
    var resume = false

    func check() throws {
        guard images != nil, out != nil else { throw ValidationError("--dataset needs --images and --out") }
        guard (proposals != nil) != gtBoxes else { throw ValidationError("--dataset needs one of --proposals and --gt-boxes") }
    }

    func run(recognizer: Recognizer, threads: Int, vocabulary: [String]?, masks: Bool) throws {
        let prompts = try DatasetPrompts(annotations: URL(fileURLWithPath: dataset!), proposals: proposals.map(URL.init(fileURLWithPath:)))
        var options = DatasetRecognition.Options(images: URL(fileURLWithPath: images!), output: URL(fileURLWithPath: out!),
                                                 vocabulary: vocabulary ?? prompts.dataset.categories.map(\.name))
        options.masks = masks
        options.threads = threads
        let recognition = try DatasetRecognition(recognizer: recognizer, prompts: prompts, options: options)
        let bar = ProgressBar(total: prompts.imageCount)
        let lock = NSLock()
        let summary = try recognition.run(resume: resume) { progress in
            lock.withLock {
                let rate = Double(progress.done - progress.skipped) / max(bar.elapsed, 1e-9)
                bar.update(progress.done, startedAt: progress.skipped, String(format: "%.2f images/s, %d failed", rate, progress.failed))
            }
        }
        for failure in summary.failures { bar.write("failed: \(failure)\n") }
        bar.write("\(out!): \(summary.recognized) images recognized, \(summary.skipped) written before, \(summary.failures.count) failed\n")
        if !summary.failures.isEmpty {
            throw ExitCode(1)
        }
    }
}
