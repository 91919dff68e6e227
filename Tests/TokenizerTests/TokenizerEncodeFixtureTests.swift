import XCTest
@testable import Tokenizer

/// Every case of `tokenizer-encode.jsonl`, in its three modes, against the fixture tokenizer.
final class TokenizerEncodeFixtureTests: XCTestCase {
    private func cases() throws -> [JSONNode] {
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
