import Foundation
import XCTest
@testable import Engine

/// Several sequences with their own caches in one forward equal separate forwards.
final class BatchedForwardTests: XCTestCase {
    func testBatchEqualsSeparateCalls() throws {
        for name in ["tiny-bf16", "tiny-air-f32"] {
            let model = try Fixtures.model(name)
            let reference = try Fixtures.reference(name)
            let a = try reference.ints("s64.input_ids"), b = try reference.ints("s7.input_ids")
            let c: [Int32] = [3, 1, 4, 1, 5]
            // Histories: A has 20 tokens cached, B 3, C none.
            func histories() throws -> (KVCache, KVCache, KVCache) {
                let ca = model.makeCache(capacity: 64), cb = model.makeCache(capacity: 64), cc = model.makeCache(capacity: 64)
                _ = try model.forward(Array(a[..<20]), cache: ca)
                _ = try model.forward(Array(b[..<3]), cache: cb)
                return (ca, cb, cc)
            }
            let (ba, bb, bc) = try histories()
            let batched = try model.forward(batch: [
                .init(tokens: [a[20]], cache: ba),
                .init(tokens: Array(b[3...]), cache: bb, logits: .all),
                .init(tokens: c, cache: bc, logits: .last),
            ])
            let (sa, sb, sc) = try histories()
            let separate = [try model.forward([a[20]], cache: sa), try model.forward(Array(b[3...]), cache: sb, logits: .all),
                            try model.forward(c, cache: sc)]
            XCTAssertEqual(batched.map(\.count), separate.map(\.count))
            for i in 0..<3 {
                let diff = maxAbsDifference(batched[i], separate[i])
                XCTAssertLessThanOrEqual(diff, 1e-4, "\(name) request \(i): max |Δ| = \(diff)")
            }
            XCTAssertEqual([ba.count, bb.count, bc.count], [21, 7, 5])
            // The batch's B logits also match the transformers reference for s7 positions 3...6.
            let V = model.config.vocabSize
            let expected = Array(try reference.floats("s7.logits")[3 * V ..< 7 * V])
            XCTAssertLessThanOrEqual(maxAbsDifference(batched[1], expected), 1e-4)
        }
    }

    func testInvalidBatchChangesNothing() throws {
        let model = try Fixtures.model("tiny-bf16")
        let one = model.makeCache(capacity: 8), two = model.makeCache(capacity: 8)
        XCTAssertThrowsError(try model.forward(batch: [.init(tokens: [1], cache: one), .init(tokens: [2], cache: one)]))
        XCTAssertThrowsError(try model.forward(batch: [.init(tokens: [1], cache: one), .init(tokens: [9999], cache: two)]))
        XCTAssertThrowsError(try model.forward(batch: []))
        XCTAssertEqual([one.count, two.count], [0, 0])
    }
}
