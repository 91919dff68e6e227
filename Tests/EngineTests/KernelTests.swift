import CKernels
import Foundation
import SafeTensors
import XCTest
@testable import Engine

/// The C linear kernels on every instruction-set path, dtype, token count and awkward width, against float64.
final class KernelTests: XCTestCase {
    /// `numerics: .fast` checks the fast path's contract instead: products of the weights with the activations
    /// rounded to BF16 (nearest even), f32 sums; block-scaled FP8 rows in the BF16 GEMM (AVX512_BF16, 16+ tokens)
    /// are first rounded to BF16 with their scale applied.
    private func check(dtype: ck_dtype, rows: Int, cols: Int, tokens: Int, isa: Int32, seed: UInt64,
                       blockScales: Bool = false, numerics: NumericMode = .exact) {
        var rng = SeededRandom(seed: seed)
        let values = rng.normals(rows * cols, std: 1)
        let x = rng.normals(tokens * cols, std: 1)
        let fast = numerics == .fast && (dtype == CK_BF16 || dtype == CK_F8E4M3)
        let fp8InBF16Gemm = fast && dtype == CK_F8E4M3 && blockScales && isa >= 3 && tokens >= 16 && cols % 2 == 0
        let xSeen = fast ? x.map { Float(bitPattern: UInt32(FloatEncoding.bf16($0)) << 16) } : x
        var bytes: [UInt8] = []
        var exact: [Double] = []           // the weights as the kernel must see them
        var scales: [Float] = []
        switch dtype {
        case CK_BF16:
            for v in values {
                let b = FloatEncoding.bf16(v)
                bytes += [UInt8(b & 0xff), UInt8(b >> 8)]
                exact.append(Double(Float(bitPattern: UInt32(b) << 16)))
            }
        case CK_F16:
            for v in values {
                let h = Float16(v)
                bytes += [UInt8(h.bitPattern & 0xff), UInt8(h.bitPattern >> 8)]
                exact.append(Double(Float(h)))
            }
        case CK_F8E4M3:
            // Per-row scales, or one per 128×128 block; codes cycle through every finite value (subnormals too).
            let gridCols = (cols + 127) / 128
            let scaleCount = blockScales ? ((rows + 127) / 128) * gridCols : rows
            for i in 0..<scaleCount { scales.append(Float(i + 1) / 64) }
            for i in 0..<values.count {
                let (code, value) = i % 3 == 0 ? F8.values[(i / 3 + Int(seed)) % F8.values.count]
                                                : (F8.encode(values[i] * 8), 0)
                bytes.append(code)
                let decoded = i % 3 == 0 ? value : F8.table[Int(code)]
                let r = i / cols, c = i % cols
                let scale = blockScales ? scales[(r / 128) * gridCols + c / 128] : scales[r]
                if fp8InBF16Gemm {
                    exact.append(Double(Float(bitPattern: UInt32(FloatEncoding.bf16(decoded * scale)) << 16)))
                } else {
                    exact.append(Double(decoded) * Double(scale))
                }
            }
        default:
            for v in values { withUnsafeBytes(of: v) { bytes += $0 }; exact.append(Double(v)) }
        }
        let storage = scales.isEmpty ? nil : FloatStorage(scales)
        let y: [Float] = bytes.withUnsafeBytes { raw in
            let kind = storage == nil ? CK_SCALE_NONE : blockScales ? CK_SCALE_BLOCK128 : CK_SCALE_ROW
            let w = WeightMatrix(name: "w", rows: rows, cols: cols, dtype: dtype, data: raw.baseAddress!,
                                 scales: storage, scaleKind: kind, numerics: numerics)
            return linear(w, x, tokens: tokens)
        }
        for t in 0..<tokens {
            for r in 0..<rows {
                var sum = 0.0, magnitude = 0.0
                for c in 0..<cols {
                    sum += exact[r * cols + c] * Double(xSeen[t * cols + c])
                    magnitude += abs(exact[r * cols + c] * Double(xSeen[t * cols + c]))
                }
                let error = abs(Double(y[t * rows + r]) - sum)
                XCTAssertLessThanOrEqual(error, 1e-6 * magnitude + 1e-6,
                    "\(numerics) dtype \(dtype.rawValue) isa \(isa) \(rows)×\(cols) T=\(tokens) row \(r) token \(t)")
                if error > 1e-6 * magnitude + 1e-6 { return }
            }
        }
    }

    func testEveryPathMatchesFloat64() {
        let best = ck_isa()
        defer { ck_set_isa(best) }
        var seed: UInt64 = 1
        for isa in Int32(0)...best {
            XCTAssertEqual(ck_set_isa(isa), isa)
            for dtype in [CK_F32, CK_BF16, CK_F16, CK_F8E4M3] {
                for (rows, cols) in [(7, 37), (64, 100), (130, 33), (48, 128)] {
                    for tokens in [1, 3, 8, 9, 20] {
                        check(dtype: dtype, rows: rows, cols: cols, tokens: tokens, isa: isa, seed: seed)
                        seed += 1
                    }
                }
            }
            for tokens in [1, 5, 17] {
                check(dtype: CK_F8E4M3, rows: 260, cols: 300, tokens: tokens, isa: isa, seed: seed, blockScales: true)
                check(dtype: CK_F8E4M3, rows: 136, cols: 384, tokens: tokens, isa: isa, seed: seed, blockScales: true)
                seed += 1
            }
        }
    }

