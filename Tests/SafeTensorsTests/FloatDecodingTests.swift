import Foundation
import XCTest
@testable import SafeTensors

/// The narrow float formats decode exactly.
final class FloatDecodingTests: XCTestCase {
    /// OCP E4M3FN from its definition, computed independently in Double with `pow`.
    private func referenceE4M3(_ code: Int) -> Double {
        let sign: Double = code & 0x80 != 0 ? -1 : 1
        let exponent = (code >> 3) & 0xF
        let mantissa = Double(code & 0x7)
        if exponent == 0xF && mantissa == 7 { return .nan }
        if exponent == 0 { return sign * pow(2, -6) * mantissa / 8 }
        return sign * pow(2, Double(exponent - 7)) * (1 + mantissa / 8)
    }

    func testAll256E4M3Codes() {
        for code in 0..<256 {
            let decoded = FloatDecoding.f8e4m3(UInt8(code))
            let expected = referenceE4M3(code)
            if expected.isNaN {
                XCTAssertTrue(decoded.isNaN, "code \(code)")
            } else {
                XCTAssertEqual(Double(decoded), expected, "code \(code)")
                XCTAssertEqual(decoded.sign == .minus, code & 0x80 != 0, "sign of code \(code)")
            }
        }
    }

    func testE4M3LandmarkValues() {
        XCTAssertEqual(FloatDecoding.f8e4m3(0x7E), 448)          // largest finite
        XCTAssertEqual(FloatDecoding.f8e4m3(0xFE), -448)
        XCTAssertEqual(FloatDecoding.f8e4m3(0x01), 0x1p-9)       // smallest subnormal
        XCTAssertEqual(FloatDecoding.f8e4m3(0x07), 7 * 0x1p-9)   // largest subnormal
        XCTAssertEqual(FloatDecoding.f8e4m3(0x08), 0x1p-6)       // smallest normal
        XCTAssertEqual(FloatDecoding.f8e4m3(0x38), 1)
        XCTAssertEqual(FloatDecoding.f8e4m3(0x78), 256)          // e = 15, m = 0 is finite: no infinities
        XCTAssertTrue(FloatDecoding.f8e4m3(0x7F).isNaN)
        XCTAssertTrue(FloatDecoding.f8e4m3(0xFF).isNaN)
        XCTAssertEqual(FloatDecoding.f8e4m3(0x80), 0)
        XCTAssertEqual(FloatDecoding.f8e4m3(0x80).sign, .minus)
        XCTAssertEqual(FloatDecoding.f8e4m3Table.filter(\.isNaN).count, 2)
        XCTAssertFalse(FloatDecoding.f8e4m3Table.contains(where: \.isInfinite))
    }

    func testBF16EdgeCases() {
        XCTAssertEqual(FloatDecoding.bf16(0x3F80), 1)
        XCTAssertEqual(FloatDecoding.bf16(0xC000), -2)
        XCTAssertEqual(FloatDecoding.bf16(0x7F80), .infinity)
        XCTAssertEqual(FloatDecoding.bf16(0xFF80), -.infinity)
        XCTAssertTrue(FloatDecoding.bf16(0x7FC0).isNaN)
        XCTAssertTrue(FloatDecoding.bf16(0xFF81).isNaN)
        XCTAssertEqual(FloatDecoding.bf16(0x0001), 0x1p-133)    // smallest subnormal
        XCTAssertEqual(FloatDecoding.bf16(0x0080), 0x1p-126)    // smallest normal
        XCTAssertEqual(FloatDecoding.bf16(0x7F7F), Float(bitPattern: 0x7F7F_0000))  // largest finite
        XCTAssertEqual(FloatDecoding.bf16(0x8000).sign, .minus)
        XCTAssertEqual(FloatDecoding.bf16(0x3E20), 0.15625)
    }

    func testBF16EncodingRoundsToNearestEven() {
        XCTAssertEqual(FloatEncoding.bf16(1), 0x3F80)
        XCTAssertEqual(FloatEncoding.bf16(1 + 0x1p-8), 0x3F80)              // tie → even (down)
        XCTAssertEqual(FloatEncoding.bf16(1 + 3 * 0x1p-8), 0x3F82)          // tie → even (up)
        XCTAssertEqual(FloatEncoding.bf16(1 + 0x1p-8 + 0x1p-20), 0x3F81)    // above the tie
        XCTAssertEqual(FloatEncoding.bf16(.infinity), 0x7F80)
        XCTAssertEqual(FloatEncoding.bf16(Float(bitPattern: 0x7F7F_FFFF)), 0x7F80) // rounds up to infinity
        XCTAssertTrue(FloatDecoding.bf16(FloatEncoding.bf16(.nan)).isNaN)
        XCTAssertTrue(FloatDecoding.bf16(FloatEncoding.bf16(Float(bitPattern: 0x7F80_0001))).isNaN) // low-payload NaN
        for bits in stride(from: 0, through: 0xFFFF, by: 1) where !FloatDecoding.bf16(UInt16(bits)).isNaN {
            XCTAssertEqual(FloatEncoding.bf16(FloatDecoding.bf16(UInt16(bits))), UInt16(bits))
        }
    }

    func testAllF16CodesAgainstFloat16() {
        for bits in 0...0xFFFF {
            let pattern = UInt16(bits)
            let decoded = FloatDecoding.f16(pattern)
            let expected = Float(Float16(bitPattern: pattern))
            if expected.isNaN {
                XCTAssertTrue(decoded.isNaN, "bits \(bits)")
            } else if decoded != expected || decoded.sign != expected.sign {
                XCTFail("bits \(String(bits, radix: 16)): \(decoded) != \(expected)")
            }
        }
        XCTAssertEqual(FloatDecoding.f16(0x0001), 0x1p-24)
        XCTAssertEqual(FloatDecoding.f16(0x7BFF), 65504)
        XCTAssertEqual(FloatDecoding.f16(0x7C00), .infinity)
        XCTAssertEqual(FloatDecoding.f16(0x8400), -0x1p-14)
    }
}
