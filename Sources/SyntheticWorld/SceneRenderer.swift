import Foundation
import Imaging

/// One annotated object of a rendered scene: its visible pixels (later objects occlude earlier ones).
struct VisibleObject: Sendable {
    /// Catalogue index.
    let category: Int
    /// Tight box of the visible mask, [x, y, width, height] in pixels.
    let box: [Int]
    /// Visible pixel count.
    let area: Int
    let mask: RLE
}

/// A rendered scene and what its annotation needs to know.
struct RenderedScene: Sendable {
    let image: RGBImage
    /// Annotated objects, in drawing order.
    let objects: [VisibleObject]
    /// Catalogue indices of every category drawn, annotated or not, sorted.
    let present: [Int]
    /// Categories with an instance too hidden to annotate (LVIS "not exhaustively annotated"), sorted.
    let partlyAnnotated: [Int]
}

/// Draws scenes: a background (gradient, split or faint checker, with noise), unlabelled
/// clutter (thin lines, specks), then the objects in order, each possibly occluding the ones
/// before. Plain Swift rasterisation at pixel centres into a Double buffer, quantised once.
struct SceneRenderer: Sendable {
    let width: Int
    let height: Int
    let catalogue: Catalogue

    /// An object is annotated when at least this fraction of its pixels (and `minimumVisiblePixels`) stay visible.
    static let minimumVisibleFraction = 0.3
    static let minimumVisiblePixels = 20

    /// Renders one scene with objects of `categories` (catalogue indices) drawn in that order.
    func render(_ categories: [Int], random: inout SplitMix64) -> RenderedScene {
        var canvas = [Double](repeating: 0, count: width * height * 3)
        paintBackground(&canvas, &random)
        paintClutter(&canvas, &random)
        var owner = [Int32](repeating: -1, count: width * height)
        var fullArea = [Int](repeating: 0, count: categories.count)
        for (index, category) in categories.enumerated() {
            fullArea[index] = paintObject(catalogue.categories[category], index: Int32(index), &canvas, &owner, &random)
        }
        let grain = random.uniform(0, 4)
        var pixels = [UInt8](repeating: 0, count: canvas.count)
        for i in canvas.indices {
            pixels[i] = UInt8(max(0, min(255, (canvas[i] + random.uniform(-grain, grain)).rounded())))
        }

        var objects: [VisibleObject] = []
        var partly = Set<Int>()
        for (index, category) in categories.enumerated() {
            if let object = visibleObject(index: Int32(index), category: category, owner: owner, fullArea: fullArea[index]) {
                objects.append(object)
            } else {
                partly.insert(category)
            }
        }
        return RenderedScene(image: RGBImage(width: width, height: height, pixels: pixels), objects: objects,
                             present: Set(categories).sorted(), partlyAnnotated: partly.sorted())
    }

    // MARK: - Background and clutter

    private func paintBackground(_ canvas: inout [Double], _ random: inout SplitMix64) {
        let first = backgroundColor(&random), second = backgroundColor(&random)
        let kind = random.index(below: 3)
        let angle = random.uniform(0, 2 * .pi)
        let (cx, cy) = (cos(angle), sin(angle))
        let diagonal = Double(width + height)
        let offset = random.uniform(-0.25, 0.25), softness = random.uniform(0.01, 0.15)
        let cell = random.uniform(14, 40), contrast = random.uniform(6, 22)
        let noise = random.uniform(0, 14)
        for y in 0..<height {
            for x in 0..<width {
                let along = ((Double(x) - Double(width) / 2) * cx + (Double(y) - Double(height) / 2) * cy) / diagonal
                var t: Double
                var lift = 0.0
                switch kind {
                case 0: t = along + 0.5
                case 1: t = 1 / (1 + exp(-(along - offset) / softness))
                default:
                    t = along + 0.5
                    lift = (Int((Double(x) / cell).rounded(.down)) + Int((Double(y) / cell).rounded(.down))) & 1 == 0 ? contrast : -contrast
                }
                let i = (y * width + x) * 3
                for c in 0..<3 {
                    canvas[i + c] = first[c] + (second[c] - first[c]) * t + lift + random.uniform(-noise, noise)
                }
            }
        }
    }

