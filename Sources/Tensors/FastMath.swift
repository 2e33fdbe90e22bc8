/// Vectorised transcendental functions for the kernels' inner loops.
///
/// libm's `expf` is a scalar call the compiler cannot vectorise; attention alone needs
/// hundreds of millions of exponentials per image, so kernels use these SIMD versions.
public enum FastMath {
    public typealias Vector = SIMD16<Float>

    /// e^x, within 2 ulp of `expf` over the float range (Cephes' polynomial after reducing
    /// x = n·ln2 + r, |r| ≤ ln2/2). Inputs below -87.3 (including -∞) give exactly 0;
    /// inputs above 88.7 saturate at about 1.6e38 (callers subtract a row maximum first).
    @inline(__always)
    public static func exp(_ x: Vector) -> Vector {
        let clamped = x.clamped(lowerBound: Vector(repeating: -87.3), upperBound: Vector(repeating: 88.7))
        let n = (clamped * 1.442_695_04).rounded(.toNearestOrEven)
        // Two-part ln2 keeps r exact enough for float.
        let r = clamped - n * 0.693_359_375 + n * 2.121_944_4e-4
        var p = Vector(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_59e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_12e-1
        let y = p * (r * r) + r + 1
        // 2^n assembled in the exponent bits.
        let exponent = SIMD16<Int32>(n) &+ 127
        let scale = unsafeBitCast(exponent &<< 23, to: Vector.self)
        var result = y * scale
        result.replace(with: 0, where: x .< -87.3)
        return result
    }

    /// Replaces each of `count` values at `pointer` by e^(value − shift) and returns their sum.
    /// This is the core of every softmax: `shift` is the row maximum.
    @inline(__always)
    public static func expSubtractingInPlace(_ pointer: UnsafeMutablePointer<Float>, count: Int, shift: Float) -> Float {
        var sums = Vector()
        var i = 0
        let shiftVector = Vector(repeating: shift)
        let raw = UnsafeMutableRawPointer(pointer)
        while i + Vector.scalarCount <= count {
            let value = raw.loadUnaligned(fromByteOffset: i * 4, as: Vector.self)
            let e = exp(value - shiftVector)
            raw.storeBytes(of: e, toByteOffset: i * 4, as: Vector.self)
            sums += e
            i += Vector.scalarCount
        }
        var total = sums.sum()
        if i < count {
            var tail = Vector(repeating: -.infinity)
            for j in i..<count { tail[j - i] = pointer[j] }
            let e = exp(tail - shiftVector)
            for j in i..<count { pointer[j] = e[j - i] }
            total += e.sum()
        }
        return total
    }

    /// Largest of `count` values at `pointer` (-∞ when empty).
    @inline(__always)
    public static func maximum(_ pointer: UnsafePointer<Float>, count: Int) -> Float {
        var best = Vector(repeating: -.infinity)
        var i = 0
        let raw = UnsafeRawPointer(pointer)
        while i + Vector.scalarCount <= count {
            best = pointwiseMax(best, raw.loadUnaligned(fromByteOffset: i * 4, as: Vector.self))
            i += Vector.scalarCount
        }
        var result = best.max()
        while i < count {
            result = Swift.max(result, pointer[i])
            i += 1
        }
        return result
    }

    /// pointer[i] *= factor for `count` values.
    @inline(__always)
    public static func scale(_ pointer: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
        var i = 0
        let raw = UnsafeMutableRawPointer(pointer)
        while i + Vector.scalarCount <= count {
            let value = raw.loadUnaligned(fromByteOffset: i * 4, as: Vector.self)
            raw.storeBytes(of: value * factor, toByteOffset: i * 4, as: Vector.self)
            i += Vector.scalarCount
        }
        while i < count {
            pointer[i] *= factor
            i += 1
        }
    }
}
