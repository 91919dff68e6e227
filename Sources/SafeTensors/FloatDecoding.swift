/// Exact conversions of the narrow float formats to `Float`.
///
/// Every BF16, F16 and F8_E4M3 value is representable in F32, so these conversions lose nothing.
public enum FloatDecoding {
    /// BF16 is the top half of an F32: shift the 16 bits into place.
    @inline(__always)
    public static func bf16(_ bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// IEEE binary16: `s eeeee mmmmmmmmmm`, bias 15, with subnormals, infinities and NaNs.
    @inline(__always)
    public static func f16(_ bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = Int((bits >> 10) & 0x1F)
        let mantissa = UInt32(bits & 0x3FF)
        switch exponent {
        case 0:
            // Subnormal (or zero): (−1)^s · 2^−14 · m/1024, exact in F32.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        case 31:
            // Infinity (m = 0) or NaN; keep the payload's top bits.
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        default:
            // Normal: rebias the exponent from 15 to 127 and widen the mantissa from 10 to 23 bits.
            return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
        }
    }

    /// OCP FP8 E4M3 ("E4M3FN", PyTorch `float8_e4m3fn`): `s eeee mmm`, bias 7, no infinities.
    /// `e = 0`: (−1)^s · 2^−6 · m/8; otherwise (−1)^s · 2^(e−7) · (1 + m/8), except `e = 15, m = 7`, which is NaN.
    @inline(__always)
    public static func f8e4m3(_ bits: UInt8) -> Float {
        f8e4m3Table[Int(bits)]
    }

    /// All 256 F8_E4M3 values, computed once from the definition above.
    public static let f8e4m3Table: [Float] = (0..<256).map { code in
        let negative = code & 0x80 != 0
        let exponent = (code >> 3) & 0xF
        let mantissa = code & 0x7
        let magnitude: Float
        if exponent == 15 && mantissa == 7 {
            return negative ? -Float.nan : Float.nan
        } else if exponent == 0 {
            magnitude = Float(mantissa) / 8 * 0x1p-6
        } else {
            magnitude = (1 + Float(mantissa) / 8) * Float(sign: .plus, exponent: exponent - 7, significand: 1)
        }
        return negative ? -magnitude : magnitude
    }
}
