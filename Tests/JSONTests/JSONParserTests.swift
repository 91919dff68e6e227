import XCTest
@testable import JSON

final class JSONParserTests: XCTestCase {
    func testParsesAllKindsAndKeepsKeyOrder() throws {
        let v = try JSONValue.parse(#" {"z": 1, "a": [true, false, null], "m": {"x": "y"}, "f": -1.5e2} "#)
        XCTAssertEqual(v.object?.keys, ["z", "a", "m", "f"])
        XCTAssertEqual(v["a"]?[0], .bool(true))
        XCTAssertEqual(v["a"]?[2], .null)
        XCTAssertEqual(v["m"]?["x"]?.string, "y")
        XCTAssertEqual(v["f"]?.double, -150)
        XCTAssertEqual(v.serialized(), #"{"z":1,"a":[true,false,null],"m":{"x":"y"},"f":-150.0}"#)
        XCTAssertEqual(v.pythonDumps(), #"{"z": 1, "a": [true, false, null], "m": {"x": "y"}, "f": -150.0}"#)
    }

    func testDuplicateKeysKeepFirstPositionLastValue() throws {
        let v = try JSONValue.parse(#"{"a": 1, "b": 2, "a": 3}"#)
        XCTAssertEqual(v.pythonDumps(), #"{"a": 3, "b": 2}"#)
    }

    func testDuplicateKeysCanBeRejected() throws {
        func rejection(_ text: String) -> JSONDuplicateKeyError? {
            do {
                _ = try JSONValue.parse(text, duplicateKeys: .rejected)
                return nil
            } catch {
                return error as? JSONDuplicateKeyError
            }
        }
        XCTAssertEqual(rejection(#"{"a": 1, "b": 2, "a": 3}"#), JSONDuplicateKeyError(offset: 0, path: ["a"]))
        XCTAssertEqual(rejection(#"{"x": [0, {"y": {"c": 1, "b": 2, "b": 3, "c": 4}}]}"#),
                       JSONDuplicateKeyError(offset: 16, path: ["x", "y", "b"]))
        // Objects past the linear-search size are indexed by a hash table: the repeat is found there too.
        let many = (0..<30).map { #""k\#($0)": \#($0)"# } + [#""k29": 0"#]
        let large = rejection("{" + many.joined(separator: ", ") + "}")
        XCTAssertEqual(large?.key, "k29")
        XCTAssertEqual(large?.description, "invalid JSON at byte 0: key 'k29' appears more than once in its object")
        // Keys are compared by Unicode scalars, as in Python: "é" and "e\u0301" are two keys.
        XCTAssertEqual(try JSONValue.parse(#"{"\u00e9": 1, "e\u0301": 2}"#, duplicateKeys: .rejected).object?.count, 2)
        let distinct = (0..<30).map { #""k\#($0)": \#($0)"# }.joined(separator: ", ")
        XCTAssertEqual(try JSONValue.parse("{" + distinct + "}", duplicateKeys: .rejected).object?.count, 30)
        XCTAssertEqual(try JSONValue.parse(#"[{"a": 1}, {"a": 2}]"#, duplicateKeys: .rejected).array?.count, 2)
    }

    func testEscapesAndSurrogatePairs() throws {
        let v = try JSONValue.parse(#""a\"b\\c\/d\n\t\r\b\f\u00e9\ud83d\ude00 中""#)
        XCTAssertEqual(v.string, "a\"b\\c/d\n\t\r\u{8}\u{c}é😀 中")
    }

    func testLoneSurrogatesAreRejected() {
        assertError(#""\ud83d""#, offset: 1, contains: "lone high surrogate")
        assertError(#""\ud83dx""#, offset: 1, contains: "lone high surrogate")
        assertError(#""\ude00""#, offset: 1, contains: "lone low surrogate")
        assertError(#""\ud83d\u0041""#, offset: 1, contains: "not a low surrogate")
    }

    func testStrictGrammarErrorsWithOffsets() {
        assertError("", offset: 0, contains: "end of input")
        assertError("[1,]", offset: 3, contains: "expected a value")
        assertError("{\"a\":1,}", offset: 7, contains: "string key")
        assertError("{\"a\" 1}", offset: 5, contains: "':'")
        assertError("01", offset: 1, contains: "leading zero")
        assertError("1.", offset: 2, contains: "after '.'")
        assertError("1e", offset: 2, contains: "exponent")
        assertError("-", offset: 1, contains: "digit")
        assertError("NaN", offset: 0, contains: "expected a value")
        assertError("tru", offset: 0, contains: "literal")
        assertError("[1] x", offset: 4, contains: "after the JSON value")
        assertError("\"abc", offset: 0, contains: "unterminated")
        assertError("\"a\nb\"", offset: 2, contains: "control character")
        assertError(#""\x""#, offset: 1, contains: "invalid escape")
        assertError(#""\u12G4""#, offset: 1, contains: "hex digit")
        assertError("// c\n1", offset: 0, contains: "expected a value")
    }

    func testInvalidUTF8IsRejected() {
        XCTAssertThrowsError(try JSONValue.parse([0x22, 0xC3, 0x28, 0x22])) { error in
            XCTAssertEqual((error as? JSONParseError)?.offset, 1)
        }
    }

    func testDepthLimit() throws {
        let ok = String(repeating: "[", count: JSONValue.maximumDepth) + String(repeating: "]", count: JSONValue.maximumDepth)
        XCTAssertNoThrow(try JSONValue.parse(ok))
        let deep = String(repeating: "[", count: 100_000)
        assertError(deep, offset: JSONValue.maximumDepth, contains: "nesting")
    }

    func testDataInputAndWhitespace() throws {
        let v = try JSONValue.parse(Data(" \r\n\t{\"k\" : [ ] }\n".utf8))
        XCTAssertEqual(v, ["k": []])
    }

    func testLargeBodyParsesAndRoundTrips() throws {
        // About 4 MB: many messages with escapes and non-ASCII text.
        var parts: [String] = []
        for i in 0..<20_000 {
            parts.append(#"{"role":"user","content":"line \#(i)\n\"quoted\" 中文 😀 text text text text text text text text text text text text text text text text text text text text text text text text text text text text","n":\#(i),"f":\#(i).5}"#)
        }
        let text = "{\"messages\":[" + parts.joined(separator: ",") + "]}"
        let start = Date()
        let v = try JSONValue.parse(text)
        let parseSeconds = Date().timeIntervalSince(start)
        XCTAssertEqual(v["messages"]?.array?.count, 20_000)
        let written = v.serialized()
        XCTAssertEqual(written, text)
        print("JSON parse of \(text.utf8.count) bytes: \(String(format: "%.3f", parseSeconds)) s")
    }

    private func assertError(_ text: String, offset: Int, contains fragment: String,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try JSONValue.parse(text), file: file, line: line) { error in
            guard let e = error as? JSONParseError else { return XCTFail("wrong error \(error)", file: file, line: line) }
            XCTAssertEqual(e.offset, offset, "\(e)", file: file, line: line)
            XCTAssertTrue(e.message.contains(fragment), "\(e)", file: file, line: line)
        }
    }
}
