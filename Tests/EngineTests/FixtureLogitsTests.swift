import Foundation
import SafeTensors
import XCTest
@testable import Engine

/// Every fixture model against transformers' float32 references of the same weight dtype (fixtures README §5).
final class FixtureLogitsTests: XCTestCase {
    let tolerance: Float = 1e-4

    func testLogitsOfEverySequenceMatchReference() throws {
        for name in Fixtures.names {
            let model = try Fixtures.model(name)
            let reference = try Fixtures.reference(name)
            for sequence in ["s1", "s7", "s64"] {
                let ids = try reference.ints("\(sequence).input_ids")
                let expected = try reference.floats("\(sequence).logits")
                let cache = model.makeCache(capacity: ids.count)
                let logits = try model.forward(ids, cache: cache, logits: .all)
                let diff = maxAbsDifference(logits, expected)
                XCTAssertLessThanOrEqual(diff, tolerance, "\(name) \(sequence): max |Δlogits| = \(diff)")
                XCTAssertEqual(cache.count, ids.count)
            }
        }
    }

    func testGreedyTokensMatchReference() throws {
        for name in Fixtures.names {
            let model = try Fixtures.model(name)
            let reference = try Fixtures.reference(name)
            let prompt = try reference.ints("greedy.prompt_ids")
            let expected = try reference.ints("greedy.tokens")
            let expectedLogits = try reference.floats("greedy.logits")
            let vocab = model.config.vocabSize
            let cache = model.makeCache(capacity: prompt.count + expected.count)
            var logits = try model.forward(prompt, cache: cache)
            var generated: [Int32] = []
            for step in 0..<expected.count {
                let diff = maxAbsDifference(logits, Array(expectedLogits[step * vocab ..< (step + 1) * vocab]))
                XCTAssertLessThanOrEqual(diff, tolerance, "\(name) greedy step \(step): max |Δlogits| = \(diff)")
                let next = Int32(argmax(logits[...]))
                generated.append(next)
                if step + 1 < expected.count { logits = try model.forward([next], cache: cache) }
            }
            XCTAssertEqual(generated, expected, "\(name): greedy tokens")
        }
    }

    func testTokenByTokenDecodeMatchesWholeSequence() throws {
        for name in Fixtures.names {
            let model = try Fixtures.model(name)
            let reference = try Fixtures.reference(name)
            let ids = try reference.ints("s64.input_ids")
            let whole = try model.forward(ids, cache: model.makeCache(capacity: ids.count), logits: .all)
            let vocab = model.config.vocabSize
            let cache = model.makeCache(capacity: ids.count)
            // A prefill of 5 tokens, single tokens, a 20-token chunk on top of the cache (matrix paths with an
            // offset), a small batch of 3, then the rest one by one.
            var start = 0
            var chunks = [5] + Array(repeating: 1, count: 10) + [20, 3]
            chunks += Array(repeating: 1, count: ids.count - chunks.reduce(0, +))
            for size in chunks {
                let part = try model.forward(Array(ids[start ..< start + size]), cache: cache, logits: .all)
                let diff = maxAbsDifference(part, Array(whole[start * vocab ..< (start + size) * vocab]))
                XCTAssertLessThanOrEqual(diff, tolerance, "\(name): tokens \(start)..<\(start + size) differ by \(diff)")
                start += size
            }
            XCTAssertEqual(cache.count, ids.count)
        }
    }
}
