import Foundation
import Imaging

/// The picture `regionspot predict --visualize` writes: masks tinted, boxes outlined, each
/// labelled with its best class and score.
public enum Visualization {
    static let palette: [RGB] = [
        RGB(230, 25, 75), RGB(60, 180, 75), RGB(0, 130, 200), RGB(245, 130, 48), RGB(145, 30, 180),
        RGB(70, 240, 240), RGB(240, 50, 230), RGB(128, 128, 0), RGB(0, 128, 128), RGB(170, 110, 40),
    ]

    public static func draw(_ recognition: Recognition, vocabulary: [String], on image: RGBImage) -> RGBImage {
        var canvas = image
        let thickness = max(2, min(image.width, image.height) / 300)
        let scale = max(0.4, Double(min(image.width, image.height)) / 1200)
        for (index, region) in recognition.regions.enumerated() {
            let color = palette[(region.labels.first?.classIndex ?? index) % palette.count]
            if let mask = region.mask { canvas.overlay(mask: mask.pixels, color: color, alpha: 0.45) }
            let label = region.labels.first.map { String(format: "%@ %.2f", vocabulary[$0.classIndex], $0.score) }
            let b = region.box.corners
            canvas.drawBox(x0: Int(b[0].rounded()), y0: Int(b[1].rounded()), x1: Int(b[2].rounded()), y1: Int(b[3].rounded()),
                           color: color, label: label, thickness: thickness, scale: scale)
        }
        return canvas
    }
}
