import Tensors

// Layers shared by the fusion head's files.

/// A PyTorch `nn.Linear`: weight [out, in], bias [out].
struct Linear: Sendable {
    let weight: Tensor
    let bias: Tensor

    init(_ scope: WeightLoader, inFeatures: Int, outFeatures: Int) throws {
        weight = try scope.tensor("weight", shape: [outFeatures, inFeatures])
        bias = try scope.tensor("bias", shape: [outFeatures])
    }

    init(weight: Tensor, bias: Tensor) {
        self.weight = weight
        self.bias = bias
    }

    func callAsFunction(_ x: Tensor) -> Tensor { x.linear(weight: weight, bias: bias) }
}

/// A PyTorch `nn.LayerNorm` over the last dimension (eps 1e-5, the default).
struct LayerNorm: Sendable {
    let weight: Tensor
    let bias: Tensor
    let eps: Float

    init(_ scope: WeightLoader, dim: Int, eps: Float = 1e-5) throws {
        weight = try scope.tensor("weight", shape: [dim])
        bias = try scope.tensor("bias", shape: [dim])
        self.eps = eps
    }

    func callAsFunction(_ x: Tensor) -> Tensor { x.layerNorm(weight: weight, bias: bias, eps: eps) }
}