    /// The fast path on every ISA (plain and AVX2 round the activations and use the exact kernels; AVX512_BF16
    /// uses vdpbf16ps rows kernels and the packed GEMM) against its float64 contract, including FP8 codes that
    /// are subnormal, widths that are not a multiple of 32, row counts not a multiple of 4 or 12, and token
    /// counts on both sides of the GEMM threshold and of its 32-token panels.
    func testFastPathMatchesRoundedActivationsOnEveryPath() {
        let best = ck_isa()
        defer { ck_set_isa(best) }
        var seed: UInt64 = 500
        for isa in Int32(0)...best {
            XCTAssertEqual(ck_set_isa(isa), isa)
            for dtype in [CK_BF16, CK_F8E4M3, CK_F32] {
                for (rows, cols) in [(7, 37), (64, 100), (29, 64), (130, 33), (50, 130)] {
                    for tokens in [1, 2, 3, 5, 8, 15, 16, 17, 33, 40] {
                        check(dtype: dtype, rows: rows, cols: cols, tokens: tokens, isa: isa, seed: seed, numerics: .fast)
                        seed += 1
                    }
                }
            }
            for tokens in [1, 4, 6, 17, 40] {
                check(dtype: CK_F8E4M3, rows: 260, cols: 300, tokens: tokens, isa: isa, seed: seed, blockScales: true,
                      numerics: .fast)
                check(dtype: CK_F8E4M3, rows: 136, cols: 384, tokens: tokens, isa: isa, seed: seed, blockScales: true,
                      numerics: .fast)
                seed += 1
            }
        }
    }

    /// Decode-sized batches (2–15 tokens: batched slots, MTP verification) give every token exactly the bits it gets
    /// alone, in both modes and on every ISA, for BF16 and FP8 (row and block scales).
    func testFewTokenProductsAreIdenticalToSingleTokenProducts() {
        let best = ck_isa()
        defer { ck_set_isa(best) }
        var rng = SeededRandom(seed: 4242)
        let rows = 37, cols = 300
        let bf16 = rng.normals(rows * cols, std: 1).flatMap { v -> [UInt8] in
            let b = FloatEncoding.bf16(v)
            return [UInt8(b & 0xff), UInt8(b >> 8)]
        }
        let f8 = (0..<rows * cols).map { _ in UInt8.random(in: 0...0x7e) | (Bool.random() ? 0x80 : 0) }
        let rowScales = FloatStorage((0..<rows).map { Float($0 + 1) / 32 })
        let blockScales = FloatStorage([0.5, 0.25, 2, 4, 1, 3])
        for isa in Int32(0)...best {
            ck_set_isa(isa)
            for numerics in NumericMode.allCases {
                for (bytes, dtype, scales, kind) in [(bf16, CK_BF16, nil, CK_SCALE_NONE), (f8, CK_F8E4M3, rowScales, CK_SCALE_ROW),
                                                     (f8, CK_F8E4M3, blockScales, CK_SCALE_BLOCK128)] as [([UInt8], ck_dtype, FloatStorage?, ck_scale_kind)] {
                    bytes.withUnsafeBytes { raw in
                        let w = WeightMatrix(name: "w", rows: rows, cols: cols, dtype: dtype, data: raw.baseAddress!,
                                             scales: scales, scaleKind: kind, numerics: numerics)
                        for tokens in [2, 3, 4, 5, 8, 15] {
                            let x = rng.normals(tokens * cols, std: 1)
                            let together = linear(w, x, tokens: tokens)
                            for t in 0..<tokens {
                                let alone = linear(w, Array(x[t * cols ..< (t + 1) * cols]), tokens: 1)
                                XCTAssertEqual(Array(together[t * rows ..< (t + 1) * rows]), alone,
                                               "isa \(isa) \(numerics) dtype \(dtype.rawValue) scale \(kind.rawValue) T=\(tokens) token \(t)")
                            }
                        }
                    }
                }
            }
        }
    }

    func testBatchedCallsEqualSingleCalls() {
        var rng = SeededRandom(seed: 99)
        let a = rng.normals(300 * 64, std: 1), b = rng.normals(17 * 64, std: 1)
        let x1 = rng.normals(64, std: 1), x3 = rng.normals(3 * 64, std: 1)
        a.withUnsafeBytes { ra in
            b.withUnsafeBytes { rb in
                let wa = WeightMatrix(name: "a", rows: 300, cols: 64, dtype: CK_F32, data: ra.baseAddress!)
                let wb = WeightMatrix(name: "b", rows: 17, cols: 64, dtype: CK_F32, data: rb.baseAddress!)
                let bias = rng.normals(17, std: 1)
                let batch = linearBatch([(wa, x1, 1, nil), (wb, x3, 3, bias), (wa, x3, 3, nil)])
                XCTAssertEqual(batch[0], linear(wa, x1, tokens: 1))
                XCTAssertEqual(batch[1], linear(wb, x3, tokens: 3, bias: bias))
                XCTAssertEqual(batch[2], linear(wa, x3, tokens: 3))
            }
        }
    }
}

/// The whole forward pass (linear and attention kernels) on every instruction-set path against a fixture.
final class KernelPathForwardTests: XCTestCase {
    func testFixtureLogitsOnEveryPath() throws {
        let best = ck_isa()
        defer { ck_set_isa(best) }
        let model = try Fixtures.model("tiny-air-bf16")
        let reference = try Fixtures.reference("tiny-air-bf16")
        let ids = try reference.ints("s64.input_ids")
        let expected = try reference.floats("s64.logits")
        for isa in Int32(0)...best {
            ck_set_isa(isa)
            let logits = try model.forward(ids, cache: model.makeCache(capacity: ids.count), logits: .all)
            let diff = maxAbsDifference(logits, expected)
            XCTAssertLessThanOrEqual(diff, 1e-4, "isa \(isa): max |Δlogits| = \(diff)")
        }
    }
}
