import Tensors

/// Inverted dropout as `nn.Dropout` applies it in training: each element kept with probability
/// 1 − p and scaled by 1/(1 − p), else zeroed. Masks come from a `SplitMix64` counter, element i
/// from the i-th draw ahead, so a mask is the same whatever the thread count, and saving the
/// generator's state resumes the exact sequence.
public enum DropoutMask {
    /// A mask of `shape` (0 or 1/(1 − p) per element); `generator` advances past its draws.
    public static func make(shape: [Int], probability: Float, generator: inout SplitMix64) -> Tensor {
        precondition((0..<1).contains(probability), "dropout probability must lie in [0, 1), got \(probability)")
        let count = shape.reduce(1, *), keep = 1 / (1 - probability)
        let source = generator
        generator.skip(UInt64(count))
        return Tensor(shape: shape) { out in
            guard let base = out.baseAddress else { return }
            Parallel.forEachChunk(count, minimumPerChunk: 1 << 14) { range in
                for i in range {
                    base[i] = SplitMix64.unitFloat(source.peek(ahead: UInt64(i))) < probability ? 0 : keep
                }
            }
        }
    }
}
