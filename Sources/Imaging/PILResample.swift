import Tensors

/// Pillow's resampling filters (`Image.Resampling`) that RegionSpot's references use.
public enum PILFilter: Sendable {
    /// Triangle filter, support 1: what torchvision's `resize` of a PIL image (SAM's
    /// `ResizeLongestSide`) calls.
    case bilinear
    /// Keys cubic with a = -0.5, support 2: OpenAI CLIP's preprocessing.
    case bicubic

    var support: Double {
        switch self {
        case .bilinear: return 1
        case .bicubic: return 2
        }
    }

    /// Evaluated in double precision with Pillow's operation order (`Resample.c`).
    func weight(_ x: Double) -> Double {
        let x = abs(x)
        switch self {
        case .bilinear:
            return x < 1 ? 1 - x : 0
        case .bicubic:
            let a = -0.5
            if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        }
    }
}

extension RGBImage {
    /// Pillow's `Image.resize((width, height), filter)` on an RGB image, bit for bit: separable
    /// convolution whose support grows with the downscale factor (antialiasing), 22-bit
    /// fixed-point weights, two passes each rounded and clipped to 8 bits: horizontal then vertical,
    /// or vertical first when the height shrinks by more than twice the width's shrink (Pillow 13).
    public func pilResized(width: Int, height: Int, filter: PILFilter = .bilinear) -> RGBImage {
        precondition(width > 0 && height > 0, "resize target \(width)x\(height) must be positive")
        let result = pixels.withUnsafeBufferPointer {
            PILResample.resample($0, width: self.width, height: self.height, channels: 3, toWidth: width, toHeight: height, filter: filter)
        }
        return RGBImage(width: width, height: height, pixels: result)
    }
}

/// Pillow's `ImagingResample` for 8-bit images with interleaved channels.
enum PILResample {
    /// `PRECISION_BITS` in Resample.c: 32 bits minus 8 for the result and 2 for overshoot.
    static let precisionBits = 22

    /// Per output index: first input index, tap count, and `taps` fixed-point weights.
    struct Coefficients {
        var first: [Int]
        var count: [Int]
        var weights: [Int32]
        var taps: Int
    }

