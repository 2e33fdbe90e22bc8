extension Tensor {
    /// Uniform values in `range`, reproducible from `generator` (tests and benchmarks).
    public static func random<G: RandomNumberGenerator>(
        _ shape: [Int], in range: ClosedRange<Float> = -1...1, using generator: inout G
    ) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float.random(in: range, using: &generator) })
    }
}
