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

    public mutating func updateParameters(prefix: String, _ body: (String, inout Tensor) throws -> Void) rethrows {
        try body(parameterKey(prefix, "weight"), &weight)
        if var b = bias {
            try body(parameterKey(prefix, "bias"), &b)
            bias = b
        }
    }
}
