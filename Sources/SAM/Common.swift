import Foundation
import Layers
import Tensors

// Port of segment_anything/modeling/common.py plus the small layers every SAM module shares
// (Linear, LayerNorm and attention are the shared ones in Layers).
// Activations are kept in token layout [..., C] (channels last) wherever the reference permutes
// back and forth, so that linear layers and 1×1 convolutions are single GEMMs.

/// `common.MLPBlock`: lin1 → activation → lin2 (GELU in the image encoder, ReLU in the decoder),
/// always used as a residual, so it is applied as one: x += mlp(x).
struct MLPBlock: Sendable {
    let feedForward: FeedForward

    init(_ loader: WeightLoader, dim: Int, activation: FeedForward.Activation, norm: FeedForward.Norm? = nil) throws {
        let lin1 = try Linear(loader.scoped("lin1"), inputs: dim)
        let lin2 = try Linear(loader.scoped("lin2"), inputs: lin1.outputs, outputs: dim)
        feedForward = FeedForward(fc1Weight: lin1.weight, fc1Bias: lin1.bias, fc2Weight: lin2.weight, fc2Bias: lin2.bias,
                                  activation: activation, norm: norm)
    }

    /// x += mlp(norm(x)), with the norm given at load (if any).
    func addResidual(to x: inout Tensor) { feedForward.addResidual(to: &x) }
}

/// `mask_decoder.MLP`: `layers.{0..n-1}` with ReLU between them (optional sigmoid, unused by SAM).
struct MLP: Sendable {
    let layers: [Linear]

    init(_ loader: WeightLoader, inputs: Int) throws {
        var layers: [Linear] = []
        var width = inputs
        while loader.contains("layers.\(layers.count).weight") {
            let layer = try Linear(loader.scoped("layers").scoped(layers.count), inputs: width)
            layers.append(layer)
            width = layer.outputs
        }
        guard !layers.isEmpty else {
            throw SAMError.inconsistentWeights(key: loader.key("layers.0.weight"), reason: "MLP has no layers")
        }
        self.layers = layers
    }

    var outputs: Int { layers.last!.outputs }

    func callAsFunction(_ x: Tensor) -> Tensor {
        var x = x
        for (i, layer) in layers.enumerated() {
            x = layer(x)
            if i < layers.count - 1 { x = x.relu() }
        }
        return x
    }
}

/// tokens [H·W, C] → planes [C, H, W].
func tokensToPlanes(_ x: Tensor, height: Int, width: Int) -> Tensor {
    let channels = x.dim(-1), n = height * width
    precondition(x.count == n * channels, "tokensToPlanes: \(x.shape) is not \(height)×\(width) tokens")
    return x.reshaped([n, channels]).transposed().reshaped([channels, height, width])
}

/// planes [C, H, W] → tokens [H·W, C].
func planesToTokens(_ x: Tensor) -> Tensor {
    x.reshaped([x.shape[0], -1]).transposed()
}

/// The image encoders' neck (ViT and TinyViT alike): 1×1 conv (no bias) → LayerNorm2d → 3×3 conv
/// (pad 1, no bias) → LayerNorm2d, all eps 1e-6.
struct Neck: Sendable {
    let conv0: Tensor  // [out, C] (1×1 kernel)
    let norm1: LayerNorm
    let conv2: Tensor  // [out, out, 3, 3]
    let norm3: LayerNorm

    init(_ loader: WeightLoader, inputs: Int) throws {
        guard let shape = loader.shape(of: "0.weight"), shape.count == 4 else {
            throw SAMError.inconsistentWeights(key: loader.key("0.weight"), reason: "expected a [out, \(inputs), 1, 1] convolution")
        }
        let out = shape[0]
        conv0 = try loader.tensor("0.weight", shape: [out, inputs, 1, 1]).reshaped([out, inputs])
        norm1 = try LayerNorm(loader.scoped("1"), dim: out, eps: 1e-6)
        conv2 = try loader.tensor("2.weight", shape: [out, out, 3, 3])
        norm3 = try LayerNorm(loader.scoped("3"), dim: out, eps: 1e-6)
    }

    var outChannels: Int { conv0.shape[0] }

    /// tokens [g·g, C] → [out, g, g].
    func callAsFunction(_ x: Tensor, grid: Int) -> Tensor {
        let y = norm1(x.linear(weight: conv0))  // LayerNorm2d on tokens = LayerNorm over channels
        let planes = tokensToPlanes(y, height: grid, width: grid)  // [out, g, g]
        return planes.conv2d(weight: conv2, padding: 1).layerNorm2d(weight: norm3.weight, bias: norm3.bias, eps: 1e-6)
    }
}
