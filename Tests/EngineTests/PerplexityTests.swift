import Foundation
import Tokenizer
import XCTest
@testable import Engine

/// `GLMModel.perplexity` on the bundled model and held-out text (Tests/Fixtures/heldout, never seen in training):
/// with `--exact` it matches transformers' perplexity computed the same way (Scripts/perplexity_reference.py), and
/// the fast path costs at most +0.2 % of it.
final class PerplexityTests: XCTestCase {
    private static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let heldOut = root.appendingPathComponent("Tests/Fixtures/heldout")
    static let bundledModel = root.appendingPathComponent("Models/GLM-Tiny")

    struct Reference: Decodable {
        let ctx: Int
        let tokens: Int
        let windows: Int
        let perplexity: Double
    }

    static func heldOutTokens() throws -> [Int32] {
        let tokenizer = try Tokenizer(directory: bundledModel)
        let text = try String(contentsOf: heldOut.appendingPathComponent("stdlib-heldout.txt"), encoding: .utf8)
        return tokenizer.encode(text).map { Int32($0) }
    }

    func testExactMatchesTransformersAndFastStaysClose() throws {
        let reference = try JSONDecoder().decode(
            Reference.self, from: Data(contentsOf: Self.heldOut.appendingPathComponent("perplexity-reference.json")))
        let tokens = try Self.heldOutTokens()
        let exact = try GLMModel.load(from: Self.bundledModel, numerics: .exact)
            .perplexity(of: tokens, window: reference.ctx)
        XCTAssertEqual(exact.countedTokens, reference.tokens)
        XCTAssertEqual(exact.windows, reference.windows)
        let exactDrift = exact.perplexity / reference.perplexity - 1
        XCTAssertLessThan(abs(exactDrift), 0.001, "exact \(exact.perplexity) vs transformers \(reference.perplexity)")

        let fast = try GLMModel.load(from: Self.bundledModel, numerics: .fast)
            .perplexity(of: tokens, window: reference.ctx)
        let fastCost = fast.perplexity / exact.perplexity - 1
        XCTAssertLessThan(fastCost, 0.002, "fast \(fast.perplexity) vs exact \(exact.perplexity)")
        print(String(format: "perplexity on held-out text: transformers %.4f, exact %.4f (%+.4f%%), fast %.4f (%+.4f%%)",
                     reference.perplexity, exact.perplexity, 100 * exactDrift, fast.perplexity, 100 * fastCost))
    }

    /// The window arithmetic on a short sequence: every token but the first counted once, windows at multiples
    /// of the window size, a last window of two tokens still counted, a one-token remainder dropped.
    func testWindowsCountEveryTokenButTheFirstOnce() throws {
        let model = try GLMModel.load(from: Self.bundledModel, numerics: .exact)
        let tokens: [Int32] = (0..<11).map { Int32(100 + 7 * $0) }
        let result = try model.perplexity(of: tokens, window: 5)       // windows [0...5], [5...10]
        XCTAssertEqual(result.windows, 2)
        XCTAssertEqual(result.countedTokens, 10)
        // The same number from the model's logits directly.
        var nll = 0.0
        for start in [0, 5] {
            let piece = Array(tokens[start ..< min(start + 6, tokens.count)])
            let logits = try model.forward(piece, cache: model.makeCache(capacity: 6), logits: .all)
            let V = model.config.vocabSize
            for i in 0 ..< piece.count - 1 {
                let row = logits[i * V ..< (i + 1) * V].map(Double.init)
                let top = row.max()!
                let logSum = log(row.reduce(0) { $0 + exp($1 - top) }) + top
                nll -= row[Int(piece[i + 1])] - logSum
            }
        }
        XCTAssertEqual(result.negativeLogLikelihood, nll, accuracy: 1e-9 * abs(nll))
        XCTAssertThrowsError(try model.perplexity(of: [1], window: 4))
        XCTAssertThrowsError(try model.perplexity(of: tokens, window: 0))
    }
}
