import ArgumentParser
import Batch
import Foundation
import RegionSpot
import SAM
import Tensors

/// `predict --dataset`: every image of a dataset into one results file (see `DatasetRecognition`).
struct DatasetOptions: ParsableArguments {
    @Option(help: "LVIS/COCO annotations: recognize every image of the dataset (with --images and --out).")
    var dataset: String?
    @Option(help: "Directory the dataset's file names (or LVIS coco_url tails, e.g. val2017/…) are relative to.")
    var images: String?
    @Flag(help: "Recognize the annotated boxes instead (RegionSpot's GT-box protocol).")
    var gtBoxes = false
    @Option(help: "The results file to write (for regionspot eval).")
    var out: String?
    @Flag(help: "Continue a run that was stopped: images already written are skipped.")
    var resume = false

    /// `proposals`: predict's --proposals, here `sam` or a file of scored boxes.
    func check(proposals: String?) throws {
        guard images != nil, out != nil else { throw ValidationError("--dataset needs --images and --out") }
        guard (proposals != nil) != gtBoxes else { throw ValidationError("--dataset needs one of --proposals FILE|sam and --gt-boxes") }
    }

    /// `generator`: SAM's automatic mask generator's options, used when `proposals` is `sam`.
    func run(recognizer: Recognizer, proposals: String?, generator: AutomaticMaskGenerator.Options, threads: Int,
             vocabulary: [String]?, masks: Bool) throws {
        let sam = proposals == ProposalSource.sam.rawValue
        let file = sam ? nil : proposals.map(URL.init(fileURLWithPath:))
        let prompts = try DatasetPrompts(annotations: URL(fileURLWithPath: dataset!), proposals: file)
        var options = DatasetRecognition.Options(images: URL(fileURLWithPath: images!), output: URL(fileURLWithPath: out!),
                                                 vocabulary: vocabulary ?? prompts.dataset.categories.map(\.name))
        options.masks = masks
        options.samProposals = sam ? generator : nil
        options.threads = threads
        let recognition = try DatasetRecognition(recognizer: recognizer, prompts: prompts, options: options)
        let display = DatasetProgress(total: prompts.imageCount)
        let summary = try recognition.run(resume: resume, progress: display.show)
        let standardError = FileHandle.standardError
        for failure in summary.failures { standardError.write(Data("failed: \(failure)\n".utf8)) }
        standardError.write(Data(("\(out!): \(summary.recognized) images recognized, \(summary.skipped) written before, "
            + "\(summary.failures.count) failed\(display.pace(threads: threads))\n").utf8))
        if !summary.failures.isEmpty {
            throw ExitCode(1)
        }
    }
}

/// The progress bar of a dataset run, and its pace: images/s and the cores its CPU time fills,
/// counted from the first report on (loading the model and the class embeddings come before).
private final class DatasetProgress: @unchecked Sendable {
    private let lock = NSLock()
    private let total: Int
    // Guarded by `lock`.
    private var bar: ProgressBar?
    private var cpuAtStart = 0.0
    private var last: (recognized: Int, seconds: Double, cpu: Double) = (0, 0, 0)

    init(total: Int) { self.total = total }

    func show(_ progress: DatasetRecognition.Progress) {
        lock.withLock {
            if bar == nil { (bar, cpuAtStart) = (ProgressBar(total: total), CPUTime.processSeconds()) }
            let seconds = bar!.elapsed, recognized = progress.done - progress.skipped
            last = (recognized, seconds, CPUTime.processSeconds() - cpuAtStart)
            bar!.update(progress.done, startedAt: progress.skipped,
                        String(format: "%.2f images/s, %d failed", Double(recognized) / max(seconds, 1e-9), progress.failed))
        }
    }

    func pace(threads: Int) -> String {
        lock.withLock {
            guard last.recognized > 0 else { return "" }
            return String(format: " (%.3f images/s, CPU %.2f cores, %d threads)", Double(last.recognized) / max(last.seconds, 1e-9),
                          last.cpu / max(last.seconds, 1e-9), threads)
        }
    }
}
