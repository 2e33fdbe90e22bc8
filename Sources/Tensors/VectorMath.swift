/// Vector loads and stores, and the special functions the activations need, built on
/// `FastMath.exp`.
enum VectorMath {
    typealias Vector = FastMath.Vector
    static let width = Vector.scalarCount

    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> Vector {
        UnsafeRawPointer(p).loadUnaligned(as: Vector.self)
    }

    @inline(__always) static func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vector.self)
    }

    /// |x| by clearing the sign bit.
    @inline(__always) static func magnitude(_ x: Vector) -> Vector {
        unsafeBitCast(unsafeBitCast(x, to: SIMD16<UInt32>.self) & 0x7FFF_FFFF, to: Vector.self)
    }

    /// σ(x) = 1/(1 + e^−x), from e = e^−|x| ≤ 1 so nothing overflows: σ = 1/(1+e) for x ≥ 0,
    /// e/(1+e) for x < 0. Accurate to a few ulp; results below ~1e-38 (x < −88) are 0.
    @inline(__always)
    static func sigmoid(_ x: Vector) -> Vector {
        let e = FastMath.exp(-magnitude(x))
        let positive = 1 / (1 + e)
        return positive.replacing(with: e * positive, where: x .< 0).replacing(with: x, where: x .!= x)
    }

    /// Φ(x) = P(N(0,1) ≤ x) = erfc(−x/√2)/2, within a few 1e-7 relative for every x whose
    /// result is a normal float (x ≳ −13.2; below that it is 0), including the far left tail
    /// where 1 + erf(x/√2) would cancel. Uses the Chebyshev fit erfc(z) = t·exp(−z² + P(t)),
    /// t = 1/(1 + z/2) (Numerical Recipes `erfcc`, fractional error < 1.2e-7), with z² = x²/2
    /// kept exact.
    @inline(__always)
    static func normalCDF(_ x: Vector) -> Vector {
        let ax = magnitude(x)
        let z = ax * 0.707_106_781_186_547_52
        let t = 1 / (1 + 0.5 * z)
        // Horner steps as fused multiply-adds.
        var p = Vector(repeating: 0.170_872_77)
        p = Vector(repeating: -0.822_152_23).addingProduct(p, t)
        p = Vector(repeating: 1.488_515_87).addingProduct(p, t)
        p = Vector(repeating: -1.135_203_98).addingProduct(p, t)
        p = Vector(repeating: 0.278_868_07).addingProduct(p, t)
        p = Vector(repeating: -0.186_288_06).addingProduct(p, t)
        p = Vector(repeating: 0.096_784_18).addingProduct(p, t)
        p = Vector(repeating: 0.374_091_96).addingProduct(p, t)
        p = Vector(repeating: 1.000_023_68).addingProduct(p, t)
        p = Vector(repeating: -1.265_512_23).addingProduct(p, t)
        // z² = x²/2 = head²/2 + (x − head)(x + head)/2, with head = x cut to 12 significant
        // bits so that head² is exact: rounding z² in float would cost 2z²·2⁻²⁴ relative error.
        let head = unsafeBitCast(unsafeBitCast(ax, to: SIMD16<UInt32>.self) & 0xFFFF_F000, to: Vector.self)
        let headSquare = 0.5 * head * head
        let rest = 0.5 * (ax - head) * (ax + head)
        var erfc = t * FastMath.exp(-headSquare) * FastMath.exp(p - rest)
        erfc.replace(with: 0, where: ax .> 30)  // also keeps ±∞ from producing ∞ − ∞
        let tail = 0.5 * erfc
        return (1 - tail).replacing(with: tail, where: x .< 0)
    }
}
