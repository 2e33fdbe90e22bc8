/// Vectorised transcendental functions for the kernels' inner loops.
///
/// libm's `expf` is a scalar call the compiler cannot vectorise; attention alone needs
/// hundreds of millions of exponentials per image, so kernels use these SIMD versions.
public enum FastMath {
    public typealias Vector = SIMD16<Float>

    /// e^x within 2 ulp of `expf` for normal results (Cephes' polynomial after reducing
    /// x = n·ln2 + r, |r| ≤ ln2/2). Inputs at or below -88 (including -∞) give exactly 0;
    /// inputs above 88.3 saturate near 2.2e38 (callers subtract a row maximum first).
    /// Written with plain arithmetic and bit casts only, so it compiles to straight vector code.
    @inline(__always)
    public static func exp(_ x: Vector) -> Vector {
        let clamped = pointwiseMin(pointwiseMax(x, Vector(repeating: -88)), Vector(repeating: 88.3))
        // Adding 1.5·2²³ rounds to the nearest integer and leaves it in the low mantissa bits.
        let shifted = Vector(repeating: 12_582_912).addingProduct(clamped, Vector(repeating: 1.442_695_04))
        let n = shifted - 12_582_912
        // Two-part ln2 keeps r exact enough for float.
        let r = clamped.addingProduct(n, Vector(repeating: -0.693_359_375)).addingProduct(n, Vector(repeating: 2.121_944_4e-4))
        // Horner steps as fused multiply-adds: half the instructions of separate ones.
        var p = Vector(repeating: 1.398_199_95e-3).addingProduct(r, Vector(repeating: 1.987_569_15e-4))
        p = Vector(repeating: 8.333_451_9e-3).addingProduct(p, r)
        p = Vector(repeating: 4.166_579_59e-2).addingProduct(p, r)
        p = Vector(repeating: 1.666_666_55e-1).addingProduct(p, r)
        p = Vector(repeating: 5.000_000_12e-1).addingProduct(p, r)
        let y = (r + 1).addingProduct(p, r * r)
        // 2^n assembled in the exponent bits; n = -127 (x ≤ -88) gives exactly 0.
        let integer = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
        return y * unsafeBitCast((integer &+ 127) &<< 23, to: Vector.self)
    }

    /// e^d for d ≤ 0 (a value minus its row's maximum) within 2e-7, with fewer instructions than
    /// `exp`: no upper clamp, and after reducing d = n·ln2 + r a degree-5 polynomial fitted for
    /// relative error (1 + r·q(r), so e^0 is exactly 1). d ≤ −88.3 (including −∞) gives exactly 0,
    /// NaN gives NaN.
    @inline(__always)
    public static func expOfNonPositive(_ d: Vector) -> Vector {
        // Not pointwiseMax, whose vmaxps turns NaN into −88.3: NaN must reach the softmax's sum.
        let clamped = d.replacing(with: -88.3, where: d .< -88.3)
        // Adding 1.5·2²³ rounds to the nearest integer and leaves it in the low mantissa bits.
        let shifted = Vector(repeating: 12_582_912).addingProduct(clamped, Vector(repeating: 1.442_695_04))
        let n = shifted - 12_582_912
        let r = clamped.addingProduct(n, Vector(repeating: -0.693_359_375)).addingProduct(n, Vector(repeating: 2.121_944_4e-4))
        var q = Vector(repeating: 4.189_872e-2).addingProduct(r, Vector(repeating: 8.262_875_5e-3))
        q = Vector(repeating: 0.166_680_92).addingProduct(q, r)
        q = Vector(repeating: 0.499_991_42).addingProduct(q, r)
        q = Vector(repeating: 0.999_999_52).addingProduct(q, r)
        let p = Vector(repeating: 1).addingProduct(q, r)
        // 2^n in the exponent bits: n + 127 = (bits − bits(1.5·2²³)) + 127; n = −127 gives 0.
        let biased = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &+ (127 - 0x4B40_0000)
        return p * unsafeBitCast(biased &<< 23, to: Vector.self)
    }

    /// Replaces each of `count` values at `pointer` by e^(value − shift) and returns their sum.
    /// This is the core of every softmax: `shift` is the row maximum, so no exponent is positive.
    @inline(__always)
    public static func expSubtractingInPlace(_ pointer: UnsafeMutablePointer<Float>, count: Int, shift: Float) -> Float {
        var sums = Vector()
        var i = 0
        let shiftVector = Vector(repeating: shift)
        let raw = UnsafeMutableRawPointer(pointer)
        while i + Vector.scalarCount <= count {
            let value = raw.loadUnaligned(fromByteOffset: i * 4, as: Vector.self)
            let e = expOfNonPositive(value - shiftVector)
            raw.storeBytes(of: e, toByteOffset: i * 4, as: Vector.self)
            sums += e
            i += Vector.scalarCount
        }
        var total = laneSum(sums)
        if i < count {
            var tail = Vector(repeating: -.infinity)
            for j in i..<count { tail[j - i] = pointer[j] }
            let e = expOfNonPositive(tail - shiftVector)
            for j in i..<count { pointer[j] = e[j - i] }
            total += laneSum(e)
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
            let value = raw.loadUnaligned(fromByteOffset: i * 4, as: Vector.self)
            // Not pointwiseMax: carried across iterations it compiles to a scalar loop.
            best.replace(with: value, where: value .> best)
            i += Vector.scalarCount
        }
        var result = largestLane(best)
        while i < count {
            result = Swift.max(result, pointer[i])
            i += 1
        }
        return result
    }

    /// The largest lane, by halving the vector: `SIMD.max()` compiles to a scalar compare per lane.
    @inline(__always)
    public static func largestLane(_ v: Vector) -> Float {
        var x8 = v.lowHalf
        x8.replace(with: v.highHalf, where: v.highHalf .> x8)
        var x4 = x8.lowHalf
        x4.replace(with: x8.highHalf, where: x8.highHalf .> x4)
        var x2 = x4.lowHalf
        x2.replace(with: x4.highHalf, where: x4.highHalf .> x2)
        return Swift.max(x2[0], x2[1])
    }

    /// The sum of the lanes, by halving the vector (`SIMD.sum()` adds lane by lane).
    @inline(__always)
    public static func laneSum(_ v: Vector) -> Float {
        let x8 = v.lowHalf + v.highHalf
        let x4 = x8.lowHalf + x8.highHalf
        let x2 = x4.lowHalf + x4.highHalf
        return x2[0] + x2[1]
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

    /// target[i] += source[i] + constant for `count` values (attention biases built from tables).
    @inline(__always)
    public static func add(_ source: UnsafePointer<Float>, plus constant: Float, to target: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        let from = UnsafeRawPointer(source), to = UnsafeMutableRawPointer(target)
        while i + Vector.scalarCount <= count {
            let sum = to.loadUnaligned(fromByteOffset: i * 4, as: Vector.self) + from.loadUnaligned(fromByteOffset: i * 4, as: Vector.self) + constant
            to.storeBytes(of: sum, toByteOffset: i * 4, as: Vector.self)
            i += Vector.scalarCount
        }
        while i < count {
            target[i] += source[i] + constant
            i += 1
        }
    }
}
