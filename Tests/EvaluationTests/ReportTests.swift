import Foundation
import Testing
@testable import Evaluation

private func fixtureEvaluation() throws -> Evaluation {
    try Evaluation(groundTruth: fixturesDirectory.appendingPathComponent("lvis_gt.json").path,
                   detections: fixturesDirectory.appendingPathComponent("lvis_dt_bbox.json").path,
                   iouType: .bbox, format: .lvis)
}

@Test func jsonReportUsesTheReferenceKeysAndReadsBackExactly() throws {
    let evaluation = try fixtureEvaluation()
    let data = try evaluation.jsonReport(perCategory: true)
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("eval-report-\(UUID().uuidString).json")
    try data.write(to: url)
    let json = try readFixture(url.path) as! [String: Any]
    for (key, value) in evaluation.metrics { #expect(json[key] as? Double == value, "\(key)") }
    #expect(Set(json.keys) == Set(LVISEval.metricKeys + ["per_category"]))
    let rows = json["per_category"] as! [[String: Any]]
    #expect(rows.count == evaluation.result.categories.count)
    #expect(rows.map { $0["AP"] as! Double } == evaluation.perCategory.map(\.ap))
    #expect(rows.allSatisfy { ["r", "c", "f"].contains($0["frequency"] as! String) })
    #expect(evaluation.summaryTable.split(separator: "\n").count == LVISEval.metricKeys.count)
    #expect(evaluation.summaryTable.contains("Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=300 catIds=  r] ="))
}

@Test func plotsAreWrittenPerFrequencyGroup() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("eval-plots-\(UUID().uuidString)")
    let files = try PrecisionRecallPlot.write(try fixtureEvaluation(), to: directory)
    #expect(files.map(\.lastPathComponent) == ["pr_all.png", "pr_rare.png", "pr_common.png", "pr_frequent.png"])
    for file in files {
        let bytes = try Data(contentsOf: file)
        #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]))
    }
}
