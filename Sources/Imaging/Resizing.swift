import CVision

/// OpenCV's `cv::resize` interpolation modes.
public enum Interpolation: Sendable {
    case linear, cubic, area

    var code: Int32 {
        switch self {
        case .linear: return Int32(CVISION_INTER_LINEAR)
        case .cubic: return Int32(CVISION_INTER_CUBIC)
        case .area: return Int32(CVISION_INTER_AREA)
        }
    }
}

extension RGBImage {
    /// `cv::resize` to `width`×`height` (no antialiasing except with `.area`). For the
    /// references' PIL preprocessing use `pilResized` instead.
    public func resized(width: Int, height: Int, interpolation: Interpolation = .linear) -> RGBImage {
        precondition(width > 0 && height > 0, "resize target \(width)x\(height) must be positive")
        var result = [UInt8](repeating: 0, count: width * height * 3)
        pixels.withUnsafeBufferPointer { source in
            result.withUnsafeMutableBufferPointer { target in
                do {
                    try cvisionCall("resize") {
                        cvision_resize(source.baseAddress, Int32(self.width), Int32(self.height), 3, target.baseAddress,
                                       Int32(width), Int32(height), interpolation.code, $0, $1)
                    }
                } catch {
                    fatalError("\(error)")  // only reachable through out-of-memory: the arguments are checked above
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: result)
    }
}

extension RGBImage {
    /// Each pixel repeated as a `factor`×`factor` square: an enlargement that adds nothing.
    public func enlarged(by factor: Int) -> RGBImage {
        precondition(factor >= 1, "enlargement factor \(factor) must be at least 1")
        guard factor > 1 else { return self }
        var result = [UInt8](repeating: 0, count: width * factor * height * factor * 3)
        for y in 0..<height * factor {
            let sourceRow = (y / factor) * width
            for x in 0..<width * factor {
                let source = (sourceRow + x / factor) * 3, target = (y * width * factor + x) * 3
                result[target] = pixels[source]
                result[target + 1] = pixels[source + 1]
                result[target + 2] = pixels[source + 2]
            }
        }
        return RGBImage(width: width * factor, height: height * factor, pixels: result)
    }
}
