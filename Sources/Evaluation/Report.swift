import Foundation
import Tensors

/// What `regionspot eval` prints and writes.
extension Evaluation {
    /// The summary lines in the reference's own layout (lvis-api `print_results`, or
    /// pycocotools `summarize`).
    public var summaryTable: String {
        let iouRange = "0.50:0.95"
        return metrics.map { key, value in
            let ap = key.hasPrefix("AP")
            let title = ap ? "Average Precision" : "Average Recall"
            let type = ap ? "(AP)" : "(AR)"
            let third = key.dropFirst(2).first
            let iou = key == "AP50" ? "0.50" : key == "AP75" ? "0.75" : iouRange
            let area = third.flatMap { ["s": "small", "m": "medium", "l": "large"][String($0)] } ?? "all"
            if groundTruth.format == .lvis {
                let group = third.map(String.init).flatMap { ["r", "c", "f"].contains($0) ? $0 : nil } ?? "all"
                let shortArea = area == "all" ? "all" : String(area.prefix(1))
                return " \(pad(title, 18)) \(type) @[ IoU=\(pad(iou, 9)) | area=\(leftPad(shortArea, 6)) | maxDets=300 catIds=\(leftPad(group, 3))] = \(format(value))"
            }
            let maxDets = key == "AR1" ? 1 : key == "AR10" ? 10 : 100
            return " \(pad(title, 18)) \(type) @[ IoU=\(pad(iou, 9)) | area=\(leftPad(area, 6)) | maxDets=\(leftPad(String(maxDets), 3)) ] = \(format(value))"
        }.joined(separator: "\n")
    }

    /// Per-category AP lines: id, frequency group, AP, name.
    public var perCategoryTable: String {
        var lines = ["category_id  group  AP      name"]
        for (category, ap) in perCategory {
            let group = category.frequency?.rawValue ?? "-"
            lines.append("\(leftPad(String(category.id), 11))  \(pad(group, 5))  \(ap < 0 ? "  -   " : format(ap, digits: 4))  \(category.name)")
        }
        return lines.joined(separator: "\n")
    }

    /// Notes on records left out the way the reference leaves them out.
    public var droppedSummary: [String] {
        let d = result.dropped
        var notes: [String] = []
        func note(_ n: Int, _ text: String) { if n > 0 { notes.append("\(n) \(text)") } }
        note(d.detectionsOverImageCap, "detections beyond the 300 best of their image were dropped")
        note(d.detectionsUnknownCategory, "detections of categories the ground truth lacks were dropped")
        note(d.detectionsZeroArea, "detections with zero area were dropped")
        note(d.detectionsNotFederated, "detections of categories neither annotated nor negative in their image were not evaluated")
        note(d.groundTruthZeroArea, "ground-truth annotations with zero area were dropped")
        note(d.groundTruthUnknownImageOrCategory, "ground-truth annotations on unlisted images or categories were dropped")
        return notes
    }

    /// The metrics as a JSON object under the reference's keys; per category when asked.
    public func jsonReport(perCategory includeCategories: Bool) throws -> Data {
        var fields = metrics.map { "  \(jsonQuoted($0.key)): \(number($0.value))" }
        if includeCategories {
            let rows = perCategory.map { category, ap in
                "    {\"id\": \(category.id), \"name\": \(jsonQuoted(category.name)), "
                    + "\"frequency\": \(category.frequency.map { jsonQuoted($0.rawValue) } ?? "null"), \"AP\": \(number(ap))}"
            }
            fields.append("  \"per_category\": [\n" + rows.joined(separator: ",\n") + "\n  ]")
        }
        return Data(("{\n" + fields.joined(separator: ",\n") + "\n}\n").utf8)
    }
}

private func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
private func leftPad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
private func format(_ v: Double, digits: Int = 3) -> String { String(format: "%.\(digits)f", v) }
/// Shortest text that reads back as the same double.
private func number(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? String(format: "%.1f", v) : "\(v)" }

