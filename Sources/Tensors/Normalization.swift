import Foundation

extension Tensor {
    /// PyTorch `nn.LayerNorm` over the last dimension: (x − mean)/√(var + eps)·weight + bias,
    /// with the biased variance.
    /// - self: [..., C]; weight, bias: [C] (nil means 1 and 0).
    /// - Returns: the same shape.
    public func layerNorm(weight: Tensor?, bias: Tensor?, eps: Float = 1e-5) -> Tensor {
        precondition(rank >= 1, "layerNorm needs at least one dimension")
        let width = dim(-1)
        let rows = width == 0 ? 0 : count / width
        let (gamma, beta) = Normalization.affine(weight, bias, channels: width, op: "layerNorm")
        return Tensor(shape: shape) { out in
            guard rows > 0 else { return }
            scalars.withUnsafeBufferPointer { x in
                gamma.withUnsafeBufferPointer { g in
                    beta.withUnsafeBufferPointer { b in
                        let x = x.baseAddress!, y = out.baseAddress!, g = g.baseAddress!, b = b.baseAddress!
                        Parallel.forEachChunk(rows, minimumPerChunk: max(1, 8192 / width)) { chunk in
                            for row in chunk {
                                Normalization.layerNormRow(x + row * width, y + row * width, width, g, b, eps)
                            }
                        }
                    }
                }
            }
        }
    }

