/// How `interpolated` weighs neighbouring pixels.
public enum InterpolationMode: Sendable {
    /// Two taps per axis (`mode="bilinear"`).
    case bilinear
    /// Four taps per axis, Keys cubic with A = −0.75 (`mode="bicubic"`).
    case bicubic
}

extension Tensor {
    /// PyTorch `F.interpolate(x, size=(height, width), mode=mode, align_corners=False)`
    /// without antialiasing, for up- and down-sampling.
    /// - self: [C, H, W] or [B, C, H, W]. Returns [C, height, width] or [B, C, height, width].
    ///
    /// Conventions (PyTorch's `UpSample.h`): source = (dst + 0.5)·in/out − 0.5; bilinear clamps a
    /// negative source to 0 and repeats the last pixel; bicubic clamps each of its four taps to
    /// the border. Separable passes (rows, then columns) sum in the same order as PyTorch's
    /// nested 2-D loop.
    public func interpolated(height: Int, width: Int, mode: InterpolationMode) -> Tensor {
        precondition(rank == 3 || rank == 4, "interpolated expects [C,H,W] or [B,C,H,W], got \(shape)")
        precondition(height > 0 && width > 0, "interpolated: output size \(height)×\(width) must be positive")
        let inHeight = dim(-2), inWidth = dim(-1)
        precondition(inHeight > 0 && inWidth > 0, "interpolated: empty input \(shape)")
        let planes = count / (inHeight * inWidth)
        let columns = ResamplingTaps(input: inWidth, output: width, mode: mode)
        let rows = ResamplingTaps(input: inHeight, output: height, mode: mode)
        return Tensor(shape: Array(shape.dropLast(2)) + [height, width]) { out in
            guard out.count > 0 else { return }
            // Pass 1: resample every input row to the new width.
            var widened = [Float](unsafeUninitializedCapacity: planes * inHeight * width) { buffer, initialized in
                scalars.withUnsafeBufferPointer { source in
                    let x = source.baseAddress!, y = buffer.baseAddress!
                    Parallel.forEachChunk(planes * inHeight, minimumPerChunk: max(1, 8192 / width)) { range in
                        for row in range {
                            columns.resample(row: x + row * inWidth, into: y + row * width)
                        }
                    }
                }
                initialized = planes * inHeight * width
            }
            // Pass 2: combine whole widened rows for each output row.
            widened.withUnsafeMutableBufferPointer { buffer in
                let x = UnsafePointer(buffer.baseAddress!), y = out.baseAddress!
                Parallel.forEachChunk(planes * height, minimumPerChunk: max(1, 8192 / width)) { range in
                    for item in range {
                        let plane = item / height, outRow = item % height
                        rows.combine(rowsOf: x + plane * inHeight * width, width: width, outputRow: outRow,
                                     into: y + item * width)
                    }
                }
            }
        }
    }
}

/// For each output index along one axis: the input indices it reads and their weights
/// (`taps` per output, border-clamped), computed once per call.
struct ResamplingTaps {
    let taps: Int
    let indices: [Int]
    let weights: [Float]

    init(input: Int, output: Int, mode: InterpolationMode) {
        // PyTorch computes the scale and source positions in float.
        let scale = Float(input) / Float(output)
        var indices: [Int] = [], weights: [Float] = []
        switch mode {
        case .bilinear:
            taps = 2
            for i in 0..<output {
                if input == output {
                    indices += [i, i]; weights += [1, 0]
                    continue
                }
                let source = max(scale * (Float(i) + 0.5) - 0.5, 0)
                let first = min(Int(source.rounded(.down)), input - 1)
                let lambda = min(max(source - Float(first), 0), 1)
                indices += [first, first + (first < input - 1 ? 1 : 0)]
                weights += [1 - lambda, lambda]
            }
        case .bicubic:
            taps = 4
            let a: Float = -0.75
            // Keys' kernel for |x| ≤ 1 and 1 < |x| < 2.
            func near(_ x: Float) -> Float { ((a + 2) * x - (a + 3)) * x * x + 1 }
            func far(_ x: Float) -> Float { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
            for i in 0..<output {
                // One rounding (a fused multiply-add), as PyTorch's x86 build computes it here;
                // two roundings differ at a few output rows by up to 3e-5.
                let source = Float(Double(scale) * (Double(i) + 0.5) - 0.5)
                let floorIndex = Int(source.rounded(.down))
                let first = min(floorIndex, input - 1)
                let t = min(max(source - Float(first), 0), 1)
                for k in 0..<4 { indices.append(min(max(first - 1 + k, 0), input - 1)) }
                weights += [far(t + 1), near(t), near(1 - t), far(2 - t)]
            }
        }
        self.indices = indices
        self.weights = weights
    }

    /// One row along this axis: target[o] = Σₖ w[o,k]·row[index[o,k]].
    @inline(__always)
    func resample(row: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>) {
        indices.withUnsafeBufferPointer { index in
            weights.withUnsafeBufferPointer { weight in
                let outputs = index.count / taps
                if taps == 2 {
                    for o in 0..<outputs {
                        target[o] = row[index[2 * o]] * weight[2 * o] + row[index[2 * o + 1]] * weight[2 * o + 1]
                    }
                } else {
                    for o in 0..<outputs {
                        var sum = row[index[4 * o]] * weight[4 * o]
                        for k in 1..<4 { sum += row[index[4 * o + k]] * weight[4 * o + k] }
                        target[o] = sum
                    }
                }
            }
        }
    }

    /// Output row `outputRow` along this (vertical) axis from whole rows of `width` scalars.
    @inline(__always)
    func combine(rowsOf plane: UnsafePointer<Float>, width: Int, outputRow: Int, into target: UnsafeMutablePointer<Float>) {
        let base = outputRow * taps
        let w0 = weights[base], first = plane + indices[base] * width
        for j in 0..<width { target[j] = first[j] * w0 }
        for k in 1..<taps {
            let w = weights[base + k], row = plane + indices[base + k] * width
            for j in 0..<width { target[j] += row[j] * w }
        }
    }
}
