import Foundation
import Testing
@testable import Evaluation

/// Bad files fail naming the file, the record and the field; records the references drop
/// silently are dropped and counted.
private let groundTruth = """
{"images": [{"id": 1, "height": 100, "width": 100, "neg_category_ids": [2], "not_exhaustive_category_ids": []},
            {"id": 2, "height": 100, "width": 100, "neg_category_ids": [], "not_exhaustive_category_ids": []}],
 "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 400},
                 {"id": 2, "image_id": 2, "category_id": 1, "bbox": [10, 10, 0, 20], "area": 0}],
 "categories": [{"id": 1, "name": "a", "frequency": "f"}, {"id": 2, "name": "b", "frequency": "r"},
                {"id": 3, "name": "c", "frequency": "c"}]}
"""

private func write(_ text: String, _ name: String) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("eval-\(UUID().uuidString)-\(name)")
    try Data(text.utf8).write(to: url)
    return url.path
}

private func evaluate(_ detections: String) throws -> Evaluation {
    try Evaluation(groundTruth: write(groundTruth, "gt.json"), detections: write(detections, "dt.json"),
                   iouType: .bbox, format: .lvis)
}

private func failure(_ detections: String) -> EvaluationError? {
    do {
        _ = try evaluate(detections)
        return nil
    } catch let error as EvaluationError {
        return error
    } catch {
        return nil
    }
}

@Test func malformedJSONNamesLineAndColumn() {
    let error = failure("[{\"image_id\": 1,\n \"category_id\": 1 \"score\": 1}]")
    guard case let .malformedJSON(file, line, column, _)? = error else { Issue.record("got \(String(describing: error))"); return }
    #expect(file.hasSuffix("dt.json"))
    #expect(line == 2 && column == 19)
}

@Test func badRecordsNameTheirIndexAndField() {
    let good = "{\"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 1, 5, 5], \"score\": 0.5}"
    let cases: [(String, String)] = [
        ("{\"image_id\": 7, \"category_id\": 1, \"bbox\": [1, 1, 5, 5], \"score\": 0.5}", "image_id"),
        ("{\"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 1, 5], \"score\": 0.5}", "bbox"),
        ("{\"image_id\": 1, \"category_id\": 1, \"bbox\": [1, NaN, 5, 5], \"score\": 0.5}", "bbox"),
        ("{\"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 1, -5, 5], \"score\": 0.5}", "bbox"),
        ("{\"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 1, 5, 5], \"score\": NaN}", "score"),
        ("{\"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 1, 5, 5]}", "score"),
        ("{\"image_id\": 1.5, \"category_id\": 1, \"bbox\": [1, 1, 5, 5], \"score\": 0.5}", "image_id"),
    ]
    for (bad, field) in cases {
        let error = failure("[\(good), \(good), \(bad)]")
        guard case let .invalidRecord(file, record, reportedField, _)? = error else {
            Issue.record("\(bad): got \(String(describing: error))")
            continue
        }
        #expect(file.hasSuffix("dt.json"))
        #expect(record == "[2]", "\(bad)")
        #expect(reportedField == field, "\(bad)")
        #expect(error!.description.contains("[2].\(field)"))
    }
}

@Test func silentlyDroppedRecordsAreCounted() throws {
    var records: [String] = []
    records.append("{\"image_id\": 1, \"category_id\": 1, \"bbox\": [10, 10, 20, 20], \"score\": 0.9}")
    records.append("{\"image_id\": 1, \"category_id\": 99, \"bbox\": [10, 10, 20, 20], \"score\": 0.8}") // unknown category
    records.append("{\"image_id\": 1, \"category_id\": 1, \"bbox\": [10, 10, 0, 20], \"score\": 0.8}") // zero area
    records.append("{\"image_id\": 1, \"category_id\": 3, \"bbox\": [10, 10, 20, 20], \"score\": 0.8}") // neither GT nor negative
    records.append("{\"image_id\": 1, \"category_id\": 2, \"bbox\": [10, 10, 20, 20], \"score\": 0.8}") // negative: a false positive
    for i in 0..<305 { // image 2 over the cap by 5; the lowest scores go
        records.append("{\"image_id\": 2, \"category_id\": 1, \"bbox\": [10, 10, 20, 20], \"score\": \(Double(i) / 1000)}")
    }
    let evaluation = try evaluate("[" + records.joined(separator: ",") + "]")
    let dropped = evaluation.result.dropped
    #expect(dropped.detectionsUnknownCategory == 1)
    #expect(dropped.detectionsZeroArea == 1)
    #expect(dropped.detectionsNotFederated == 1 + 300) // image 2 has no (positive-area) GT of category 1
    #expect(dropped.detectionsOverImageCap == 5)
    #expect(dropped.groundTruthZeroArea == 1)
    #expect(evaluation.droppedSummary.count == 5)
    // Category 1 is matched perfectly; category 2 has no GT, so AP is category 1's alone.
    #expect(abs(evaluation.metrics.first { $0.key == "AP" }!.value - 1) < 1e-12)
    #expect(evaluation.metrics.first { $0.key == "APr" }!.value == -1)
}

@Test func groundTruthProblemsNameTheRecord() throws {
    let dt = try write("[]", "dt.json")
    let noFrequency = groundTruth.replacingOccurrences(of: "\"frequency\": \"c\"", with: "\"frequency\": \"x\"")
    do {
        _ = try Evaluation(groundTruth: write(noFrequency, "gt.json"), detections: dt, iouType: .bbox, format: .lvis)
        Issue.record("accepted a bad frequency")
    } catch let error as EvaluationError {
        #expect(error == .invalidRecord(file: (error.fileName), record: "categories[2]", field: "frequency",
                                        reason: "an LVIS category needs frequency \"r\", \"c\" or \"f\""))
    }
    let duplicate = groundTruth.replacingOccurrences(of: "{\"id\": 2, \"image_id\": 2", with: "{\"id\": 1, \"image_id\": 2")
    #expect(throws: EvaluationError.self) {
        _ = try Evaluation(groundTruth: write(duplicate, "gt.json"), detections: dt, iouType: .bbox, format: .lvis)
    }
}

@Test func emptyResultsScoreZero() throws {
    let evaluation = try evaluate("[]")
    #expect(evaluation.metrics.first { $0.key == "AP" }!.value == 0)
}

extension EvaluationError {
    var fileName: String {
        switch self {
        case let .unreadable(file, _), let .malformedJSON(file, _, _, _), let .invalidRecord(file, _, _, _): return file
        case .invalidArgument: return ""
        }
    }
}
