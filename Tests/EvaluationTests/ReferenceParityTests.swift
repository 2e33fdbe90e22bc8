import Foundation
import Testing
@testable import Evaluation

/// Every number lvis-api and pycocotools printed for the synthetic sets must come out the same.
struct Scenario: CustomTestStringConvertible, Sendable {
    let name: String, gt: String, dt: String, iouType: IoUType, format: DatasetFormat
    var testDescription: String { name }
}

let scenarios = [
    Scenario(name: "lvis_bbox", gt: "lvis_gt.json", dt: "lvis_dt_bbox.json", iouType: .bbox, format: .lvis),
    Scenario(name: "lvis_segm", gt: "lvis_gt.json", dt: "lvis_dt.json", iouType: .segm, format: .lvis),
    Scenario(name: "lvis_segm_nobox", gt: "lvis_gt.json", dt: "lvis_dt_nobox.json", iouType: .segm, format: .lvis),
    Scenario(name: "lvis_bbox_nobox", gt: "lvis_gt.json", dt: "lvis_dt_nobox.json", iouType: .bbox, format: .lvis),
    Scenario(name: "coco_bbox", gt: "coco_gt.json", dt: "coco_dt.json", iouType: .bbox, format: .coco),
    Scenario(name: "coco_segm", gt: "coco_gt.json", dt: "coco_dt.json", iouType: .segm, format: .coco),
]

@Test(arguments: scenarios)
func matchesReference(_ scenario: Scenario) throws {
    let all = try readFixture("expected.json") as! [String: Any]
    let expected = all[scenario.name] as! [String: Any]
    let evaluation = try Evaluation(groundTruth: fixturesDirectory.appendingPathComponent(scenario.gt).path,
                                    detections: fixturesDirectory.appendingPathComponent(scenario.dt).path,
                                    iouType: scenario.iouType, format: scenario.format)
    let metrics = expected["metrics"] as! [String: Any]
    let keys = scenario.format == .lvis ? LVISEval.metricKeys : COCOeval.metricKeys
    #expect(evaluation.metrics.map(\.key) == keys)
    #expect(Set(metrics.keys) == Set(keys))
    for (key, value) in evaluation.metrics {
        let reference = metrics[key] as! Double
        #expect(abs(value - reference) <= 1e-12, "\(scenario.name) \(key): \(value) vs \(reference)")
    }
    let result = evaluation.result
    #expect(result.categories.map(\.id) == (expected["category_ids"] as! [Any]).map(int))
    let recall = doubles(expected["recall"])
    #expect(recall.count == result.recall.count)
    let recallErrors = zip(recall, result.recall).filter { abs($0 - $1) > 1e-12 }.count
    #expect(recallErrors == 0, "\(scenario.name): \(recallErrors) recall entries differ")
    // AP per category and area range (and maxDet for COCO).
    let table = expected["category_area_ap"] as! [[Any]]
    var apErrors: [String] = []
    for k in result.categories.indices {
        for a in 0..<4 {
            let references: [Double] = scenario.format == .lvis ? [table[k][a] as! Double] : doubles(table[k][a])
            for (m, reference) in references.enumerated() {
                let ours = result.summarize(precision: true, area: a, maxDet: result.maxDets[m], categories: [k])
                if abs(ours - reference) > 1e-12 { apErrors.append("k\(k) a\(a) m\(m): \(ours) vs \(reference)") }
            }
        }
    }
    #expect(apErrors.isEmpty, "\(scenario.name): \(apErrors.prefix(5))")
}