    /// `precompute_coeffs` + `normalize_coeffs_8bpc` for the whole input range.
    static func coefficients(inSize: Int, outSize: Int, filter: PILFilter) -> Coefficients {
        // Pillow passes the box edges as C floats; whole sizes convert exactly.
        let scale = Double(Float(inSize)) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = filter.support * filterScale
        let taps = Int(support.rounded(.up)) * 2 + 1
        var result = Coefficients(first: [], count: [], weights: [Int32](repeating: 0, count: outSize * taps), taps: taps)
        result.first.reserveCapacity(outSize)
        result.count.reserveCapacity(outSize)
        var k = [Double](repeating: 0, count: taps)
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale
            let inverse = 1.0 / filterScale
            let lower = max(Int(center - support + 0.5), 0)        // C (int) truncates toward zero
            let count = min(Int(center + support + 0.5), inSize) - lower
            var total = 0.0
            for x in 0..<max(count, 0) {
                k[x] = filter.weight((Double(x + lower) - center + 0.5) * inverse)
                total += k[x]
            }
            for x in 0..<max(count, 0) {
                if total != 0 { k[x] /= total }
                let scaled = k[x] * Double(1 << precisionBits)
                result.weights[xx * taps + x] = Int32(k[x] < 0 ? -0.5 + scaled : 0.5 + scaled)
            }
            result.first.append(lower)
            result.count.append(max(count, 0))
        }
        return result
    }

    /// Rounds a fixed-point sum to 8 bits and clips, as Pillow's `clip8`.
    @inline(__always)
    static func clip8(_ sum: Int32) -> UInt8 {
        let value = sum >> Int32(precisionBits)
        return value < 0 ? 0 : value > 255 ? 255 : UInt8(truncatingIfNeeded: value)
    }

    static func resample(_ source: UnsafeBufferPointer<UInt8>, width: Int, height: Int, channels: Int,
                         toWidth: Int, toHeight: Int, filter: PILFilter) -> [UInt8] {
        precondition(source.count == width * height * channels)
        if width == toWidth && height == toHeight { return Array(source) }
        let vertical = coefficients(inSize: height, outSize: toHeight, filter: filter)
        // Pillow ≥ 13 (`ImagingResampleInner`) runs the vertical pass first when the height shrinks
        // by more than twice as many pixels as the width does. The 8-bit intermediate is rounded,
        // so the order changes the result.
        if height - toHeight > 0 && height - toHeight > (width - toWidth) * 2 {
            let temporary = convolveRows(source, width: width, channels: channels, coefficients: vertical, rowOffset: 0, outRows: toHeight)
            guard width != toWidth else { return temporary }
            let horizontal = coefficients(inSize: width, outSize: toWidth, filter: filter)
            return temporary.withUnsafeBufferPointer {
                convolveColumns($0, width: width, channels: channels, coefficients: horizontal, rows: 0..<toHeight, outWidth: toWidth)
            }
        }
        guard width != toWidth else {
            return convolveRows(source, width: width, channels: channels, coefficients: vertical, rowOffset: 0, outRows: toHeight)
        }
        // Only the input rows the vertical pass reads go through the horizontal pass.
        let firstRow = vertical.first[0]
        let lastRow = vertical.first[toHeight - 1] + vertical.count[toHeight - 1]
        let horizontal = coefficients(inSize: width, outSize: toWidth, filter: filter)
        let temporary = convolveColumns(source, width: width, channels: channels, coefficients: horizontal,
                                        rows: firstRow..<lastRow, outWidth: toWidth)
        guard height != toHeight else { return temporary }
        return temporary.withUnsafeBufferPointer {
            convolveRows($0, width: toWidth, channels: channels, coefficients: vertical, rowOffset: firstRow, outRows: toHeight)
        }
    }

    /// Horizontal pass (`ImagingResampleHorizontal_8bpc`) over input rows `rows`.
    static func convolveColumns(_ source: UnsafeBufferPointer<UInt8>, width: Int, channels: Int, coefficients c: Coefficients,
                                rows: Range<Int>, outWidth: Int) -> [UInt8] {
        let rowCount = rows.count
        let half = Int32(1 << (precisionBits - 1))
        return [UInt8](unsafeUninitializedCapacity: rowCount * outWidth * channels) { out, initialized in
            let output = out.baseAddress!
            c.weights.withUnsafeBufferPointer { weights in
                c.first.withUnsafeBufferPointer { first in
                    c.count.withUnsafeBufferPointer { count in
                        Parallel.forEachChunk(rowCount, minimumPerChunk: 16) { chunk in
                            let sums = UnsafeMutablePointer<Int32>.allocate(capacity: channels)
                            defer { sums.deallocate() }
                            for r in chunk {
                                let input = source.baseAddress! + (rows.lowerBound + r) * width * channels
                                var target = output + r * outWidth * channels
                                for xx in 0..<outWidth {
                                    let k = weights.baseAddress! + xx * c.taps
                                    var pixel = input + first[xx] * channels
                                    if channels == 3 {
                                        // The RGB case, with the sums in registers.
                                        var s0 = half, s1 = half, s2 = half
                                        for x in 0..<count[xx] {
                                            let w = k[x]
                                            s0 &+= Int32(pixel[0]) &* w
                                            s1 &+= Int32(pixel[1]) &* w
                                            s2 &+= Int32(pixel[2]) &* w
                                            pixel += 3
                                        }
                                        target[0] = clip8(s0)
                                        target[1] = clip8(s1)
                                        target[2] = clip8(s2)
                                    } else {
                                        for ch in 0..<channels { sums[ch] = half }
                                        for x in 0..<count[xx] {
                                            let w = k[x]
                                            for ch in 0..<channels { sums[ch] &+= Int32(pixel[ch]) &* w }
                                            pixel += channels
                                        }
                                        for ch in 0..<channels { target[ch] = clip8(sums[ch]) }
                                    }
                                    target += channels
                                }
                            }
                        }
                    }
                }
            }
            initialized = rowCount * outWidth * channels
        }
    }

    /// Vertical pass (`ImagingResampleVertical_8bpc`); input row indices are shifted by `rowOffset`.
    static func convolveRows(_ source: UnsafeBufferPointer<UInt8>, width: Int, channels: Int, coefficients c: Coefficients,
                             rowOffset: Int, outRows: Int) -> [UInt8] {
        let rowSize = width * channels
        let half = Int32(1 << (precisionBits - 1))
        return [UInt8](unsafeUninitializedCapacity: outRows * rowSize) { out, initialized in
            let output = out.baseAddress!
            c.weights.withUnsafeBufferPointer { weights in
                Parallel.forEachChunk(outRows, minimumPerChunk: 16) { chunk in
                    let sums = UnsafeMutablePointer<Int32>.allocate(capacity: rowSize)
                    defer { sums.deallocate() }
                    for yy in chunk {
                        let k = weights.baseAddress! + yy * c.taps
                        let first = source.baseAddress! + (c.first[yy] - rowOffset) * rowSize
                        sums.initialize(repeating: half, count: rowSize)
                        // Row by row, so the inner loop runs over contiguous bytes (vectorised).
                        for y in 0..<c.count[yy] {
                            let w = k[y]
                            let row = first + y * rowSize
                            for i in 0..<rowSize { sums[i] &+= Int32(row[i]) &* w }
                        }
                        let target = output + yy * rowSize
                        for i in 0..<rowSize { target[i] = clip8(sums[i]) }
                    }
                }
            }
            initialized = outRows * rowSize
        }
    }
}
