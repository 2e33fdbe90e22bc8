import Tensors

/// `nn.Dropout` in training: each element kept with probability 1 − p and scaled by 1/(1 − p),
/// else zeroed. Masks come from a `SplitMix64` counter, element i from the i-th draw ahead, so
/// a mask is the same whatever the thread count, and a saved generator state resumes the exact
/// sequence. Probability 0 (or evaluation) is the identity and draws nothing.
public struct Dropout: Sendable, Equatable {
    public let probability: Float

    public init(probability: Float) {
        precondition((0..<1).contains(probability), "dropout probability must lie in [0, 1), got \(probability)")
        self.probability = probability
    }

    public static let off = Dropout(probability: 0)

    /// A mask of `shape` (0 or 1/(1 − p) per element), or nil when p = 0; `generator` advances
    /// past its draws.
    public func mask(_ shape: [Int], generator: inout SplitMix64) -> Tensor? {
        guard probability > 0 else { return nil }
        let count = shape.reduce(1, *), keep = 1 / (1 - probability), probability = probability
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

    /// x times the mask (nil: x). The forward and the backward alike: the gradient of a product
    /// with a fixed mask is the upstream gradient times that mask.
    public static func apply(_ x: Tensor, mask: Tensor?) -> Tensor { mask.map { x * $0 } ?? x }
}
