import Tensors

/// A layer whose trainable tensors can be listed and replaced under their checkpoint keys
/// (`decoder.layers.0.self_attn.in_proj_weight`), so training can update them in place and
/// write them back with the names the loader reads.
public protocol ParameterizedLayer: Sendable {
    /// Calls `body` with every parameter's full key (under `prefix`) and its storage, always in
    /// the same order. `body` may replace the tensor with one of the same shape.
    mutating func updateParameters(prefix: String, _ body: (String, inout Tensor) throws -> Void) rethrows
}

extension ParameterizedLayer {
    /// Every parameter under its full key, in `updateParameters` order.
    public func parameters(prefix: String = "") -> [(key: String, tensor: Tensor)] {
        var copy = self
        var result: [(key: String, tensor: Tensor)] = []
        copy.updateParameters(prefix: prefix) { key, tensor in result.append((key, tensor)) }
        return result
    }
}

extension ParameterizedLayer {
    /// A copy with every parameter zero: where a backward pass adds its gradients, under the
    /// same keys and in the same order as the layer's own parameters.
    public func zeroed() -> Self {
        var copy = self
        copy.updateParameters(prefix: "") { _, tensor in tensor = Tensor(shape: tensor.shape) }
        return copy
    }
}

/// `prefix.name`, or `name` at the root: the checkpoint's dotted key.
public func parameterKey(_ prefix: String, _ name: String) -> String {
    prefix.isEmpty ? name : prefix + "." + name
}
