import CKernels
import Foundation
import XCTest
@testable import Engine

/// The group-affine integer kernels (Sources/CKernels/affine.h) on every instruction-set path against float64
/// products of the dequantised weights: 4 and 8 bits, group and per-channel blocks, act-order permutations,
/// 1–8 tokens (streaming) and more (f32 tiles through OpenBLAS).
final class AffineKernelTests: XCTestCase {
    private func randomStorage(rows: Int, cols: Int, bits: Int, group: Int, permuted: Bool,
                               rng: inout SeededRandom) -> AffineStorage {
        let storage = AffineStorage(rows: rows, cols: cols, bits: bits, groupSize: group)
        let levels = UInt64(1 << bits)
        for r in 0..<rows {
            for c in 0..<cols { storage.setCode(r, c, UInt32(rng.next() % levels)) }
            for g in 0..<cols / group {
                storage.setGroup(r, g, scale: rng.normal(0.05) + 0.06, bias: rng.normal(0.3))
            }
        }
        if permuted {
            var order = (0..<cols).map(Int32.init)
            for i in stride(from: cols - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
            storage.setPermutation(order)
        }
        return storage
    }

    private func check(rows: Int, cols: Int, bits: Int, group: Int, tokens: Int, permuted: Bool, seed: UInt64,
                       label: String) {
        var rng = SeededRandom(seed: seed)
        let storage = randomStorage(rows: rows, cols: cols, bits: bits, group: group, permuted: permuted, rng: &rng)
        let w = WeightMatrix(name: "w", affine: storage)
        let dense = storage.dequantized()
        let x = rng.normals(tokens * cols, std: 1)
        let y = linear(w, x, tokens: tokens)
        for t in 0..<tokens {
            for r in 0..<rows {
                var sum = 0.0, magnitude = 0.0
                for c in 0..<cols {
                    let p = Double(dense[r * cols + c]) * Double(x[t * cols + c])
                    sum += p
                    magnitude += abs(p)
                }
                let error = abs(Double(y[t * rows + r]) - sum)
                if error > 2e-6 * magnitude + 1e-6 {
                    XCTFail("\(label) \(rows)×\(cols) int\(bits) g\(group) T=\(tokens) perm=\(permuted): row \(r) token \(t) off by \(error)")
                    return
                }
            }
        }
    }

    func testEveryPathMatchesFloat64() {
        let best = ck_isa()
        defer { ck_set_isa(best) }
        var seed: UInt64 = 1
        for isa in Int32(0)...best {
            XCTAssertEqual(ck_set_isa(isa), isa)
            for bits in [4, 8] {
                for (rows, cols, group) in [(7, 64, 32), (33, 128, 64), (130, 256, 128), (5, 96, 96), (64, 384, 128)] {
                    for tokens in [1, 2, 3, 5, 8, 9, 20] {
                        check(rows: rows, cols: cols, bits: bits, group: group, tokens: tokens, permuted: seed % 3 == 0,
                              seed: seed, label: "isa \(isa)")
                        seed += 1
                    }
                }
            }
        }
    }

    func testSIMDPathsEqualPlainOnOddShapes() {
        let best = ck_isa()
        defer { ck_set_isa(best) }
        for (rows, cols, group, bits) in [(1, 32, 32, 4), (3, 160, 32, 8), (129, 224, 32, 4), (17, 640, 128, 8)] {
            for tokens in 1...8 {
                var rng = SeededRandom(seed: UInt64(rows * 1000 + tokens))
                let storage = randomStorage(rows: rows, cols: cols, bits: bits, group: group, permuted: tokens % 2 == 0, rng: &rng)
                let w = WeightMatrix(name: "w", affine: storage)
                let x = rng.normals(tokens * cols, std: 1)
                ck_set_isa(0)
                let plain = linear(w, x, tokens: tokens)
                for isa in Int32(1)...max(1, best) where isa <= best {
                    ck_set_isa(isa)
                    let fast = linear(w, x, tokens: tokens)
                    let scale = plain.map(abs).max() ?? 1
                    XCTAssertLessThanOrEqual(maxAbsDifference(fast, plain), 1e-5 * max(scale, 1),
                                             "isa \(isa) \(rows)×\(cols) int\(bits) T=\(tokens)")
                }
            }
        }
    }

    func testRowLookupDequantisesInInputOrder() {
        var rng = SeededRandom(seed: 5)
        let storage = randomStorage(rows: 4, cols: 64, bits: 4, group: 32, permuted: true, rng: &rng)
        let w = WeightMatrix(name: "w", affine: storage)
        let dense = storage.dequantized()
        var row = [Float](repeating: 0, count: 64)
        row.withUnsafeMutableBufferPointer { w.row(2, into: $0.baseAddress!) }
        XCTAssertEqual(row, Array(dense[128 ..< 192]))
        XCTAssertEqual(w.byteCount, 4 * 32 + 4 * 2 * 8 + 64 * 4)   // codes, (scale, bias) pairs, permutation
    }

    /// Fast mode rounds each (token, group) block of activations to int8. Every ISA path (VNNI integer dot products
    /// where available, the exact kernels on the rounded activations elsewhere) gives the same products, and they stay
    /// within the rounding of the activations of the exact result.
    func testFastModeIsTheSameOnEveryPathAndCloseToExact() {
        let best = ck_isa()
        defer { ck_set_isa(best) }
        var seed: UInt64 = 500
        for bits in [4, 8] {
            for (rows, cols, group) in [(9, 128, 64), (40, 256, 128), (6, 192, 192), (12, 128, 32)] {
                for tokens in [1, 2, 3, 4, 8] {
                    var rng = SeededRandom(seed: seed)
                    seed += 1
                    let storage = randomStorage(rows: rows, cols: cols, bits: bits, group: group, permuted: seed % 2 == 0, rng: &rng)
                    let exact = WeightMatrix(name: "w", affine: storage, numerics: .exact)
                    let fast = WeightMatrix(name: "w", affine: storage, numerics: .fast)
                    let x = rng.normals(tokens * cols, std: 1)
                    let reference = linear(exact, x, tokens: tokens)
                    let magnitude = Double(reference.map(abs).max() ?? 1) + 1
                    ck_set_isa(0)
                    let plain = linear(fast, x, tokens: tokens)
                    for isa in Int32(0)...best {
                        ck_set_isa(isa)
                        let y = linear(fast, x, tokens: tokens)
                        XCTAssertLessThanOrEqual(Double(maxAbsDifference(y, plain)), 1e-5 * magnitude,
                                                 "isa \(isa) int\(bits) \(rows)×\(cols) g\(group) T=\(tokens): fast paths differ")
                    }
                    let error = Double(maxAbsDifference(plain, reference))
                    XCTAssertLessThanOrEqual(error, 0.03 * magnitude, "int\(bits) g\(group) T=\(tokens): fast vs exact")
                    XCTAssertGreaterThan(error, 0, "fast mode must round the activations")
                }
            }
        }
    }
}
