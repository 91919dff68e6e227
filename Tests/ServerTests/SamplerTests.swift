import XCTest
@testable import Server

final class SamplerTests: XCTestCase {
    private let logits: [Float] = [1.0, 3.0, 2.5, -1.0, 0.5, 2.9]

    private func draws(_ parameters: SamplingParameters, count: Int = 400) -> [Int] {
        var sampler = Sampler(parameters: parameters)
        return (0..<count).map { _ in sampler.sample(logits) }
    }

    func testTemperatureZeroIsArgmax() {
        var p = SamplingParameters()
        p.temperature = 0
        XCTAssertEqual(Set(draws(p, count: 20)), [1])
    }

    func testSameSeedGivesSameSequenceAndOtherSeedDiffers() {
        var p = SamplingParameters()
        p.seed = 42
        let a = draws(p)
        XCTAssertEqual(a, draws(p))
        p.seed = 43
        XCTAssertNotEqual(a, draws(p))
    }

    func testTopKKeepsOnlyTheKBest() {
        var p = SamplingParameters()
        p.topK = 2
        p.seed = 1
        XCTAssertEqual(Set(draws(p)), [1, 5])
    }

    func testTopPKeepsTheSmallestSufficientSet() {
        // Probabilities at T=1: id1 .30, id5 .27, id2 .18, ... top_p 0.5 needs ids 1 and 5.
        var p = SamplingParameters()
        p.topP = 0.5
        p.seed = 2
        XCTAssertEqual(Set(draws(p)), [1, 5])
    }

    func testMinPDropsUnlikelyTokens() {
        // p(id2)/p(id1) = e^-0.5 ≈ 0.61; p(id0)/p(id1) = e^-2 ≈ 0.14.
        var p = SamplingParameters()
        p.minP = 0.5
        p.seed = 3
        XCTAssertEqual(Set(draws(p)), [1, 2, 5])
    }

    func testHighTemperatureReachesMoreTokens() {
        var p = SamplingParameters()
        p.temperature = 5
        p.seed = 4
        XCTAssertEqual(Set(draws(p, count: 2000)).count, logits.count)
    }

    func testLogitBiasCanBanAndForce() {
        var p = SamplingParameters()
        p.temperature = 0
        p.logitBias = [1: -100]
        XCTAssertEqual(Set(draws(p, count: 5)), [5])
        p.logitBias = [3: 100]
        XCTAssertEqual(Set(draws(p, count: 5)), [3])
    }

    func testPenaltiesDiscourageRepeats() {
        for configure in [{ (p: inout SamplingParameters) in p.presencePenalty = 2 },
                          { (p: inout SamplingParameters) in p.frequencyPenalty = 2 },
                          { (p: inout SamplingParameters) in p.repetitionPenalty = 10 }] {
            var p = SamplingParameters()
            p.temperature = 0
            configure(&p)
            var sampler = Sampler(parameters: p)
            let first = sampler.sample(logits)
            sampler.accept(first)
            XCTAssertEqual(first, 1)
            XCTAssertEqual(sampler.sample(logits), 5, "the penalised best token must lose to the runner-up")
        }
    }

    func testSeededDistributionFollowsProbabilities() {
        // Two tokens with p = 0.75 / 0.25 (logits ln 3 and 0): frequencies must be close over many draws.
        var p = SamplingParameters()
        p.seed = 7
        var sampler = Sampler(parameters: p)
        let twoTokens: [Float] = [Float(log(3.0)), 0]
        let ones = (0..<4000).filter { _ in sampler.sample(twoTokens) == 1 }.count
        XCTAssertEqual(Double(ones) / 4000, 0.25, accuracy: 0.03)
    }
}

final class StopStringMatcherTests: XCTestCase {
    private func run(_ pieces: [String], stops: [String]) -> (String, Bool) {
        var matcher = StopStringMatcher(stops: stops)
        var out = ""
        for piece in pieces { out += matcher.feed(piece) }
        out += matcher.finish()
        return (out, matcher.isStopped)
    }

    func testNoStopsPassesEverything() {
        XCTAssertEqual(run(["ab", "c"], stops: []).0, "abc")
    }

    func testStopInsideOnePiece() {
        XCTAssertEqual(run(["hello END world"], stops: ["END"]).0, "hello ")
    }

    func testStopAcrossPiecesIsCaughtAndNeverEmitted() {
        var matcher = StopStringMatcher(stops: ["STOP"])
        XCTAssertEqual(matcher.feed("abc S"), "abc ")     // "S" held back
        XCTAssertEqual(matcher.feed("T"), "")
        XCTAssertEqual(matcher.feed("OP and more"), "")
        XCTAssertTrue(matcher.isStopped)
        XCTAssertEqual(matcher.finish(), "")
    }

    func testFalseStartIsReleased() {
        var matcher = StopStringMatcher(stops: ["STOP"])
        XCTAssertEqual(matcher.feed("ST"), "")
        XCTAssertEqual(matcher.feed("ART"), "START")
        XCTAssertFalse(matcher.isStopped)
    }

    func testHeldPrefixIsReleasedAtTheEnd() {
        XCTAssertTrue(run(["value: 4", "\n"], stops: ["\n\n"]) == ("value: 4\n", false))
    }

    func testEarliestOfSeveralStopsWins() {
        XCTAssertEqual(run(["one two three"], stops: ["three", "two"]).0, "one ")
        var matcher = StopStringMatcher(stops: ["three", "two"])
        _ = matcher.feed("one tw")
        _ = matcher.feed("o three")
        XCTAssertEqual(matcher.matchedStop, "two")
    }

    func testMultibyteText() {
        XCTAssertEqual(run(["héllo wö", "rld ✓ end"], stops: ["✓"]).0, "héllo wörld ")
    }
}
