import Foundation

/// Element types found in weight files, named as safetensors names them. Everything is
/// converted to Float32 on load: floats exactly (F16/BF16 widen losslessly), integers and
/// booleans by value (I64 beyond 2^24 rounds, which only matters for counters nobody computes with).
public enum TensorDType: String, Sendable, CaseIterable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8"
    case u64 = "U64", u32 = "U32", u16 = "U16", u8 = "U8", bool = "BOOL"

    public var byteSize: Int {
        switch self {
        case .f64, .i64, .u64: return 8
        case .f32, .i32, .u32: return 4
        case .f16, .bf16, .i16, .u16: return 2
        case .i8, .u8, .bool: return 1
        }
    }

    public var isFloatingPoint: Bool { self == .f32 || self == .f16 || self == .bf16 || self == .f64 }

    /// Converts `count` little-endian elements at `source` (any alignment) to Float.
    public func convert(_ source: UnsafeRawPointer, count: Int, to destination: UnsafeMutablePointer<Float>) {
        switch self {
        case .f32:
            memcpy(destination, source, count * 4)
        case .f16:
            for i in 0..<count { destination[i] = Half.toFloat(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .bf16:
            for i in 0..<count {
                destination[i] = Float(bitPattern: UInt32(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
            }
        case .f64:
            for i in 0..<count { destination[i] = Float(source.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
        case .i64:
            for i in 0..<count { destination[i] = Float(source.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)) }
        case .i32:
            for i in 0..<count { destination[i] = Float(source.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
        case .i16:
            for i in 0..<count { destination[i] = Float(source.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)) }
        case .u64:
            for i in 0..<count { destination[i] = Float(source.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)) }
        case .u32:
            for i in 0..<count { destination[i] = Float(source.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)) }
        case .u16:
            for i in 0..<count { destination[i] = Float(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .i8:
            for i in 0..<count { destination[i] = Float(source.load(fromByteOffset: i, as: Int8.self)) }
        case .u8:
            for i in 0..<count { destination[i] = Float(source.load(fromByteOffset: i, as: UInt8.self)) }
        case .bool:
            for i in 0..<count { destination[i] = source.load(fromByteOffset: i, as: UInt8.self) != 0 ? 1 : 0 }
        }
    }
}

/// IEEE half and bfloat16 bit conversions, written out so they behave the same on every
/// platform (Swift's Float16 is unavailable on Intel macOS). Rounding is to nearest even,
/// as numpy's and PyTorch's casts do.
public enum Half {
    @inline(__always)
    public static func toFloat(_ h: UInt16) -> Float {
        let sign: UInt32 = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1f
        let mantissa = UInt32(h & 0x3ff)
        if exponent == 0 {
            // Zero or subnormal: mantissa × 2^-24, exact in Float.
            let magnitude = Float(mantissa) * (1.0 / 16_777_216.0)
            return sign != 0 ? -magnitude : magnitude
        }
        if exponent == 31 { return Float(bitPattern: sign | 0x7f80_0000 | (mantissa << 13)) }
        return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
    }

    public static func fromFloat(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        let sign = UInt16((bits >> 16) & 0x8000)
        let exponent = Int((bits >> 23) & 0xff)
        var mantissa = bits & 0x7f_ffff
        if exponent == 255 { return sign | (mantissa != 0 ? 0x7e00 : 0x7c00) }
        let halfExponent = exponent - 127 + 15
        if halfExponent >= 31 { return sign | 0x7c00 }
        if halfExponent <= 0 {
            // Subnormal half (or zero): shift the full significand into units of 2^-24.
            if halfExponent < -10 { return sign }
            mantissa |= 0x80_0000
            let shift = UInt32(14 - halfExponent)
            var half = mantissa >> shift
            let remainder = mantissa & ((1 << shift) - 1)
            let halfway: UInt32 = 1 << (shift - 1)
            if remainder > halfway || (remainder == halfway && half & 1 == 1) { half += 1 }
            return sign | UInt16(half)
        }
        var half = UInt32(halfExponent) << 10 | (mantissa >> 13)
        let remainder = mantissa & 0x1fff
        // A carry out of the mantissa bumps the exponent, up to infinity: that is the correct rounding.
        if remainder > 0x1000 || (remainder == 0x1000 && half & 1 == 1) { half += 1 }
        return sign | UInt16(half)
    }

    public static func bfloat16(from value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(bits >> 16) | 0x40 }
        let rounded = bits &+ 0x7fff &+ ((bits >> 16) & 1)
        return UInt16(rounded >> 16)
    }
}
