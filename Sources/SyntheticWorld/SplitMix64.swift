/// Steele, Lea and Flood's SplitMix64: a small, fast generator whose output depends only on
/// its seed, so a world renders to the same bytes on every run and platform (Foundation's
/// generators promise neither).
public struct SplitMix64: Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// An independent stream for one item of one part of the world (say split 1, image 42):
    /// the parts are mixed into the seed, so streams never depend on the order work is done in.
    public init(seed: UInt64, stream parts: UInt64...) {
        var mixer = SplitMix64(seed: seed)
        var state = mixer.next()
        for part in parts {
            mixer = SplitMix64(seed: state ^ (part &* 0xD1B5_4A32_D192_ED03))
            state = mixer.next()
        }
        self.state = state
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform in [lower, upper).
    public mutating func uniform(_ lower: Double, _ upper: Double) -> Double { lower + (upper - lower) * unit() }

    /// Uniform in 0..<count (Lemire's multiply-shift; its bias is below 2⁻³² for our counts).
    public mutating func index(below count: Int) -> Int {
        precondition(count > 0, "index(below:) needs a positive count")
        return Int(next().multipliedFullWidth(by: UInt64(count)).high)
    }

    /// True with probability `p`.
    public mutating func chance(_ p: Double) -> Bool { unit() < p }

    /// `items` in a uniformly random order (Fisher–Yates).
    public mutating func shuffled<T>(_ items: [T]) -> [T] {
        var result = items
        for i in stride(from: result.count - 1, to: 0, by: -1) {
            result.swapAt(i, index(below: i + 1))
        }
        return result
    }
}