    /// A muted colour: random channels pulled towards their grey.
    private func backgroundColor(_ random: inout SplitMix64) -> [Double] {
        let rgb = (0..<3).map { _ in random.uniform(30, 225) }
        let grey = rgb.reduce(0, +) / 3, keep = random.uniform(0.2, 0.7)
        return rgb.map { grey + ($0 - grey) * keep }
    }

    private func paintClutter(_ canvas: inout [Double], _ random: inout SplitMix64) {
        let scale = Double(min(width, height))
        for _ in 0..<random.index(below: 11) {
            let color = (0..<3).map { _ in random.uniform(0, 255) }
            if random.chance(0.5) {
                // A thin line segment.
                let (x0, y0) = (random.uniform(0, Double(width)), random.uniform(0, Double(height)))
                let angle = random.uniform(0, 2 * .pi), length = random.uniform(0.1, 0.5) * scale
                let halfWidth = random.uniform(0.4, 1.1)
                let (dx, dy) = (cos(angle), sin(angle))
                forEachPixel(near: (x0 + dx * length / 2, y0 + dy * length / 2), radius: length / 2 + 2) { x, y in
                    let (px, py) = (x - x0, y - y0)
                    let t = px * dx + py * dy
                    return t >= 0 && t <= length && abs(px * dy - py * dx) <= halfWidth
                } paint: { i in for c in 0..<3 { canvas[i * 3 + c] = color[c] } }
            } else {
                // A speck.
                let (x0, y0) = (random.uniform(0, Double(width)), random.uniform(0, Double(height)))
                let radius = random.uniform(0.8, 2.5)
                forEachPixel(near: (x0, y0), radius: radius) { x, y in
                    (x - x0) * (x - x0) + (y - y0) * (y - y0) <= radius * radius
                } paint: { i in for c in 0..<3 { canvas[i * 3 + c] = color[c] } }
            }
        }
    }

    // MARK: - Objects

    /// Paints one object over the canvas and claims its pixels in `owner`; returns its in-image pixel count.
    private func paintObject(_ category: WorldCategory, index: Int32, _ canvas: inout [Double], _ owner: inout [Int32],
                             _ random: inout SplitMix64) -> Int {
        let radius = random.uniform(0.12, 0.28) * Double(min(width, height))
        let cx = random.uniform(radius * 0.5, Double(width) - radius * 0.5)
        let cy = random.uniform(radius * 0.5, Double(height) - radius * 0.5)
        let angle = random.uniform(0, 2 * .pi)
        let (cosA, sinA) = (cos(angle), sin(angle))
        let base = category.color.rgb, brightness = random.uniform(0.85, 1.1)
        let color = [base.0, base.1, base.2].map { $0 * brightness + random.uniform(-15, 15) }
        let shade = color.map { $0 * 0.4 }
        let period = random.uniform(4.5, 8), phase = random.uniform(0, 8)
        var area = 0
        forEachPixel(near: (cx, cy), radius: radius) { x, y in
            let (dx, dy) = ((x - cx) / radius, (y - cy) / radius)
            return contains(category.shape, u: dx * cosA + dy * sinA, v: -dx * sinA + dy * cosA)
        } paint: { i in
            let (x, y) = (Double(i % width) + 0.5, Double(i / width) + 0.5)
            // Pattern coordinates in pixels of the object's own frame, so textures turn with it.
            let (pu, pv) = ((x - cx) * cosA + (y - cy) * sinA + phase, -(x - cx) * sinA + (y - cy) * cosA + phase)
            let dark: Bool
            switch category.texture {
            case .plain: dark = false
            case .striped: dark = (pu / period - (pu / period).rounded(.down)) < 0.5
            case .dotted:
                let (qu, qv) = (pu - period * (pu / period).rounded(), pv - period * (pv / period).rounded())
                dark = qu * qu + qv * qv < 0.09 * period * period
            case .checkered:
                dark = (Int((pu / period).rounded(.down)) + Int((pv / period).rounded(.down))) & 1 == 0
            }
            // Light from above: a little darker towards the object's bottom.
            let light = 1.04 - 0.08 * ((y - cy) / radius + 1) / 2
            for c in 0..<3 { canvas[i * 3 + c] = (dark ? shade[c] : color[c]) * light }
            owner[i] = index
            area += 1
        }
        return area
    }

