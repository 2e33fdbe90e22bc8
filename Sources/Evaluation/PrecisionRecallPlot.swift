import Foundation
import Imaging

/// Precision/recall curves as PNG: one chart overall and one per LVIS frequency group, each
/// with the curves at IoU 0.50, 0.75 and the mean over 0.50:0.95 (interpolated precision
/// averaged over the categories that have ground truth).
public enum PrecisionRecallPlot {
    static let size = (width: 640, height: 480)
    static let margin = (left: 60, right: 20, top: 40, bottom: 50)
    static let curves: [(label: String, iou: Double?, color: RGB)] = [
        ("IoU=0.50", 0.50, RGB(31, 119, 180)),
        ("IoU=0.75", 0.75, RGB(255, 127, 14)),
        ("IoU=0.50:0.95", nil, RGB(44, 160, 44)),
    ]

    /// Writes pr_all.png (and pr_rare/common/frequent.png for LVIS) into `directory`;
    /// returns the files written.
    @discardableResult
    public static func write(_ evaluation: Evaluation, to directory: URL) throws -> [URL] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let result = evaluation.result
        var charts: [(name: String, title: String, categories: [Int]?)] = [("all", "all categories", nil)]
        if evaluation.groundTruth.format == .lvis {
            for frequency in Frequency.allCases {
                let members = result.categories.indices.filter { result.categories[$0].frequency == frequency }
                charts.append((frequency.name, "\(frequency.name) categories", members))
            }
        }
        var written: [URL] = []
        for chart in charts {
            let image = render(result, title: "Precision/recall, \(chart.title) (\(result.iouType.rawValue))", categories: chart.categories)
            let url = directory.appendingPathComponent("pr_\(chart.name).png")
            try image.write(to: url, format: .png)
            written.append(url)
        }
        return written
    }

    static func render(_ result: EvaluationResult, title: String, categories: [Int]?) -> RGBImage {
        var image = RGBImage(width: size.width, height: size.height, color: RGB(255, 255, 255))
        let plotW = size.width - margin.left - margin.right, plotH = size.height - margin.top - margin.bottom
        func px(_ recall: Double) -> Int { margin.left + Int((recall * Double(plotW)).rounded()) }
        func py(_ precision: Double) -> Int { margin.top + plotH - Int((precision * Double(plotH)).rounded()) }
        // Grid and axes with tick labels every 0.2.
        for i in 0...10 {
            let v = Double(i) / 10
            let grid = RGB(225, 225, 225)
            image.fillRectangle(x0: px(v), y0: margin.top, x1: px(v), y1: margin.top + plotH, color: grid)
            image.fillRectangle(x0: margin.left, y0: py(v), x1: margin.left + plotW, y1: py(v), color: grid)
            if i % 2 == 0 {
                let text = String(format: "%.1f", v)
                image.drawLabel(text, x: px(v) - 12, y: margin.top + plotH + 4, color: RGB(0, 0, 0), background: RGB(255, 255, 255), scale: 0.4)
                image.drawLabel(text, x: margin.left - 34, y: py(v) - 8, color: RGB(0, 0, 0), background: RGB(255, 255, 255), scale: 0.4)
            }
        }
        image.drawRectangle(x0: margin.left, y0: margin.top, x1: margin.left + plotW, y1: margin.top + plotH, color: RGB(0, 0, 0), thickness: 1)
        image.drawLabel("recall", x: margin.left + plotW / 2 - 20, y: size.height - 22, color: RGB(0, 0, 0), background: RGB(255, 255, 255), scale: 0.45)
        image.drawLabel("precision", x: 2, y: margin.top - 22, color: RGB(0, 0, 0), background: RGB(255, 255, 255), scale: 0.45)
        image.drawLabel(title, x: margin.left + 60, y: 6, color: RGB(0, 0, 0), background: RGB(255, 255, 255), scale: 0.5)
        let recalls = EvaluationParams.recallThresholds
        for (n, curve) in curves.enumerated() {
            let values = result.precisionCurve(categories: categories, iou: curve.iou)
            var previous: (Int, Int)? = nil
            for (r, value) in values.enumerated() {
                guard let value else { previous = nil; continue }
                let point = (px(recalls[r]), py(value))
                if let (x0, y0) = previous {
                    // A 2-pixel line as a run of small squares.
                    let steps = max(abs(point.0 - x0), abs(point.1 - y0), 1)
                    for s in 0...steps {
                        let x = x0 + (point.0 - x0) * s / steps, y = y0 + (point.1 - y0) * s / steps
                        image.fillRectangle(x0: x, y0: y, x1: x + 1, y1: y + 1, color: curve.color)
                    }
                }
                previous = point
            }
            // Legend entry with the curve's AP.
            let ap = result.summarize(precision: true, iou: curve.iou, categories: categories)
            let legend = "\(curve.label)  AP=" + (ap < 0 ? "-" : String(format: "%.3f", ap))
            let y = margin.top + 10 + 20 * n
            image.fillRectangle(x0: size.width - 230, y0: y + 5, x1: size.width - 212, y1: y + 8, color: curve.color)
            image.drawLabel(legend, x: size.width - 206, y: y - 2, color: RGB(0, 0, 0), background: RGB(255, 255, 255), scale: 0.4)
        }
        return image
    }
}
