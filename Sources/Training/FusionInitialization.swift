import Foundation
import Layers
import RegionSpot
import Tensors

/// A fusion module initialised as PyTorch initialises these layers when RegionSpot builds it
/// (no custom init in regionspot.py or decoder.py), drawn from a seed:
/// - `nn.Linear.reset_parameters`: weight kaiming_uniform_(a=√5), which is U(±1/√fan_in), and
///   bias U(±1/√fan_in) (to_clip, projector, linear1/2, and each attention's out_proj weight);
/// - `nn.MultiheadAttention._reset_parameters`: in_proj_weight xavier_uniform_,
///   U(±√(6/(fan_in + fan_out))) over [3D, D], in_proj_bias and out_proj.bias zero;
/// - `nn.LayerNorm`: weight ones, bias zeros.
extension RegionSpotModel {
    public static func pytorchDefault(config: FusionConfig, seed: UInt64) throws -> RegionSpotModel {
        // Its own stream of the seed, apart from the one dropout masks come from.
        var generator = SplitMix64(seed: seed ^ 0x1A17_5EED_0F00_D000)
        var tensors: [String: Tensor] = [:]
        func uniform(_ shape: [Int], bound: Float) -> Tensor {
            Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in (2 * SplitMix64.unitFloat(generator.next()) - 1) * bound })
        }
        func linear(_ key: String, inputs: Int, outputs: Int) {
            let bound = 1 / Float(inputs).squareRoot()
            tensors[key + ".weight"] = uniform([outputs, inputs], bound: bound)
            tensors[key + ".bias"] = uniform([outputs], bound: bound)
        }
        func attention(_ key: String, dim: Int) {
            tensors[key + ".in_proj_weight"] = uniform([3 * dim, dim], bound: (6 / Float(dim + 3 * dim)).squareRoot())
            tensors[key + ".in_proj_bias"] = Tensor(shape: [3 * dim])
            tensors[key + ".out_proj.weight"] = uniform([dim, dim], bound: 1 / Float(dim).squareRoot())
            tensors[key + ".out_proj.bias"] = Tensor(shape: [dim])
        }
        func layerNorm(_ key: String, dim: Int) {
            tensors[key + ".weight"] = Tensor(shape: [dim], repeating: 1)
            tensors[key + ".bias"] = Tensor(shape: [dim])
        }
        let d = config.dModel
        linear("to_clip", inputs: config.tokenDim, outputs: d)
        for layer in 0..<config.layers {
            let key = "decoder.layers.\(layer)"
            attention(key + ".self_attn", dim: d)
            attention(key + ".multihead_attn", dim: d)
            linear(key + ".linear1", inputs: d, outputs: config.feedForward)
            linear(key + ".linear2", inputs: config.feedForward, outputs: d)
            for norm in 1...3 { layerNorm(key + ".norm\(norm)", dim: d) }
        }
        layerNorm("decoder.norm", dim: d)
        linear("projector", inputs: d, outputs: config.textDim)
        return try RegionSpotModel(weights: WeightLoader(tensors: tensors), config: config)
    }
}
