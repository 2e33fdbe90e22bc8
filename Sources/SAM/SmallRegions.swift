import Imaging

// Port of segment-anything's utils/amg.py remove_small_regions (the generator's
// min_mask_region_area), over OpenCV's connected components as the reference uses them.

enum SmallRegions {
    enum Mode { case holes, islands }

    /// Fills holes (`.holes`) or drops islands (`.islands`) of fewer than `minArea` pixels, with
    /// 8-connectivity; when every island is small, the largest (the first of equal ones) stays.
    /// Returns the mask and whether anything changed.
    static func remove(_ mask: BinaryMask, minArea: Int, mode: Mode) -> (mask: BinaryMask, changed: Bool) {
        let fillHoles = mode == .holes
        let working = fillHoles ? BinaryMask(width: mask.width, height: mask.height, pixels: mask.pixels.map { !$0 }) : mask
        let components = ConnectedComponents(working, connectivity: 8)
        let small = Set((1..<components.count).filter { components.areas[$0] < minArea })
        guard !small.isEmpty else { return (mask, false) }
        var fill = [Bool](repeating: false, count: components.count)
        if fillHoles {
            // Label 0 of the inverted mask is the mask itself; small holes join it.
            fill[0] = true
            for label in small { fill[label] = true }
        } else {
            var kept = (1..<components.count).filter { !small.contains($0) }
            if kept.isEmpty {
                let sizes = components.areas.dropFirst()  // indexed by label
                kept = [sizes.firstIndex(of: sizes.max()!)!]
            }
            for label in kept { fill[label] = true }
        }
        return (BinaryMask(width: mask.width, height: mask.height, pixels: components.labels.map { fill[Int($0)] }), true)
    }
}
