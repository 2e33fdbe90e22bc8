// Non-maximum suppression as segment-anything calls it: torchvision's `batched_nms` with a single
// category, whose CPU kernel (`nms_kernel.cpp`) this follows in float32.

enum BoxNMS {
    /// Indices of the boxes kept, best score first. Boxes are suppressed by an earlier kept box
    /// whose IoU with them exceeds `threshold`; scores are sorted stably, so equal scores keep
    /// index order. (Above 1,000 boxes torchvision orders the kept boxes with an unstable sort
    /// instead, so there the reference's order among exactly equal scores is unspecified; the
    /// set kept is the same.)
    static func keep(boxes: [MaskBox], scores: [Float], threshold: Double) -> [Int] {
        precondition(boxes.count == scores.count, "NMS: \(boxes.count) boxes but \(scores.count) scores")
        let corners = boxes.map { (Float($0.x0), Float($0.y0), Float($0.x1), Float($0.y1)) }
        let areas = corners.map { ($0.2 - $0.0) * ($0.3 - $0.1) }
        let order = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
        var suppressed = [Bool](repeating: false, count: boxes.count)
        var kept: [Int] = []
        for (position, i) in order.enumerated() where !suppressed[i] {
            kept.append(i)
            let a = corners[i]
            for j in order[(position + 1)...] where !suppressed[j] {
                let b = corners[j]
                let w = max(0, min(a.2, b.2) - max(a.0, b.0)), h = max(0, min(a.3, b.3) - max(a.1, b.1))
                let intersection = w * h
                let iou = intersection / (areas[i] + areas[j] - intersection)
                if Double(iou) > threshold { suppressed[j] = true }
            }
        }
        return kept
    }
}
