import XCTest
@testable import Server

/// `Sampler.judgeDraft`: accepting a deterministic draft with probability p(draft) and otherwise drawing from p
/// without it gives the same distribution as `sample`, under every sampling stage.
final class DraftJudgingTests: XCTestCase {
    private let logits: [Float] = [2.0, 1.5, 1.4, 0.3, -0.5, 0.9, -3, 1.1]

    /// Frequencies of `count` tokens drawn by `draw`.
    private func frequencies(_ count: Int, _ draw: () -> Int) -> [Double] {
        var counts = [Double](repeating: 0, count: logits.count)
        for _ in 0..<count { counts[draw()] += 1 }
        return counts.map { $0 / Double(count) }
    }

    private func check(_ parameters: SamplingParameters, draft: Int, file: StaticString = #filePath, line: UInt = #line) {
        var plain = Sampler(parameters: parameters)
        var judged = Sampler(parameters: parameters)
        let n = 40_000
        let expected = frequencies(n) { plain.sample(logits) }
        var accepted = 0
        let observed = frequencies(n) {
            let result = judged.judgeDraft(draft, logits: logits)
            if result.accepted {
                accepted += 1
                XCTAssertEqual(result.token, draft, file: file, line: line)
            } else {
                XCTAssertNotEqual(result.token, draft, file: file, line: line)
            }
            return result.token
        }
        for id in logits.indices {
            XCTAssertEqual(observed[id], expected[id], accuracy: 0.015, "token \(id)", file: file, line: line)
        }
        XCTAssertEqual(Double(accepted) / Double(n), expected[draft], accuracy: 0.015, file: file, line: line)
    }

    func testJudgedDraftsFollowTheSamplingDistribution() {
        var p = SamplingParameters()
        p.seed = 5
        check(p, draft: 0)
        check(p, draft: 3)
        p.temperature = 0.7
        p.topK = 5
        p.topP = 0.9
        check(p, draft: 1)
        check(p, draft: 6)                       // outside top-k: never accepted
        p.minP = 0.3
        p.logitBias = [4: 2]
        check(p, draft: 4)
    }

    func testGreedyAcceptsExactlyTheArgmax() {
        var p = SamplingParameters()
        p.temperature = 0
        var sampler = Sampler(parameters: p)
        XCTAssertEqual(sampler.judgeDraft(0, logits: logits).accepted, true)
        XCTAssertEqual(sampler.judgeDraft(1, logits: logits).token, 0)
        XCTAssertEqual(sampler.judgeDraft(1, logits: logits).accepted, false)
        sampler.accept(0)
        p.frequencyPenalty = 1
        var penalised = Sampler(parameters: p)
        penalised.accept(0)
        XCTAssertEqual(penalised.judgeDraft(1, logits: logits).token, 1, "penalties apply before judging")
    }
}
