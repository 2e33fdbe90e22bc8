/// Pointwise activations (PyTorch `nn.GELU`, CLIP's `QuickGELU`, `nn.ReLU`, `torch.sigmoid`).
/// Each returns a tensor of the same shape. They consume their input: applied to a temporary
/// (`conv(x).gelu()`), they work in place, with no second buffer to allocate and fill.
extension Tensor {
    /// GELU with the exact erf, x·Φ(x) (`nn.GELU()`, approximate="none").
    /// Accurate to a few 1e-7 relative; outputs below the float range (x ≲ −13) are 0.
    public consuming func gelu() -> Tensor { mapped(GELUKernel.self) }

    /// CLIP's QuickGELU, x·σ(1.702·x).
    public consuming func quickGelu() -> Tensor { mapped(QuickGELUKernel.self) }

    /// max(x, 0). NaN stays NaN, as in PyTorch.
    public consuming func relu() -> Tensor { mapped(ReLUKernel.self) }

    /// The gradient through `relu()` of self (its input): `upstream` where self > 0, else 0
    /// (PyTorch's threshold_backward: no gradient at 0).
    public func reluBackward(_ upstream: Tensor) -> Tensor {
        precondition(upstream.shape == shape, "reluBackward: gradient \(upstream.shape) for input \(shape)")
        return Tensor(shape: shape) { out in
            guard let o = out.baseAddress else { return }
            scalars.withUnsafeBufferPointer { x in
                upstream.withUnsafeBufferPointer { dy in
                    let (x, dy) = (x.baseAddress!, dy.baseAddress!)
                    Parallel.forEachChunk(count, minimumPerChunk: Pointwise.minimumPerWorker) { range in
                        for i in range { o[i] = x[i] > 0 ? dy[i] : 0 }
                    }
                }
            }
        }
    }

    /// σ(x) = 1 / (1 + e^−x).
    public consuming func sigmoid() -> Tensor { mapped(SigmoidKernel.self) }

    /// Applies `Kernel` to every scalar, a vector at a time, split over workers when large;
    /// in place when the storage is not shared.
    consuming func mapped<Kernel: PointwiseKernel>(_: Kernel.Type) -> Tensor {
        var result = self
        let count = result.count
        guard count > 0 else { return result }
        result.withUnsafeMutableBufferPointer { buffer in
            let values = buffer.baseAddress!
            Parallel.forEachChunk(count, minimumPerChunk: Pointwise.minimumPerWorker) { range in
                Pointwise.apply(Kernel.self, values + range.lowerBound, values + range.lowerBound, range.count)
            }
        }
        return result
    }
}

/// A function applied lane-wise to a vector of floats (a type, so calls specialise and inline).
protocol PointwiseKernel {
    static func apply(_ x: VectorMath.Vector) -> VectorMath.Vector
}

enum GELUKernel: PointwiseKernel {
    @inline(__always) static func apply(_ x: VectorMath.Vector) -> VectorMath.Vector { x * VectorMath.normalCDF(x) }
}

enum QuickGELUKernel: PointwiseKernel {
    @inline(__always) static func apply(_ x: VectorMath.Vector) -> VectorMath.Vector { x * VectorMath.sigmoid(1.702 * x) }
}

enum ReLUKernel: PointwiseKernel {
    @inline(__always) static func apply(_ x: VectorMath.Vector) -> VectorMath.Vector { x.replacing(with: 0, where: x .< 0) }
}

enum SigmoidKernel: PointwiseKernel {
    @inline(__always) static func apply(_ x: VectorMath.Vector) -> VectorMath.Vector { VectorMath.sigmoid(x) }
}

enum Pointwise {
    /// Scalars per worker below which a pointwise pass stays on one thread.
    static let minimumPerWorker = 1 << 15

    /// output[i] = Kernel(input[i]) for i in 0..<count; input and output may be the same buffer.
    @inline(__always)
    static func apply<Kernel: PointwiseKernel>(
        _: Kernel.Type, _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, _ count: Int
    ) {
        var i = 0
        while i + VectorMath.width <= count {
            let x = VectorMath.load(input + i)
            VectorMath.store(Kernel.apply(x), output + i)
            i += VectorMath.width
        }
        if i < count {
            var x = VectorMath.Vector()
            for lane in 0..<(count - i) { x[lane] = input[i + lane] }
            let y = Kernel.apply(x)
            for lane in 0..<(count - i) { output[i + lane] = y[lane] }
        }
    }
}