    /// Whether (u, v), in units of the object's radius in its own frame, lies inside `shape`.
    private func contains(_ shape: ObjectShape, u: Double, v: Double) -> Bool {
        let r2 = u * u + v * v
        switch shape {
        case .circle: return r2 <= 1
        case .square: return abs(u) <= 0.78 && abs(v) <= 0.78
        case .triangle: return insideRegularPolygon(sides: 3, u: u, v: v)
        case .hexagon: return insideRegularPolygon(sides: 6, u: u, v: v)
        case .star:
            guard r2 <= 1 else { return false }
            let sector = 2 * Double.pi / 5
            let a = atan2(v, u) + .pi / 2 + 4 * Double.pi
            let t = abs((a - sector * (a / sector).rounded(.down)) / sector - 0.5) * 2  // 1 at tips, 0 between
            return r2.squareRoot() <= 0.42 + 0.58 * (1 - t)
        case .cross: return (abs(u) <= 0.3 && abs(v) <= 0.92) || (abs(v) <= 0.3 && abs(u) <= 0.92)
        case .ring: return r2 <= 1 && r2 >= 0.3
        case .crescent: return r2 <= 1 && (u - 0.45) * (u - 0.45) + v * v > 0.56
        }
    }

    /// A regular polygon of circumradius 1 with a vertex at the top.
    private func insideRegularPolygon(sides: Int, u: Double, v: Double) -> Bool {
        let apothem = cos(Double.pi / Double(sides))
        for k in 0..<sides {
            let normal = Double.pi / 2 + Double.pi / Double(sides) + 2 * Double.pi * Double(k) / Double(sides)
            if u * cos(normal) - v * sin(normal) > apothem { return false }
        }
        return true
    }

    /// Calls `paint` with the pixel index of every pixel near (x, y) whose centre passes `inside`.
    private func forEachPixel(near center: (Double, Double), radius: Double, inside: (Double, Double) -> Bool, paint: (Int) -> Void) {
        let x0 = max(0, Int((center.0 - radius).rounded(.down))), x1 = min(width - 1, Int((center.0 + radius).rounded(.up)))
        let y0 = max(0, Int((center.1 - radius).rounded(.down))), y1 = min(height - 1, Int((center.1 + radius).rounded(.up)))
        guard x0 <= x1 && y0 <= y1 else { return }
        for y in y0...y1 {
            for x in x0...x1 where inside(Double(x) + 0.5, Double(y) + 0.5) { paint(y * width + x) }
        }
    }

    /// The object's visible mask, box and area, or nil when too little of it shows to annotate.
    private func visibleObject(index: Int32, category: Int, owner: [Int32], fullArea: Int) -> VisibleObject? {
        var columnMajor = [UInt8](repeating: 0, count: width * height)
        var (minX, minY, maxX, maxY, area) = (width, height, -1, -1, 0)
        for y in 0..<height {
            for x in 0..<width where owner[y * width + x] == index {
                columnMajor[x * height + y] = 1
                (minX, minY, maxX, maxY) = (min(minX, x), min(minY, y), max(maxX, x), max(maxY, y))
                area += 1
            }
        }
        guard area >= Self.minimumVisiblePixels, Double(area) >= Self.minimumVisibleFraction * Double(fullArea) else { return nil }
        return VisibleObject(category: category, box: [minX, minY, maxX - minX + 1, maxY - minY + 1], area: area,
                             mask: RLE(mask: columnMajor, height: height, width: width))
    }
}
