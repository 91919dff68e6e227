import Foundation
import SafeTensors
import XCTest
@testable import Engine

/// The MTP layer against the fixtures' `mtp.sN.*` references (fixtures README §5.5): both the vLLM variant
/// (embedding zeroed at position 0) and the unmasked one, whole-sequence and row by row with the MTP cache.
final class MTPTests: XCTestCase {
    func testMTPLogitsMatchReference() throws {
        for name in ["tiny-bf16", "tiny-air-f32"] {
            let model = try Fixtures.model(name)
            XCTAssertTrue(model.hasMTP)
            let reference = try Fixtures.reference(name)
            let V = model.config.vocabSize, H = model.config.hiddenSize
            for sequence in ["s7", "s64"] {
                let ids = try reference.ints("\(sequence).input_ids")
                let main = try model.forwardWithHidden(ids, cache: model.makeCache(capacity: ids.count), logits: .all)
                XCTAssertLessThanOrEqual(maxAbsDifference(main.hidden, try reference.floats("\(sequence).hidden_postnorm")), 1e-4)
                let mtpIDs = try reference.ints("mtp.\(sequence).input_ids")
                for (variant, zero) in [("vllm", true), ("nomask", false)] {
                    let expected = try reference.floats("mtp.\(sequence).logits_\(variant)")
                    let whole = try model.mtpForward(mtpIDs, hidden: main.hidden, cache: model.makeMTPCache(capacity: ids.count),
                                                     zeroEmbeddingAtPositionZero: zero)
                    let diff = maxAbsDifference(whole.logits, expected)
                    XCTAssertLessThanOrEqual(diff, 1e-4, "\(name) \(sequence) \(variant): max |Δ| = \(diff)")
                    XCTAssertLessThanOrEqual(maxAbsDifference(whole.output, try reference.floats("mtp.\(sequence).hidden_\(variant)")), 1e-4)
                    guard sequence == "s7" else { continue }
                    // Row by row with the MTP cache gives the same rows.
                    let cache = model.makeMTPCache(capacity: ids.count)
                    for i in mtpIDs.indices {
                        let row = try model.mtpForward([mtpIDs[i]], hidden: Array(main.hidden[i * H ..< (i + 1) * H]),
                                                       cache: cache, zeroEmbeddingAtPositionZero: zero)
                        let rowDiff = maxAbsDifference(row.logits, Array(expected[i * V ..< (i + 1) * V]))
                        XCTAssertLessThanOrEqual(rowDiff, 1e-4, "\(name) \(variant) row \(i): max |Δ| = \(rowDiff)")
                    }
                }
            }
        }
    }

    func testMTPCallsAreChecked() throws {
        let model = try Fixtures.model("tiny-bf16")
        let H = model.config.hiddenSize
        XCTAssertThrowsError(try model.mtpForward([1], hidden: [Float](repeating: 0, count: H), cache: model.makeCache(capacity: 4)))
        XCTAssertThrowsError(try model.mtpForward([1], hidden: [0], cache: model.makeMTPCache(capacity: 4)))
        XCTAssertThrowsError(try model.forward([1], cache: model.makeMTPCache(capacity: 4)))
        let full = model.makeMTPCache(capacity: 1)
        _ = try model.mtpForward([1], hidden: [Float](repeating: 0.5, count: H), cache: full)
        XCTAssertThrowsError(try model.mtpForward([2], hidden: [Float](repeating: 0.5, count: H), cache: full))
    }
}

/// Greedy speculative decoding with MTP drafts gives exactly the plain greedy tokens (model-spec §5).
final class SpeculativeDecodingTests: XCTestCase {
    func testSpeculativeGreedyEqualsPlainGreedy() throws {
        for name in Fixtures.names {
            let model = try Fixtures.model(name)
            let reference = try Fixtures.reference(name)
            let prompt = try reference.ints("greedy.prompt_ids")
            let expected = try reference.ints("greedy.tokens")
            for count in [1, 2, 5, expected.count] {
                let result = try model.generateGreedyWithMTP(
                    prompt: prompt, maxTokens: count,
                    cache: model.makeCache(capacity: prompt.count + count + 1),
                    mtpCache: model.makeMTPCache(capacity: prompt.count + count + 1))
                XCTAssertEqual(result.tokens, Array(expected.prefix(count)), "\(name), \(count) tokens")
                XCTAssertLessThanOrEqual(result.accepted, result.drafted)
            }
        }
    }

    /// A constructed checkpoint where every draft is right: attention and MLP outputs are zero (o_proj and
    /// down_proj are 0), so the residual stream is the embedding, whose column 0 is +10 for every token; the final
    /// norms keep only column 0 and lm_head row 42 is the only one that reads it. Main model and MTP (eh_proj
    /// copies the embedding's column 0) then always pick token 42.
    func testEveryDraftAccepted() throws {
        var spec = RandomModelSpec()
        spec.layers = 2
        let target = 42, H = spec.hidden
        let dir = try spec.write { name, values, shape in
            var v = values
            if name.hasSuffix("o_proj.weight") || name.hasSuffix("down_proj.weight") { return v.map { _ in 0 } }
            if name == "model.embed_tokens.weight" { for r in 0..<shape[0] { v[r * H] = 10 } }
            if name == "model.norm.weight" || name.hasSuffix("shared_head.norm.weight") { return v.indices.map { $0 == 0 ? 1 : 0 } }
            if name == "lm_head.weight" { return v.indices.map { $0 == target * H ? 1 : 0 } }
            if name.hasSuffix("eh_proj.weight") { return v.indices.map { $0 == 0 ? 1 : 0 } }
            return v
        }
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try GLMModel.load(from: dir, numerics: .exact)
        let result = try model.generateGreedyWithMTP(prompt: [1, 2, 3], maxTokens: 9,
                                                     cache: model.makeCache(capacity: 16), mtpCache: model.makeMTPCache(capacity: 16))
        XCTAssertEqual(result.tokens, Array(repeating: Int32(target), count: 9))
        XCTAssertEqual(result.drafted, 4)      // 1 token from the prefill, then 4 steps of draft + bonus
        XCTAssertEqual(result.accepted, 4)
        // Plain greedy agrees.
        let cache = model.makeCache(capacity: 16)
        var logits = try model.forward([1, 2, 3], cache: cache)
        for _ in 0..<9 {
            let next = Int32(argmax(logits[...]))
            XCTAssertEqual(next, Int32(target))
            logits = try model.forward([next], cache: cache)
        }
    }

    func testStopTokenEndsGeneration() throws {
        let model = try Fixtures.model("tiny-air-bf16")
        let reference = try Fixtures.reference("tiny-air-bf16")
        let prompt = try reference.ints("greedy.prompt_ids")
        let expected = try reference.ints("greedy.tokens")
        let stop = expected[5]
        let result = try model.generateGreedyWithMTP(prompt: prompt, maxTokens: 16, stopTokens: [stop],
                                                     cache: model.makeCache(capacity: 32), mtpCache: model.makeMTPCache(capacity: 32))
        let firstStop = expected.firstIndex(of: stop)!
        XCTAssertEqual(result.tokens, Array(expected[...firstStop]))
    }
}
