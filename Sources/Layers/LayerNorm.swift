import Tensors

/// PyTorch `nn.LayerNorm` over the last dimension, with affine weight and bias (keys `weight`,
/// `bias`). `eps` differs between models (1e-5 is PyTorch's default, SAM's encoders use 1e-6),
/// so it is explicit. SAM's `LayerNorm2d` over the channels of [C, H, W] is this same operation
/// on the tokens of that image.
public struct LayerNorm: ParameterizedLayer {
    public var weight: Tensor
    public var bias: Tensor
    public let eps: Float

    public init(weight: Tensor, bias: Tensor, eps: Float = 1e-5) {
        precondition(weight.rank == 1 && bias.shape == weight.shape, "LayerNorm: weight \(weight.shape), bias \(bias.shape)")
        self.weight = weight
        self.bias = bias
        self.eps = eps
    }

    public init(_ loader: WeightLoader, dim: Int, eps: Float = 1e-5) throws {
        self.init(weight: try loader.tensor("weight", shape: [dim]), bias: try loader.tensor("bias", shape: [dim]), eps: eps)
    }

    public var dim: Int { weight.count }

    /// x [..., dim] → same shape.
    public func callAsFunction(_ x: Tensor) -> Tensor { x.layerNorm(weight: weight, bias: bias, eps: eps) }

    /// The backward of `callAsFunction` at input x: adds d weight and d bias into `gradients`,
    /// returns dx.
    public func backward(_ x: Tensor, outputGradient dy: Tensor, into gradients: inout LayerNorm) -> Tensor {
        let (dx, dWeight, dBias) = x.layerNormBackward(dy, weight: weight, eps: eps)
        gradients.weight += dWeight
        gradients.bias += dBias
        return dx
    }

    /// The norm as the fused feed-forward kernel takes it (norm → fc1 → activation → fc2).
    public var feedForwardNorm: FeedForward.Norm { FeedForward.Norm(weight: weight, bias: bias, eps: eps) }

    public mutating func updateParameters(prefix: String, _ body: (String, inout Tensor) throws -> Void) rethrows {
        try body(parameterKey(prefix, "weight"), &weight)
        try body(parameterKey(prefix, "bias"), &bias)
    }
}
