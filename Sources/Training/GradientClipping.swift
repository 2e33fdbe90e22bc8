import Layers
import Tensors

/// `torch.nn.utils.clip_grad_norm_` over the full model, as RegionSpot clips
/// (SOLVER.CLIP_GRADIENTS, CLIP_TYPE "full_model", CLIP_VALUE 1.0, NORM_TYPE 2).
public enum GradientClipping {
    /// The L2 norm of all gradients together (returned, before clipping); when it exceeds
    /// `maxNorm` every gradient is scaled by maxNorm / (norm + 1e-6), as PyTorch does.
    @discardableResult
    public static func clipByGlobalNorm<Model: ParameterizedLayer>(_ gradients: inout Model, maxNorm: Double) -> Double {
        let norm = gradients.parameters().reduce(0) { $0 + sumOfSquares($1.tensor) }.squareRoot()
        let coefficient = maxNorm / (norm + 1e-6)
        if coefficient < 1 {
            let factor = Float(coefficient)
            gradients.updateParameters(prefix: "") { _, gradient in
                gradient.withUnsafeMutableBufferPointer { g in
                    if let base = g.baseAddress { FastMath.scale(base, count: g.count, by: factor) }
                }
            }
        }
        return norm
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
