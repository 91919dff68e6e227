import CKernels
import Foundation
import XCTest
@testable import Engine

/// The q8 / q4 kernels (quant.h): every instruction-set path against the plain one, every format, odd shapes,
/// 1–8 tokens (streaming) and 20 (prefill: dequantised f32 tiles + sgemm, or BF16 tiles + the BF16 GEMM with
/// AVX512_BF16); the integer path against dequantise-then-f32
/// within the rounding of the activations' quantisation; the exact path against float64.
final class QuantKernelTests: XCTestCase {
    private struct Quantized {
        let dtype: ck_dtype
        let rows: Int, cols: Int
        let bytes: [UInt8]
        let dequantized: [Float]

        func withMatrix<R>(numerics: NumericMode, _ body: (WeightMatrix) -> R) -> R {
            bytes.withUnsafeBytes { raw in
                body(WeightMatrix(name: "w", rows: rows, cols: cols, dtype: dtype, data: raw.baseAddress!, numerics: numerics))
            }
        }
    }

    /// Quantises f32 weights with the C quantiser and reads them back with the C dequantiser.
    private func quantize(_ values: [Float], rows: Int, cols: Int, dtype: ck_dtype) -> Quantized {
        let rowBytes = QuantizationFormat.rowBytes(dtype, cols: cols)
        var bytes = [UInt8](repeating: 0xAA, count: rows * rowBytes)
        values.withUnsafeBytes { src in
            var m = ck_matrix(data: src.baseAddress, scale: nil, rows: Int64(rows), cols: Int64(cols),
                              dtype: Int32(CK_F32.rawValue), scale_kind: 0, exact: 1, group: 0, perm: nil)
            bytes.withUnsafeMutableBytes { ck_quantize_rows(Int32(dtype.rawValue), &m, 0, Int64(rows), $0.baseAddress) }
        }
        var dequantized = [Float](repeating: .nan, count: rows * cols)
        bytes.withUnsafeBytes { raw in
            var m = ck_matrix(data: raw.baseAddress, scale: nil, rows: Int64(rows), cols: Int64(cols),
                              dtype: Int32(dtype.rawValue), scale_kind: 0, exact: 1, group: 0, perm: nil)
            dequantized.withUnsafeMutableBufferPointer { ck_convert_rows(&m, 0, Int64(rows), $0.baseAddress) }
        }
        return Quantized(dtype: dtype, rows: rows, cols: cols, bytes: bytes, dequantized: dequantized)
    }

    private let shapes = [(7, 37), (64, 100), (130, 33), (48, 128), (5, 64), (3, 31), (9, 352)]

    func testDequantisedWeightsAreCloseAndScalesAreTheBlockRule() {
        var rng = SeededRandom(seed: 7)
        for dtype in [CK_Q8, CK_Q4] {
            for (rows, cols) in shapes {
                let w = rng.normals(rows * cols, std: 0.05)
                let q = quantize(w, rows: rows, cols: cols, dtype: dtype)
                for r in 0..<rows {
                    for b in stride(from: 0, to: cols, by: 32) {
                        let block = (b ..< min(b + 32, cols)).map { w[r * cols + $0] }
                        let amax = block.map(abs).max()!
                        // q8: error ≤ d/2 with d = amax/127 (f16-rounded); q4: within a step of about amax/7 (the
                        // least-squares scale may clip the largest weight a little).
                        let bound = dtype == CK_Q8 ? amax / 127 * 0.51 + 1e-7 : amax / 6 + 1e-7
                        for c in b ..< min(b + 32, cols) {
                            XCTAssertLessThanOrEqual(abs(q.dequantized[r * cols + c] - w[r * cols + c]), bound,
                                                     "dtype \(dtype.rawValue) \(rows)×\(cols) r \(r) c \(c)")
                        }
                    }
                }
            }
        }
    }

    func testQuantisationIsTheSameOnEveryPath() {
        let best = ck_isa()
        defer { ck_set_isa(best) }
        var rng = SeededRandom(seed: 11)
        let w = rng.normals(33 * 100, std: 1)
        for dtype in [CK_Q8, CK_Q4] {
            ck_set_isa(0)
            let plain = quantize(w, rows: 33, cols: 100, dtype: dtype).bytes
            for isa in Int32(1)...best {
                ck_set_isa(isa)
                XCTAssertEqual(quantize(w, rows: 33, cols: 100, dtype: dtype).bytes, plain, "isa \(isa)")
            }
        }
    }

