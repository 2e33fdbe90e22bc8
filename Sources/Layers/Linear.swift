import Tensors

/// PyTorch `nn.Linear`: y = x·Wᵀ + b, weight [out, in], optional bias [out]. Keys `weight`, `bias`.
public struct Linear: ParameterizedLayer {
    public var weight: Tensor
    public var bias: Tensor?

    public init(weight: Tensor, bias: Tensor?) {
        precondition(weight.rank == 2, "Linear: weight must be [out, in], got \(weight.shape)")
        if let bias { precondition(bias.shape == [weight.dim(0)], "Linear: bias \(bias.shape) does not fit weight \(weight.shape)") }
        self.weight = weight
        self.bias = bias
    }

    /// Loads `weight` (and `bias`) under `loader`. Widths not given are read from the stored
    /// weight's shape; given ones are checked against it. `bias: false` makes the bias optional.
    public init(_ loader: WeightLoader, inputs: Int? = nil, outputs: Int? = nil, bias hasBias: Bool = true) throws {
        let stored = loader.shape(of: "weight")
        let outCount = outputs ?? stored?.first ?? 0
        let inCount = inputs ?? stored?.last ?? 0
        weight = try loader.tensor("weight", shape: [outCount, inCount])
        bias = hasBias ? try loader.tensor("bias", shape: [outCount]) : try loader.optionalTensor("bias", shape: [outCount])
    }

    public var inputs: Int { weight.dim(1) }
    public var outputs: Int { weight.dim(0) }

    /// x [..., in] → [..., out].
    public func callAsFunction(_ x: Tensor) -> Tensor { x.linear(weight: weight, bias: bias) }

    /// Output features `range` only (rows of the weight), without copying the weight: how a
    /// packed projection computes one of its parts.
    public func callAsFunction(_ x: Tensor, outputs range: Range<Int>) -> Tensor {
        x.linear(weight: weight, bias: bias, outputRows: range)
    }

    /// y += x·Wᵀ + b: a residual connection through this layer, with no temporary.
    public func addResidual(_ x: Tensor, to y: inout Tensor) { y.addLinear(x, weight: weight, bias: bias) }

    // MARK: Backward

    /// Adds the parameters' gradients of y = x·Wᵀ + b into `gradients` (a Linear of the same
    /// shape): dW += dyᵀ·x and db += Σ_rows dy, for output features `range` only (rows of a
    /// packed weight; dy then has range.count columns). `includeBias: false` leaves db alone.
    public func accumulateGradients(input x: Tensor, outputGradient dy: Tensor, into gradients: inout Linear,
                                    outputs range: Range<Int>? = nil, includeBias: Bool = true) {
        let range = range ?? 0..<outputs
        let rows = dy.count / max(1, range.count)
        precondition(dy.dim(-1) == range.count && x.dim(-1) == inputs && x.count == rows * inputs && gradients.weight.shape == weight.shape,
                     "Linear backward: input \(x.shape), gradient \(dy.shape) for outputs \(range) of \(weight.shape)")
        guard rows > 0 else { return }
        x.withUnsafeBufferPointer { a in
            dy.withUnsafeBufferPointer { g in
                gradients.weight.withUnsafeMutableBufferPointer { w in
                    GEMM.sgemm(m: range.count, n: inputs, k: rows, a: g.baseAddress!, lda: range.count, transA: true,
                               b: a.baseAddress!, ldb: inputs, c: w.baseAddress! + range.lowerBound * inputs, ldc: inputs, beta: 1)
                }
            }
        }
        guard includeBias, gradients.bias != nil else { return }
        let sums = dy.columnSums()
        gradients.bias!.withUnsafeMutableBufferPointer { b in
            for (j, v) in sums.scalars.enumerated() { b[range.lowerBound + j] += v }
        }
    }

    /// dx = dy·W for output features `range` (dy [..., range.count]) → [..., in].
    public func inputGradient(_ dy: Tensor, outputs range: Range<Int>? = nil) -> Tensor {
        let range = range ?? 0..<outputs
        precondition(dy.dim(-1) == range.count, "Linear backward: gradient \(dy.shape) for outputs \(range) of \(weight.shape)")
        let rows = dy.count / max(1, range.count)
        return Tensor(shape: Array(dy.shape.dropLast()) + [inputs]) { out in
            guard rows > 0, inputs > 0 else { return }
            guard !range.isEmpty else { out.update(repeating: 0); return }
            dy.withUnsafeBufferPointer { g in
                weight.withUnsafeBufferPointer { w in
                    GEMM.sgemm(m: rows, n: inputs, k: range.count, a: g.baseAddress!, lda: range.count,
                               b: w.baseAddress! + range.lowerBound * inputs, ldb: inputs, c: out.baseAddress!, ldc: inputs)
                }
            }
        }
    }

    /// The layer's backward: adds dW and db into `gradients`, returns dx.
    public func backward(_ x: Tensor, outputGradient dy: Tensor, into gradients: inout Linear) -> Tensor {
        accumulateGradients(input: x, outputGradient: dy, into: &gradients)
        return inputGradient(dy)
    }

    public mutating func updateParameters(prefix: String, _ body: (String, inout Tensor) throws -> Void) rethrows {
        try body(parameterKey(prefix, "weight"), &weight)
        if bias != nil { try body(parameterKey(prefix, "bias"), &bias!) }
    }
}
