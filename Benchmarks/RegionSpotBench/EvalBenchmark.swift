import ArgumentParser
import Evaluation
import Foundation

/// `regionspot eval` end to end on one GT/results pair: wall time and peak resident memory,
/// printed in the same form as the lvis-api/pycocotools runner in Benchmarks/eval.sh.
struct EvalBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "eval", abstract: "LVIS/COCO evaluation wall time and peak memory.")

    @Option var gt: String
    @Option var dt: String
    @Option var iouType: String = "bbox"
    @Option var format: String = "lvis"
    @Option(help: "Also write the metrics here (eval.sh compares them with the reference's).") var json: String?

    func run() throws {
        guard let iouType = IoUType(rawValue: iouType), let format = DatasetFormat(rawValue: format) else {
            throw ValidationError("--iou-type is bbox|segm and --format lvis|coco")
        }
        let start = Date()
        let groundTruth = try GroundTruth(contentsOf: gt, format: format, iouType: iouType)
        let loadedGT = Date()
        let detections = try Detections(contentsOf: dt, groundTruth: groundTruth, iouType: iouType)
        let loadedDT = Date()
        let evaluation = Evaluation(groundTruth: groundTruth, detections: detections, iouType: iouType)
        let end = Date()
        var usage = rusage()
        getrusage(RUSAGE_SELF_ID, &usage)
        let peakMB = Double(usage.ru_maxrss) / 1024 // kilobytes on Linux
        print(String(format: "ours: load gt %.2f s, load dt %.2f s, evaluate %.2f s", loadedGT.timeIntervalSince(start),
                     loadedDT.timeIntervalSince(loadedGT), end.timeIntervalSince(loadedDT)))
        // CPU seconds too: on a shared, loaded machine they compare more fairly than wall time.
        let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        print(String(format: "ours: wall %.2f s, cpu %.2f s, peak RSS %.0f MB, AP %.6f (%d detections, %d images)",
                     end.timeIntervalSince(start), cpu, peakMB, evaluation.metrics[0].value, detections.count, groundTruth.imageIDs.count))
        if let json { try evaluation.jsonReport(perCategory: false).write(to: URL(fileURLWithPath: json)) }
    }
}

#if canImport(Glibc)
import Glibc
private let RUSAGE_SELF_ID = __rusage_who_t(RUSAGE_SELF.rawValue)
#else
private let RUSAGE_SELF_ID = RUSAGE_SELF
#endif
