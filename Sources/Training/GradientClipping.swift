import Layers
import Tensors

/// `torch.nn.utils.clip_grad_norm_` over the full model, as RegionSpot clips
/// (SOLVER.CLIP_GRADIENTS, CLIP_TYPE "full_model", CLIP_VALUE 1.0, NORM_TYPE 2).
public enum GradientClipping {
    /// The L2 norm of all gradients together, before clipping.
    public static func globalNorm<Model: ParameterizedLayer>(_ gradients: Model) -> Double {
        gradients.parameters().reduce(0) { $0 + sumOfSquares($1.tensor) }.squareRoot()
    }

    /// What every gradient is multiplied by: maxNorm / (norm + 1e-6) when that is below 1, else
    /// 1, as PyTorch does. `AdamW.step` applies it as it reads each gradient, which spares a
    /// pass over all of them (the same float products as scaling first).
    public static func coefficient(norm: Double, maxNorm: Double) -> Float {
        Float(min(1, maxNorm / (norm + 1e-6)))
    }

    /// Σ v² in Double over fixed blocks summed in order: the same value at any thread count.
    static func sumOfSquares(_ tensor: Tensor) -> Double {
        let block = 1 << 14, blocks = (tensor.count + block - 1) / block
        var partial = [Double](repeating: 0, count: blocks)
        tensor.withUnsafeBufferPointer { values in
            partial.withUnsafeMutableBufferPointer { partial in
                let partial = partial.baseAddress!
                Parallel.forEach(blocks) { b in
                    var sum = 0.0
                    for v in values[(b * block)..<min(values.count, (b + 1) * block)] { sum += Double(v) * Double(v) }
                    partial[b] = sum
                }
            }
        }
        return partial.reduce(0, +)
    }
}
