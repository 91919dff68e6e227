import Foundation
import XCTest
@testable import Engine

/// `MTPDraftSession`: greedy speculative steps reproduce plain greedy decoding and the reference
/// `generateGreedyWithMTP` (tokens and accepted-draft counts), and truncation keeps the MTP cache exact.
final class MTPDraftSessionTests: XCTestCase {
    static let bundledModel = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Models/GLM-Tiny")

    /// Greedy decoding through the session: returns the tokens and the accepted drafts.
    private func speculativeGreedy(_ model: GLMModel, prompt: [Int32], maxTokens: Int) throws -> (tokens: [Int32], drafted: Int, accepted: Int) {
        let session = try MTPDraftSession(model: model, capacity: prompt.count + maxTokens + 2)
        var logits = try session.append(prompt)
        var out: [Int32] = []
        var drafted = 0, accepted = 0
        var pending: Int32?
        while out.count < maxTokens {
            let x = pending ?? Int32(argmax(logits[...]))
            pending = nil
            out.append(x)
            if out.count == maxTokens { break }
            let proposal = try session.speculate(after: x)
            drafted += 1
            let choice = Int32(argmax(proposal.logitsAfterToken[...]))
            session.resolveDraft(accepted: choice == proposal.draft)
            XCTAssertEqual(session.count, prompt.count + out.count + (choice == proposal.draft ? 1 : 0))
            XCTAssertGreaterThanOrEqual(session.draftCacheCount, session.count - 2)
            if choice == proposal.draft {
                accepted += 1
                out.append(choice)
                logits = proposal.logitsAfterDraft
            } else {
                pending = choice
            }
        }
        return (out, drafted, accepted)
    }

    private func plainGreedy(_ model: GLMModel, prompt: [Int32], maxTokens: Int) throws -> [Int32] {
        let cache = model.makeCache(capacity: prompt.count + maxTokens + 1)
        var logits = try model.forward(prompt, cache: cache)
        var out: [Int32] = []
        while out.count < maxTokens {
            let x = Int32(argmax(logits[...]))
            out.append(x)
            logits = try model.forward([x], cache: cache)
        }
        return out
    }

    private func checkGreedy(_ model: GLMModel, prompt: [Int32], maxTokens: Int) throws -> Double {
        let speculative = try speculativeGreedy(model, prompt: prompt, maxTokens: maxTokens)
        XCTAssertEqual(speculative.tokens, try plainGreedy(model, prompt: prompt, maxTokens: maxTokens))
        // The reference implementation drafts and accepts exactly the same.
        let reference = try model.generateGreedyWithMTP(prompt: prompt, maxTokens: maxTokens,
                                                        cache: model.makeCache(capacity: prompt.count + maxTokens + 1),
                                                        mtpCache: model.makeMTPCache(capacity: prompt.count + maxTokens + 1))
        XCTAssertEqual(speculative.tokens, reference.tokens)
        XCTAssertEqual(speculative.accepted, reference.accepted)
        return Double(speculative.accepted) / Double(max(speculative.drafted, 1))
    }

    func testGreedyStepsMatchPlainGreedyOnFixture() throws {
        let model = try Fixtures.model("tiny-chat-bf16")
        _ = try checkGreedy(model, prompt: [1, 5, 9, 200, 31, 7], maxTokens: 24)
    }

    func testGreedyStepsMatchPlainGreedyOnBundledModel() throws {
        let model = try GLMModel.load(from: Self.bundledModel)
        let reference = try BundledModelTests.reference()
        let rate = try checkGreedy(model, prompt: reference.promptIDs, maxTokens: 40)
        XCTAssertGreaterThan(rate, 0.3, "the trained MTP head should get many drafts accepted")
    }

    /// Truncating into the paired MTP rows, or only into the unpaired tail, then appending: every later draft and
    /// logit equals those of a session that computed the final prompt from scratch.
    func testTruncationKeepsTheDraftCacheExact() throws {
        let model = try Fixtures.model("tiny-chat-bf16")
        let first: [Int32] = [3, 14, 15, 92, 65, 35, 89, 79, 32, 38]
        for cut in [0, 1, 4, 9, 10, 11, 12, 13, 14] {
            let reused = try MTPDraftSession(model: model, capacity: 64)
            var logits = try reused.append(first)
            // Two speculative steps, so the cut can land in drafted positions too.
            for _ in 0..<2 {
                let proposal = try reused.speculate(after: Int32(argmax(logits[...])))
                reused.resolveDraft(accepted: true)
                logits = proposal.logitsAfterDraft
            }
            let held = reused.count
            let kept = min(cut, held)
            reused.truncate(to: kept)
            XCTAssertEqual(reused.count, kept)
            let suffix: [Int32] = [7, 100, 300, 2]
            let fresh = try MTPDraftSession(model: model, capacity: 64)
            // The reused prefix: what the session held up to `kept`.
            let prefix = try replayTokens(model, first: first, count: kept)
            var a = try reused.append(suffix)
            var b = try fresh.append(prefix + suffix)
            XCTAssertLessThan(maxAbsDifference(a, b), 1e-3, "cut \(cut)")
            for step in 0..<3 {
                let x = Int32(argmax(b[...]))
                let pa = try reused.speculate(after: x), pb = try fresh.speculate(after: x)
                XCTAssertEqual(pa.draft, pb.draft, "cut \(cut) step \(step)")
                XCTAssertLessThan(maxAbsDifference(pa.logitsAfterDraft, pb.logitsAfterDraft), 1e-3)
                let accept = step % 2 == 0
                reused.resolveDraft(accepted: accept)
                fresh.resolveDraft(accepted: accept)
                XCTAssertEqual(reused.count, fresh.count)
                (a, b) = accept ? (pa.logitsAfterDraft, pb.logitsAfterDraft) : (pa.logitsAfterToken, pb.logitsAfterToken)
                XCTAssertLessThan(maxAbsDifference(a, b), 1e-3)
            }
        }
    }

    /// The first `count` tokens the session in `testTruncationKeepsTheDraftCacheExact` held: the prompt, then
    /// greedy tokens (both drafts were accepted there, so the held tokens are greedy token and draft pairs).
    private func replayTokens(_ model: GLMModel, first: [Int32], count: Int) throws -> [Int32] {
        let session = try MTPDraftSession(model: model, capacity: 64)
        var logits = try session.append(first)
        var tokens = first
        for _ in 0..<2 {
            let x = Int32(argmax(logits[...]))
            let proposal = try session.speculate(after: x)
            session.resolveDraft(accepted: true)
            tokens += [x, proposal.draft]
            logits = proposal.logitsAfterDraft
        }
        return Array(tokens.prefix(count))
    }

    func testMisuseThrowsInsteadOfCorrupting() throws {
        let model = try Fixtures.model("tiny-chat-bf16")
        let session = try MTPDraftSession(model: model, capacity: 4)
        XCTAssertThrowsError(try session.speculate(after: 1), "needs a preceding append")
        _ = try session.append([1, 2])
        XCTAssertThrowsError(try session.speculate(after: Int32(model.config.vocabSize)))
        XCTAssertEqual(session.count, 2)
        _ = try session.speculate(after: 3)
        XCTAssertThrowsError(try session.append([4]), "resolveDraft must come first")
        session.resolveDraft(accepted: true)
        XCTAssertThrowsError(try session.speculate(after: 5), "no room for two more tokens")
        XCTAssertEqual(session.count, 4)
    }
}
