import Foundation
import Imaging

/// The picture `regionspot predict --visualize` writes: masks tinted, boxes outlined, each
/// labelled with its best class and score.
public enum Visualization {
    static let palette: [RGB] = [
        RGB(230, 25, 75), RGB(60, 180, 75), RGB(0, 130, 200), RGB(245, 130, 48), RGB(145, 30, 180),
        RGB(70, 240, 240), RGB(240, 50, 230), RGB(128, 128, 0), RGB(0, 128, 128), RGB(170, 110, 40),
    ]

    /// Pictures whose short side is under this are enlarged by a whole factor first, each pixel a
    /// square, so that labels fit: the demo's 128-pixel scenes come out at 512.
    public static let minimumShortSide = 512

    public static func draw(_ recognition: Recognition, vocabulary: [String], on image: RGBImage) -> RGBImage {
        let shortSide = max(1, min(image.width, image.height))
        let factor = max(1, (minimumShortSide + shortSide - 1) / shortSide)  // rounded up
        var canvas = image.enlarged(by: factor)
        let thickness = max(2, min(canvas.width, canvas.height) / 300)
        let scale = max(0.4, Double(min(canvas.width, canvas.height)) / 1200)
        for (index, region) in recognition.regions.enumerated() {
            let color = palette[(region.labels.first?.classIndex ?? index) % palette.count]
            if let mask = region.mask { canvas.overlay(mask: mask.enlarged(by: factor).pixels, color: color, alpha: 0.45) }
            let label = region.labels.first.map { String(format: "%@ %.2f", vocabulary[$0.classIndex], $0.score) }
            let b = region.box.corners.map { Int(($0 * Float(factor)).rounded()) }
            canvas.drawBox(x0: b[0], y0: b[1], x1: b[2], y1: b[3], color: color, label: label, thickness: thickness, scale: scale)
        }
        return canvas
    }
}
