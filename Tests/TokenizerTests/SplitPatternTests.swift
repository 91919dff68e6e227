import XCTest
@testable import Tokenizer

/// The hand-written matchers agree with ICU running the same regex, on seeded random text built from the
/// characters the regexes care about.
final class SplitPatternTests: XCTestCase {
    private static let pieces: [String] = [
        "a", "Z", "ſ", "é", "e\u{301}", "你", "ß", "'", "’", "s", "S", "t", "re", "VE", "m", "ll", "D", "'s", "'LL",
        " ", "  ", "\t", "\n", "\r\n", "\r", "\u{A0}", "\u{3000}", "\u{2028}", "\u{85}", "\u{0B}",
        "1", "23", "4567", "٣", "²", "½", "Ⅻ", ".", ",", "!", "-", "(", "_", "😀", "🇩🇪", "\u{200D}", "\u{FEFF}", "\0",
    ]

    private struct SplitMix {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(bound))
        }
    }

    private func matches(_ pattern: SplitPattern, _ text: String) -> [Range<Int>] {
        var result: [Range<Int>] = []
        let bytes = Array(text.utf8)
        bytes.withUnsafeBufferPointer { pattern.appendMatches(in: $0, range: 0..<$0.count, to: &result) }
        return result
    }

    private func assertAgreesWithICU(_ regex: String, expectHandWritten: Bool, file: StaticString = #filePath,
                                     line: UInt = #line) throws {
        let handWritten = try SplitPatterns.regex(regex, file: "test")
        XCTAssertEqual(!(handWritten is ICURegexSplitPattern), expectHandWritten, file: file, line: line)
        let icu = try ICURegexSplitPattern(pattern: regex, file: "test")
        var random = SplitMix(state: 42)
        for _ in 0..<400 {
            let text = (0..<random.next(24)).map { _ in Self.pieces[random.next(Self.pieces.count)] }.joined()
            XCTAssertEqual(matches(handWritten, text), matches(icu, text), text.debugDescription, file: file, line: line)
        }
    }

    func testGLMRegexMatchesICU() throws {
        try assertAgreesWithICU(TokenizerJSONBuilder.glmRegex, expectHandWritten: true)
    }

    func testDigitQuantifierVariantsMatchICU() throws {
        for quantifier in ["", "{1}", "{2}", "+", "{2,}", "{1,5}"] {
            let regex = TokenizerJSONBuilder.glmRegex.replacingOccurrences(of: "{1,3}", with: quantifier)
            try assertAgreesWithICU(regex, expectHandWritten: true)
        }
    }

    func testGPT2RegexMatchesICU() throws {
        try assertAgreesWithICU(GPT2StyleSplitPattern.regex, expectHandWritten: true)
    }

    func testOtherRegexFallsBackToICU() throws {
        try assertAgreesWithICU(#"\p{L}+|\s+"#, expectHandWritten: false)
    }
}
