import CVision

/// Annotation drawing for `--visualize`: boxes, labels and mask overlays, all clipped to the image.
extension RGBImage {
    /// Outlines the rectangle with corners (x0, y0) and (x1, y1), both inclusive, drawing
    /// `thickness` pixels centred on its edges.
    public mutating func drawRectangle(x0: Int, y0: Int, x1: Int, y1: Int, color: RGB, thickness: Int = 2) {
        precondition(thickness > 0, "rectangle thickness must be positive")
        rectangle(x0: x0, y0: y0, x1: x1, y1: y1, color: color, thickness: Int32(min(thickness, 1024)))
    }

    /// Fills the rectangle with corners (x0, y0) and (x1, y1), both inclusive.
    public mutating func fillRectangle(x0: Int, y0: Int, x1: Int, y1: Int, color: RGB) {
        rectangle(x0: x0, y0: y0, x1: x1, y1: y1, color: color, thickness: -1)
    }

    /// Blends `color` into the pixels where `mask` (row-major, `width`×`height`) is true:
    /// `(1 - alpha)·pixel + alpha·color`, rounded.
    public mutating func overlay(mask: [Bool], color: RGB, alpha: Float) {
        precondition(mask.count == width * height, "mask has \(mask.count) values for a \(width)x\(height) image")
        let alpha = min(max(alpha, 0), 1)
        let tint = [Float(color.red) * alpha, Float(color.green) * alpha, Float(color.blue) * alpha]
        pixels.withUnsafeMutableBufferPointer { pixels in
            for (i, inside) in mask.enumerated() where inside {
                for c in 0..<3 {
                    let value = Float(pixels[i * 3 + c]) * (1 - alpha) + tint[c]
                    pixels[i * 3 + c] = UInt8(min(value.rounded(), 255))
                }
            }
        }
    }

    /// Size in pixels of `text` drawn by `drawLabel` (width, height including the padding).
    public static func labelSize(_ text: String, scale: Double = 0.5, thickness: Int = 1, padding: Int = 2) -> (width: Int, height: Int) {
        let metrics = textMetrics(text, scale: scale, thickness: thickness)
        return (metrics.width + 2 * padding, metrics.height + metrics.baseline + 2 * padding)
    }

    /// Draws `text` on a filled background whose top-left corner is (x, y). Characters outside
    /// printable ASCII (which the Hershey font lacks) are drawn as "?".
    public mutating func drawLabel(_ text: String, x: Int, y: Int, color: RGB = RGB(255, 255, 255), background: RGB,
                                   scale: Double = 0.5, thickness: Int = 1, padding: Int = 2) {
        let metrics = RGBImage.textMetrics(text, scale: scale, thickness: thickness)
        let size = RGBImage.labelSize(text, scale: scale, thickness: thickness, padding: padding)
        fillRectangle(x0: x, y0: y, x1: x + size.width - 1, y1: y + size.height - 1, color: background)
        let ascii = RGBImage.printableASCII(text)
        let (w, h) = (Int32(width), Int32(height))
        pixels.withUnsafeMutableBufferPointer { buffer in
            checkDrawing {
                cvision_draw_text(buffer.baseAddress, w, h, ascii, Int32(x + padding), Int32(y + padding + metrics.height),
                                  scale, Int32(thickness), color.red, color.green, color.blue, $0, $1)
            }
        }
    }

    /// A box outline with its label above the top-left corner (inside the box when there is
    /// no room above), in the box's colour with white text.
    public mutating func drawBox(x0: Int, y0: Int, x1: Int, y1: Int, color: RGB, label: String? = nil, thickness: Int = 2,
                                 scale: Double = 0.5) {
        // A dark rim under the colour keeps the box visible on any background, its own hue included.
        drawRectangle(x0: x0, y0: y0, x1: x1, y1: y1, color: RGB(0, 0, 0), thickness: thickness + 2)
        drawRectangle(x0: x0, y0: y0, x1: x1, y1: y1, color: color, thickness: thickness)
        guard let label, !label.isEmpty else { return }
        let size = RGBImage.labelSize(label, scale: scale)
        let top = y0 - size.height >= 0 ? y0 - size.height : y0
        drawLabel(label, x: max(x0, 0), y: top, background: color, scale: scale)
    }

    private mutating func rectangle(x0: Int, y0: Int, x1: Int, y1: Int, color: RGB, thickness: Int32) {
        // Clamp far-away coordinates so OpenCV's int arithmetic cannot overflow; clipping is its own.
        let limit = 1 << 24
        func clamp(_ v: Int) -> Int32 { Int32(min(max(v, -limit), limit)) }
        let (w, h) = (Int32(width), Int32(height))
        pixels.withUnsafeMutableBufferPointer { buffer in
            checkDrawing {
                cvision_draw_rectangle(buffer.baseAddress, w, h, clamp(x0), clamp(y0), clamp(x1), clamp(y1),
                                       color.red, color.green, color.blue, thickness, $0, $1)
            }
        }
    }

    private static func textMetrics(_ text: String, scale: Double, thickness: Int) -> (width: Int, height: Int, baseline: Int) {
        precondition(scale > 0 && thickness > 0, "text scale and thickness must be positive")
        var w: Int32 = 0, h: Int32 = 0, baseline: Int32 = 0
        let ascii = printableASCII(text)
        checkDrawing { cvision_text_size(ascii, scale, Int32(thickness), &w, &h, &baseline, $0, $1) }
        return (Int(w), Int(h), Int(baseline))
    }

    private static func printableASCII(_ text: String) -> String {
        String(text.unicodeScalars.map { $0.value >= 32 && $0.value < 127 ? Character($0) : "?" })
    }
}

/// Drawing only fails on arguments the wrappers above already check.
private func checkDrawing(_ body: (UnsafeMutablePointer<CChar>, Int) -> Int32) {
    do {
        try cvisionCall("drawing", body)
    } catch {
        preconditionFailure("\(error)")
    }
}