    func testEveryPathAgainstPlainExactAndFloat64() {
        let best = ck_isa()
        defer { ck_set_isa(best) }
        var rng = SeededRandom(seed: 3)
        for dtype in [CK_Q8, CK_Q4] {
            for (rows, cols) in shapes {
                let q = quantize(rng.normals(rows * cols, std: 0.05), rows: rows, cols: cols, dtype: dtype)
                for tokens in [1, 2, 3, 4, 5, 6, 7, 8, 11, 20] {
                    // Activations with outliers, as real hidden states have.
                    var x = rng.normals(tokens * cols, std: 1)
                    for i in stride(from: 5, to: x.count, by: 41) { x[i] *= 12 }
                    ck_set_isa(0)
                    let plainFast = q.withMatrix(numerics: .fast) { linear($0, x, tokens: tokens) }
                    let plainExact = q.withMatrix(numerics: .exact) { linear($0, x, tokens: tokens) }
                    var magnitudes = [Double](repeating: 0, count: tokens * rows)
                    var sums = [Double](repeating: 0, count: tokens * rows)
                    for t in 0..<tokens {
                        for r in 0..<rows {
                            var sum = 0.0, magnitude = 0.0, roundingBound = 0.0
                            for b in stride(from: 0, to: cols, by: 32) {
                                let amax = (b ..< min(b + 32, cols)).map { Double(abs(x[t * cols + $0])) }.max()!
                                for c in b ..< min(b + 32, cols) {
                                    let wv = Double(q.dequantized[r * cols + c]), xv = Double(x[t * cols + c])
                                    sum += wv * xv
                                    magnitude += abs(wv * xv)
                                    roundingBound += abs(wv) * amax / 254      // half an activation step
                                }
                            }
                            let i = t * rows + r
                            magnitudes[i] = magnitude
                            sums[i] = sum
                            XCTAssertEqual(Double(plainExact[i]), sum, accuracy: 1e-5 * magnitude + 1e-6,
                                           "exact \(dtype.rawValue) \(rows)×\(cols) T=\(tokens)")
                            // The integer path is exact per block; only the activations' rounding differs (and
                            // sgemm's tiles for T ≥ 16 are dequantised f32 weights, so exact).
                            let bound = tokens >= 16 ? 1e-5 * magnitude + 1e-6 : roundingBound * 1.01 + 1e-5 * magnitude + 1e-6
                            XCTAssertEqual(Double(plainFast[i]), sum, accuracy: bound,
                                           "fast \(dtype.rawValue) \(rows)×\(cols) T=\(tokens)")
                        }
                    }
                    for isa in Int32(1)...best {
                        ck_set_isa(isa)
                        let fast = q.withMatrix(numerics: .fast) { linear($0, x, tokens: tokens) }
                        let exact = q.withMatrix(numerics: .exact) { linear($0, x, tokens: tokens) }
                        for i in fast.indices {
                            // Same products, another summation order.
                            let tolerance = Float(2e-6 * magnitudes[i] + 1e-7)
                            if isa >= 3 && tokens >= 16 {
                                // Prefill with AVX512_BF16: weights dequantised to BF16 and activations rounded
                                // to BF16 (each within 2^-9 relative), then the BF16 GEMM.
                                XCTAssertEqual(Double(fast[i]), sums[i], accuracy: magnitudes[i] / 200 + 1e-6,
                                               "isa \(isa) BF16 GEMM \(dtype.rawValue) \(rows)×\(cols) T=\(tokens) at \(i)")
                            } else {
                                XCTAssertEqual(fast[i], plainFast[i], accuracy: tolerance,
                                               "isa \(isa) fast \(dtype.rawValue) \(rows)×\(cols) T=\(tokens) at \(i)")
                            }
                            XCTAssertEqual(exact[i], plainExact[i], accuracy: tolerance,
                                           "isa \(isa) exact \(dtype.rawValue) \(rows)×\(cols) T=\(tokens) at \(i)")
                        }
                    }
                }
            }
        }
    }

    /// Rows split across chunks and tasks (ck_linear_many) give what one call per matrix gives.
    func testBatchedTasksMatchSingleCalls() {
        var rng = SeededRandom(seed: 5)
        let a = quantize(rng.normals(300 * 96, std: 0.05), rows: 300, cols: 96, dtype: CK_Q4)
        let b = quantize(rng.normals(70 * 96, std: 0.05), rows: 70, cols: 96, dtype: CK_Q8)
        let x1 = rng.normals(3 * 96, std: 1), x2 = rng.normals(1 * 96, std: 1)
        a.withMatrix(numerics: .fast) { wa in
            b.withMatrix(numerics: .fast) { wb in
                let batched = linearBatch([(wa, x1, 3, nil), (wb, x2, 1, nil), (wa, x2, 1, nil)])
                XCTAssertEqual(batched[0], linear(wa, x1, tokens: 3))
                XCTAssertEqual(batched[1], linear(wb, x2, tokens: 1))
                XCTAssertEqual(batched[2], linear(wa, x2, tokens: 1))
            }
        }
    }
}