    /// The gradients through `layerNorm(weight:bias:eps:)` of self (its input) [..., C], given the
    /// output's gradient: with x̂ = (x − mean)·r, r = 1/√(var + eps), g = dy·weight,
    /// dx = r·(g − mean(g) − x̂·mean(g·x̂)); d weight = Σ_rows dy·x̂; d bias = Σ_rows dy.
    /// Column sums run down the rows in order, so they do not depend on the thread count.
    public func layerNormBackward(_ upstream: Tensor, weight: Tensor, eps: Float = 1e-5)
        -> (input: Tensor, weight: Tensor, bias: Tensor) {
        let width = dim(-1)
        precondition(upstream.shape == shape && weight.shape == [width],
                     "layerNormBackward: input \(shape), gradient \(upstream.shape), weight \(weight.shape)")
        let rows = width == 0 ? 0 : count / width
        var normalized = Tensor(shape: shape)
        let input = Tensor(shape: shape) { dx in
            guard rows > 0 else { return }
            scalars.withUnsafeBufferPointer { x in
                upstream.withUnsafeBufferPointer { dy in
                    weight.withUnsafeBufferPointer { w in
                        normalized.withUnsafeMutableBufferPointer { xh in
                            let (x, dy, w, xh, dx) = (x.baseAddress!, dy.baseAddress!, w.baseAddress!, xh.baseAddress!, dx.baseAddress!)
                            Parallel.forEachChunk(rows, minimumPerChunk: max(1, 8192 / width)) { chunk in
                                for row in chunk {
                                    let o = row * width
                                    let mean = Normalization.sum(x + o, width) / Float(width)
                                    var squares: Float = 0
                                    for j in 0..<width { let d = x[o + j] - mean; squares += d * d }
                                    let inverse = 1 / (squares / Float(width) + eps).squareRoot()
                                    var sumG: Float = 0, sumGX: Float = 0
                                    for j in 0..<width {
                                        xh[o + j] = (x[o + j] - mean) * inverse
                                        let g = dy[o + j] * w[j]
                                        sumG += g
                                        sumGX += g * xh[o + j]
                                    }
                                    let (meanG, meanGX) = (sumG / Float(width), sumGX / Float(width))
                                    for j in 0..<width { dx[o + j] = inverse * (dy[o + j] * w[j] - meanG - xh[o + j] * meanGX) }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (input, (normalized * upstream).columnSums(), upstream.columnSums())
    }

    /// SAM's `LayerNorm2d`: normalises over the channels at each spatial position
    /// (biased variance), then scales and shifts per channel.
    /// - self: [C, H, W] or [B, C, H, W]; weight, bias: [C] (nil means 1 and 0).
    /// - Returns: the same shape.
    public func layerNorm2d(weight: Tensor?, bias: Tensor?, eps: Float = 1e-6) -> Tensor {
        precondition(rank == 3 || rank == 4, "layerNorm2d expects [C,H,W] or [B,C,H,W], got \(shape)")
        let channels = dim(-3), plane = dim(-2) * dim(-1)
        let batch = rank == 4 ? dim(0) : 1
        let (gamma, beta) = Normalization.affine(weight, bias, channels: channels, op: "layerNorm2d")
        return Tensor(shape: shape) { out in
            guard count > 0 else { return }
            scalars.withUnsafeBufferPointer { x in
                gamma.withUnsafeBufferPointer { g in
                    beta.withUnsafeBufferPointer { b in
                        let x = x.baseAddress!, y = out.baseAddress!, g = g.baseAddress!, b = b.baseAddress!
                        // Work items are column blocks of one image: every channel of those positions.
                        let block = 256
                        let blocks = (plane + block - 1) / block
                        Parallel.forEachChunk(batch * blocks, minimumPerChunk: max(1, 16384 / max(1, channels * block))) { items in
                            for item in items {
                                let image = item / blocks, start = (item % blocks) * block
                                let offset = image * channels * plane + start
                                Normalization.layerNormColumns(x + offset, y + offset, channels: channels, stride: plane,
                                                               columns: min(block, plane - start), g, b, eps)
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Eval-mode batch normalisation folded into the convolution before it.
public enum BatchNorm {
    /// Returns conv weight and bias such that conv(x, w', b') = bn(conv(x, w, b)):
    /// w'[o] = w[o]·s[o], b'[o] = (b[o] − mean[o])·s[o] + bnBias[o], s = bnWeight/√(var + eps).
    /// - convWeight: [O, ...]; convBias: [O] or nil (0); the batch-norm tensors: [O].
    public static func fold(
        convWeight: Tensor, convBias: Tensor?, weight: Tensor, bias: Tensor,
        runningMean: Tensor, runningVar: Tensor, eps: Float = 1e-5
    ) -> (weight: Tensor, bias: Tensor) {
        let outputs = convWeight.dim(0)
        for (name, tensor) in [("weight", weight), ("bias", bias), ("running_mean", runningMean), ("running_var", runningVar)] + (convBias.map { [("conv bias", $0)] } ?? []) {
            precondition(tensor.shape == [outputs], "BatchNorm.fold: \(name) has shape \(tensor.shape), expected [\(outputs)]")
        }
        let perOutput = outputs == 0 ? 0 : convWeight.count / outputs
        var foldedWeight = convWeight
        var foldedBias = Tensor(shape: [outputs])
        for o in 0..<outputs {
            // PyTorch computes the scale in float: weight / sqrt(var + eps).
            let scale = weight.scalars[o] / (runningVar.scalars[o] + eps).squareRoot()
            for i in (o * perOutput)..<((o + 1) * perOutput) { foldedWeight.scalars[i] *= scale }
            foldedBias.scalars[o] = ((convBias?.scalars[o] ?? 0) - runningMean.scalars[o]) * scale + bias.scalars[o]
        }
        return (foldedWeight, foldedBias)
    }
}

enum Normalization {
    /// The affine parameters as arrays of `channels` (ones and zeros when absent).
    static func affine(_ weight: Tensor?, _ bias: Tensor?, channels: Int, op: String) -> ([Float], [Float]) {
        if let weight { precondition(weight.shape == [channels], "\(op): weight \(weight.shape) does not match \(channels) channels") }
        if let bias { precondition(bias.shape == [channels], "\(op): bias \(bias.shape) does not match \(channels) channels") }
        return (weight?.scalars ?? [Float](repeating: 1, count: channels), bias?.scalars ?? [Float](repeating: 0, count: channels))
    }

    /// One row: mean, then the sum of squared deviations (two passes, vector lanes).
    @inline(__always)
    static func layerNormRow(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int,
        _ gamma: UnsafePointer<Float>, _ beta: UnsafePointer<Float>, _ eps: Float
    ) {
        let mean = sum(x, n) / Float(n)
        var squares = VectorMath.Vector(), i = 0
        while i + VectorMath.width <= n {
            let d = VectorMath.load(x + i) - mean
            squares += d * d
            i += VectorMath.width
        }
        var tail: Float = 0
        while i < n { let d = x[i] - mean; tail += d * d; i += 1 }
        let variance = (FastMath.laneSum(squares) + tail) / Float(n)
        let inverse = 1 / (variance + eps).squareRoot()
        i = 0
        while i + VectorMath.width <= n {
            VectorMath.store((VectorMath.load(x + i) - mean) * inverse * VectorMath.load(gamma + i) + VectorMath.load(beta + i), y + i)
            i += VectorMath.width
        }
        while i < n { y[i] = (x[i] - mean) * inverse * gamma[i] + beta[i]; i += 1 }
    }

    /// LayerNorm over `channels` rows `stride` apart, for `columns` adjacent positions.
    /// Loops run along the contiguous positions, so they vectorise.
    static func layerNormColumns(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, channels: Int, stride: Int, columns: Int,
        _ gamma: UnsafePointer<Float>, _ beta: UnsafePointer<Float>, _ eps: Float
    ) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * columns) { scratch in
            let mean = scratch.baseAddress!, inverse = mean + columns
            mean.update(repeating: 0, count: columns)
            inverse.update(repeating: 0, count: columns)
            for c in 0..<channels {
                let row = x + c * stride
                for j in 0..<columns { mean[j] += row[j] }
            }
            let scale = 1 / Float(channels)
            for j in 0..<columns { mean[j] *= scale }
            for c in 0..<channels {
                let row = x + c * stride
                for j in 0..<columns { let d = row[j] - mean[j]; inverse[j] += d * d }
            }
            for j in 0..<columns { inverse[j] = 1 / (inverse[j] * scale + eps).squareRoot() }
            for c in 0..<channels {
                let row = x + c * stride, out = y + c * stride, g = gamma[c], b = beta[c]
                for j in 0..<columns { out[j] = (row[j] - mean[j]) * inverse[j] * g + b }
            }
        }
    }

    /// Σ x[0..<n] with vector partial sums.
    @inline(__always)
    static func sum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var lanes = VectorMath.Vector(), i = 0
        while i + VectorMath.width <= n { lanes += VectorMath.load(x + i); i += VectorMath.width }
        var tail: Float = 0
        while i < n { tail += x[i]; i += 1 }
        return FastMath.laneSum(lanes) + tail
    }
}
