import ArgumentParser
import Evaluation
import Foundation

extension IoUType: ExpressibleByArgument {}
extension DatasetFormat: ExpressibleByArgument {}

extension RegionSpotCommand {
    struct Eval: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "LVIS or COCO box/mask AP of a results file, identical to lvis-api and pycocotools.")

        @Option(help: "Ground-truth annotations (LVIS v1 or COCO JSON).")
        var gt: String
        @Option(help: "Detections: a JSON list of {image_id, category_id, bbox, score, segmentation?}.")
        var dt: String
        @Option(help: "bbox or segm.")
        var iouType: IoUType = .bbox
        @Option(help: "lvis (lvis-api rules) or coco (pycocotools rules).")
        var format: DatasetFormat = .lvis
        @Option(help: "Write the metrics to this JSON file.")
        var json: String?
        @Flag(help: "Print (and write with --json) the AP of every category.")
        var perCategory = false
        @Option(help: "Write precision/recall curves as PNG into this directory.")
        var plot: String?

        func run() throws {
            let evaluation = try Evaluation(groundTruth: gt, detections: dt, iouType: iouType, format: format)
            for note in evaluation.droppedSummary { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
            print(evaluation.summaryTable)
            if perCategory { print(evaluation.perCategoryTable) }
            if let json { try evaluation.jsonReport(perCategory: perCategory).write(to: URL(fileURLWithPath: json)) }
            if let plot { try PrecisionRecallPlot.write(evaluation, to: URL(fileURLWithPath: plot)) }
        }
    }
}
