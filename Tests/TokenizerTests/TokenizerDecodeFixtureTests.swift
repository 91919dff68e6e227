import JSON
import XCTest
@testable import Tokenizer

/// Every case of `tokenizer-decode.jsonl`, decoded whole and streamed id by id.
final class TokenizerDecodeFixtureTests: XCTestCase {
    private func cases() throws -> [JSONValue] {
        let cases = try Fixtures.lines("tokenizer-decode.jsonl")
        XCTAssertEqual(cases.count, 71)
        return cases
    }

    func testDecode() throws {
        let tokenizer = try Fixtures.loadTokenizer()
        for testCase in try cases() {
            let ids = testCase.ids("ids")
            XCTAssertEqual(tokenizer.decode(ids), testCase.string("decoded"), testCase.string("name"))
            XCTAssertEqual(tokenizer.decode(ids, skipSpecialTokens: true), testCase.string("decoded_skip_special"),
                           testCase.string("name"))
        }
    }

    func testTokenStrings() throws {
        let tokenizer = try Fixtures.loadTokenizer()
        for testCase in try cases() {
            let tokens = testCase.ids("ids").map { tokenizer.token(forID: $0) ?? "<nil>" }
            XCTAssertEqual(tokens, testCase.strings("tokens"), testCase.string("name"))
        }
    }

    func testStreamingDecodeMatchesWholeDecode() throws {
        let tokenizer = try Fixtures.loadTokenizer()
        let encodeCases = try Fixtures.lines("tokenizer-encode.jsonl").map { $0.ids("ids") }
        for ids in try cases().map({ $0.ids("ids") }) + encodeCases {
            for skip in [false, true] {
                var decoder = tokenizer.makeStreamingDecoder(skipSpecialTokens: skip)
                var pieces: [String] = []
                for id in ids { pieces.append(decoder.append(id)) }
                pieces.append(decoder.flush())
                XCTAssertEqual(pieces.joined(), tokenizer.decode(ids, skipSpecialTokens: skip), "\(ids)")
            }
        }
    }

    /// A piece emitted before the end may hold U+FFFD only where the bytes so far are already invalid,
    /// never for a character that later tokens complete.
    func testStreamingNeverEmitsBrokenCharacters() throws {
        let tokenizer = try Fixtures.loadTokenizer()
        for testCase in try cases() {
            let ids = testCase.ids("ids")
            let whole = tokenizer.decode(ids)
            var decoder = tokenizer.makeStreamingDecoder()
            var emitted = ""
            for id in ids {
                emitted += decoder.append(id)
                XCTAssertTrue(whole.unicodeScalars.starts(with: emitted.unicodeScalars),
                              "\(testCase.string("name")): emitted \(emitted.debugDescription) is not a prefix of \(whole.debugDescription)")
            }
        }
    }
}
