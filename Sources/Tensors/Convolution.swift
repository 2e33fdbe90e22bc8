extension Tensor {
    /// PyTorch `F.conv2d` (zero padding, dilation 1).
    /// - self: [C, H, W] or [B, C, H, W]; weight: [O, C/groups, kh, kw]; bias: [O] or nil.
    /// - Returns: [O, OH, OW] or [B, O, OH, OW], with OH = (H + 2·padding − kh)/stride + 1
    ///   (likewise OW).
    ///
    /// Depthwise convolutions (groups = C = O) run a direct loop; 1×1 stride-1 unpadded ones
    /// are one product per group; the rest go through im2col in column tiles, then `GEMM.sgemm`.
    public func conv2d(weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0, groups: Int = 1) -> Tensor {
        precondition(rank == 3 || rank == 4, "conv2d expects [C,H,W] or [B,C,H,W], got \(shape)")
        precondition(weight.rank == 4, "conv2d: weight must be [O, C/groups, kh, kw], got \(weight.shape)")
        precondition(stride >= 1 && padding >= 0 && groups >= 1, "conv2d: stride \(stride), padding \(padding), groups \(groups)")
        let geometry = ConvGeometry(
            channels: dim(-3), height: dim(-2), width: dim(-1),
            outputs: weight.dim(0), kernelHeight: weight.dim(2), kernelWidth: weight.dim(3),
            stride: stride, padding: padding, groups: groups)
        precondition(groups > 0 && geometry.channels % groups == 0 && geometry.outputs % groups == 0
                     && weight.dim(1) == geometry.channels / groups,
                     "conv2d: weight \(weight.shape) does not fit input \(shape) with groups \(groups)")
        precondition(geometry.outputHeight > 0 && geometry.outputWidth > 0,
                     "conv2d: kernel \(weight.shape) larger than padded input \(shape)")
        if let bias { precondition(bias.shape == [geometry.outputs], "conv2d: bias \(bias.shape), expected [\(geometry.outputs)]") }
        let batch = rank == 4 ? dim(0) : 1
        let outShape = (rank == 4 ? [batch] : []) + [geometry.outputs, geometry.outputHeight, geometry.outputWidth]
        return Tensor(shape: outShape) { out in
            guard out.count > 0 else { return }
            scalars.withUnsafeBufferPointer { x in
                weight.scalars.withUnsafeBufferPointer { w in
                    let biasScalars = bias?.scalars ?? [Float](repeating: 0, count: geometry.outputs)
                    biasScalars.withUnsafeBufferPointer { b in
                        for image in 0..<batch {
                            Convolution.conv2d(
                                geometry, input: x.baseAddress! + image * geometry.inputSize, weight: w.baseAddress!,
                                bias: b.baseAddress!, output: out.baseAddress! + image * geometry.outputSize)
                        }
                    }
                }
            }
        }
    }

    /// PyTorch `nn.ConvTranspose2d` with kernel 2, stride 2, no padding (SAM's upscaling):
    /// out[o, 2y+dy, 2x+dx] = Σc x[c, y, x]·weight[c, o, dy, dx] + bias[o].
    /// - self: [C, H, W] or [B, C, H, W]; weight: [C, O, 2, 2] (PyTorch's [in, out, kh, kw]); bias: [O] or nil.
    /// - Returns: [O, 2H, 2W] or [B, O, 2H, 2W].
    public func convTranspose2x2(weight: Tensor, bias: Tensor? = nil) -> Tensor {
        precondition(rank == 3 || rank == 4, "convTranspose2x2 expects [C,H,W] or [B,C,H,W], got \(shape)")
        let channels = dim(-3), height = dim(-2), width = dim(-1), plane = height * width
        precondition(weight.rank == 4 && weight.dim(0) == channels && weight.dim(2) == 2 && weight.dim(3) == 2,
                     "convTranspose2x2: weight \(weight.shape) must be [\(channels), O, 2, 2] for input \(shape)")
        let outputs = weight.dim(1)
        if let bias { precondition(bias.shape == [outputs], "convTranspose2x2: bias \(bias.shape), expected [\(outputs)]") }
        let batch = rank == 4 ? dim(0) : 1
        let outShape = (rank == 4 ? [batch] : []) + [outputs, 2 * height, 2 * width]
        return Tensor(shape: outShape) { out in
            guard out.count > 0 else { return }
            // Y[(o, dy, dx), y·W + x] = weightᵀ · X, then interleave Y into the doubled grid.
            withUnsafeTemporaryAllocation(of: Float.self, capacity: outputs * 4 * plane) { y in
                scalars.withUnsafeBufferPointer { x in
                    weight.scalars.withUnsafeBufferPointer { w in
                        let y = y.baseAddress!, o = out.baseAddress!
                        for image in 0..<batch {
                            if channels > 0 {
                                GEMM.sgemm(m: outputs * 4, n: plane, k: channels, a: w.baseAddress!, lda: outputs * 4, transA: true,
                                           b: x.baseAddress! + image * channels * plane, ldb: plane, c: y, ldc: plane)
                            }
                            let result = o + image * outputs * 4 * plane
                            Parallel.forEachChunk(outputs, minimumPerChunk: max(1, 16384 / (4 * plane))) { range in
                                for channel in range {
                                    let b = bias?.scalars[channel] ?? 0
                                    let target = result + channel * 4 * plane
                                    for dy in 0..<2 {
                                        for dx in 0..<2 {
                                            let source = y + (channel * 4 + dy * 2 + dx) * plane
                                            for row in 0..<height {
                                                let from = source + row * width, to = target + (2 * row + dy) * 2 * width + dx
                                                for column in 0..<width { to[2 * column] = from[column] + b }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Sizes of one convolution (square stride and padding, any kernel shape).
struct ConvGeometry {
    let channels, height, width, outputs, kernelHeight, kernelWidth, stride, padding, groups: Int
    var outputHeight: Int { (height + 2 * padding - kernelHeight) / stride + 1 }
    var outputWidth: Int { (width + 2 * padding - kernelWidth) / stride + 1 }
    var inputSize: Int { channels * height * width }
    var outputSize: Int { outputs * outputHeight * outputWidth }
    var isDepthwise: Bool { groups == channels && outputs == channels }

    /// Output columns ox whose input column ox·stride − padding + kx lies inside the row.
    func validColumns(kx: Int) -> Range<Int> {
        let lower = max(0, (padding - kx + stride - 1) / stride)
        let last = width - 1 + padding - kx  // floor division below needs it non-negative
        let upper = last < 0 ? 0 : min(outputWidth, last / stride + 1)
        return lower..<max(lower, upper)
    }
}

enum Convolution {
    /// Floats of im2col buffer per tile (16 MB): bounds memory for large images.
    static let columnTileBudget = 1 << 22

    /// One image: input [C, H, W] → output [O, OH, OW].
    static func conv2d(
        _ g: ConvGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        bias: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, columnBudget: Int = columnTileBudget
    ) {
        let outPlane = g.outputHeight * g.outputWidth
        if g.isDepthwise {
            Parallel.forEachChunk(g.channels, minimumPerChunk: max(1, 32768 / max(1, outPlane * g.kernelHeight * g.kernelWidth))) { range in
                for c in range {
                    depthwisePlane(g, input: input + c * g.height * g.width, weight: weight + c * g.kernelHeight * g.kernelWidth,
                                   bias: bias[c], output: output + c * outPlane)
                }
            }
            return
        }
        // Start every output channel at its bias; the products accumulate onto it (beta = 1).
        for o in 0..<g.outputs { (output + o * outPlane).update(repeating: bias[o], count: outPlane) }
        let groupChannels = g.channels / g.groups, groupOutputs = g.outputs / g.groups
        let depth = groupChannels * g.kernelHeight * g.kernelWidth  // rows of the im2col matrix
        guard depth > 0 else { return }
        let pointwise = g.kernelHeight == 1 && g.kernelWidth == 1 && g.stride == 1 && g.padding == 0
        if pointwise {
            for group in 0..<g.groups {
                GEMM.sgemm(m: groupOutputs, n: outPlane, k: depth, a: weight + group * groupOutputs * depth, lda: depth,
                           b: input + group * groupChannels * g.height * g.width, ldb: outPlane,
                           c: output + group * groupOutputs * outPlane, ldc: outPlane, beta: 1)
            }
            return
        }
        let tile = min(outPlane, max(1, columnBudget / depth))
        withUnsafeTemporaryAllocation(of: Float.self, capacity: depth * tile) { buffer in
            let columns = buffer.baseAddress!
            for group in 0..<g.groups {
                var start = 0
                while start < outPlane {
                    let count = min(tile, outPlane - start)
                    im2col(g, input: input + group * groupChannels * g.height * g.width, rows: depth,
                           positions: start..<(start + count), columns: columns)
                    GEMM.sgemm(m: groupOutputs, n: count, k: depth, a: weight + group * groupOutputs * depth, lda: depth,
                               b: columns, ldb: count,
                               c: output + group * groupOutputs * outPlane + start, ldc: outPlane, beta: 1)
                    start += count
                }
            }
        }
    }

    /// Writes the im2col matrix [rows = (c, ky, kx), positions] for output positions
    /// `positions` (flattened oy·OW + ox) of one group's `rows / (kh·kw)` input channels.
    static func im2col(
        _ g: ConvGeometry, input: UnsafePointer<Float>, rows: Int, positions: Range<Int>,
        columns: UnsafeMutablePointer<Float>
    ) {
        let taps = g.kernelHeight * g.kernelWidth, width = positions.count
        Parallel.forEachChunk(rows, minimumPerChunk: max(1, 16384 / width)) { range in
            for row in range {
                let c = row / taps, ky = (row % taps) / g.kernelWidth, kx = row % g.kernelWidth
                let plane = input + c * g.height * g.width
                let valid = g.validColumns(kx: kx)
                let target = columns + row * width
                var position = positions.lowerBound
                while position < positions.upperBound {
                    let oy = position / g.outputWidth, first = position % g.outputWidth
                    let last = min(g.outputWidth, first + positions.upperBound - position)
                    let out = target + (position - positions.lowerBound) - first  // indexed by ox
                    let iy = oy * g.stride - g.padding + ky
                    if iy < 0 || iy >= g.height {
                        (out + first).update(repeating: 0, count: last - first)
                    } else {
                        let lower = min(max(first, valid.lowerBound), last), upper = max(min(last, valid.upperBound), lower)
                        for ox in first..<lower { out[ox] = 0 }
                        let source = plane + iy * g.width - g.padding + kx
                        if g.stride == 1 {
                            if lower < upper { (out + lower).update(from: source + lower, count: upper - lower) }
                        } else {
                            for ox in lower..<upper { out[ox] = source[ox * g.stride] }
                        }
                        for ox in upper..<last { out[ox] = 0 }
                    }
                    position += last - first
                }
            }
        }
    }

    /// Depthwise convolution of one channel plane, accumulating one output row at a time
    /// (the row stays in L1 across all kh·kw taps).
    static func depthwisePlane(
        _ g: ConvGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: Float,
        output: UnsafeMutablePointer<Float>
    ) {
        let outWidth = g.outputWidth
        for oy in 0..<g.outputHeight {
            let out = output + oy * outWidth
            out.update(repeating: bias, count: outWidth)
            for ky in 0..<g.kernelHeight {
                let iy = oy * g.stride - g.padding + ky
                guard iy >= 0 && iy < g.height else { continue }
                let row = input + iy * g.width
                for kx in 0..<g.kernelWidth {
                    let w = weight[ky * g.kernelWidth + kx]
                    let valid = g.validColumns(kx: kx)
                    let source = row - g.padding + kx
                    if g.stride == 1 {
                        for ox in valid { out[ox] += w * source[ox] }
                    } else {
                        for ox in valid { out[ox] += w * source[ox * g.stride] }
                    }
                }
            }
        }
    }
}
