/// A small, fast, seedable generator (SplitMix64, Steele, Lea & Flood 2014). Its whole state is
/// one counter: the n-th output is a mix of `seed + n·γ`, so the state can be saved and restored
/// exactly (`Codable`), and any output ahead can be computed directly, which lets workers fill
/// disjoint parts of one random tensor with the same numbers whatever the thread count.
public struct SplitMix64: RandomNumberGenerator, Sendable, Codable, Equatable {
    /// The counter after the outputs drawn so far; restoring it continues the same sequence.
    public var state: UInt64

    static let increment: UInt64 = 0x9E37_79B9_7F4A_7C15

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= Self.increment
        return Self.mix(state)
    }

    /// The output `offset` draws ahead (0: what `next()` returns now), without drawing.
    public func peek(ahead offset: UInt64) -> UInt64 {
        Self.mix(state &+ (offset &+ 1) &* Self.increment)
    }

    /// Moves past `count` outputs as if they had been drawn.
    public mutating func skip(_ count: UInt64) { state &+= count &* Self.increment }

    /// A uniform Float in [0, 1) from the top 24 bits of a draw (every value a multiple of 2⁻²⁴).
    public static func unitFloat(_ bits: UInt64) -> Float { Float(bits >> 40) * 0x1p-24 }

    @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Tensor {
    /// Uniform values in `range`, reproducible from `generator` (tests and benchmarks).
    public static func random<G: RandomNumberGenerator>(
        _ shape: [Int], in range: ClosedRange<Float> = -1...1, using generator: inout G
    ) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float.random(in: range, using: &generator) })
    }
}
