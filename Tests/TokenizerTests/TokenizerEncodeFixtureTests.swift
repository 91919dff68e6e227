import JSON
import XCTest
@testable import Tokenizer

/// Every case of `tokenizer-encode.jsonl`, in its three modes, against the fixture tokenizer.
final class TokenizerEncodeFixtureTests: XCTestCase {
    private func cases() throws -> [JSONValue] {
        let cases = try Fixtures.lines("tokenizer-encode.jsonl")
        XCTAssertEqual(cases.count, 304)
        return cases
    }

    func testEncodeMatchingAllAddedTokens() throws {
        let tokenizer = try Fixtures.loadTokenizer()
        for testCase in try cases() {
            XCTAssertEqual(tokenizer.encode(testCase.string("text")), testCase.ids("ids"), testCase.string("name"))
        }
    }

    func testEncodeWithSpecialTokensAsPlainText() throws {
        let tokenizer = try Fixtures.loadTokenizer()
        for testCase in try cases() {
            XCTAssertEqual(tokenizer.encode(testCase.string("text"), addedTokens: .nonSpecialOnly),
                           testCase.ids("ids_no_special"), testCase.string("name"))
        }
    }

    func testEncodeWithoutAddedTokens() throws {
        let tokenizer = try Fixtures.loadTokenizer()
        for testCase in try cases() {
            XCTAssertEqual(tokenizer.encode(testCase.string("text"), addedTokens: .none),
                           testCase.ids("ids_plain"), testCase.string("name"))
        }
    }

    func testTokenStringsOfEncodedIDs() throws {
        let tokenizer = try Fixtures.loadTokenizer()
        for testCase in try cases() {
            let tokens = testCase.ids("ids").map { tokenizer.token(forID: $0) ?? "<nil>" }
            XCTAssertEqual(tokens, testCase.strings("tokens"), testCase.string("name"))
        }
    }

    func testDecodeOfEncodedIDs() throws {
        let tokenizer = try Fixtures.loadTokenizer()
        for testCase in try cases() {
            let ids = testCase.ids("ids")
            XCTAssertEqual(tokenizer.decode(ids), testCase.string("decoded"), testCase.string("name"))
            XCTAssertEqual(tokenizer.decode(ids, skipSpecialTokens: true), testCase.string("decoded_skip_special"),
                           testCase.string("name"))
        }
    }
}

/// Lookups on the fixture tokenizer: ids come from the file (fixture id = real GLM id − 147233).
final class TokenizerFixtureVocabularyTests: XCTestCase {
    func testAddedTokenLookups() throws {
        let tokenizer = try Fixtures.loadTokenizer()
        XCTAssertEqual(tokenizer.vocabularySize, 4132)
        XCTAssertEqual(tokenizer.id(forToken: "<|endoftext|>"), 4096)
        XCTAssertEqual(tokenizer.id(forToken: "[gMASK]"), 4098)
        XCTAssertEqual(tokenizer.id(forToken: "<think>"), 4117)
        XCTAssertEqual(tokenizer.id(forToken: "Ċ"), 198)
        XCTAssertNil(tokenizer.id(forToken: "no such token"))
        XCTAssertEqual(tokenizer.token(forID: 4127), "/nothink")
        XCTAssertNil(tokenizer.token(forID: 4132))
        XCTAssertNil(tokenizer.token(forID: -1))
        XCTAssertEqual((4096...4131).filter(tokenizer.isSpecial), Array(4096...4113))
        XCTAssertFalse(tokenizer.isSpecial(198))
        XCTAssertEqual(tokenizer.configuration?.eosToken, "<|endoftext|>")
        XCTAssertEqual(tokenizer.configuration?.padToken, "<|endoftext|>")
    }
}
