import XCTest
import JSON
@testable import Chat

final class NormalizationTests: XCTestCase {
    private func normalized(_ message: String) throws -> JSONValue {
        .object(try ChatMessageNormalizer.normalize(message: try JSONValue.parse(message), path: "m"))
    }

    func testArgumentsStringsBecomeObjectsElseEmpty() throws {
        let cases: [(String, String)] = [
            (#""{\"b\": 1, \"a\": [1.0, \"x\"]}""#, #"{"b": 1, "a": [1.0, "x"]}"#),
            (#""not json""#, "{}"), (#""[1, 2]""#, "{}"), (#""\"str\"""#, "{}"), ("7", "{}"),
            (#"{"k": null}"#, #"{"k": null}"#),
        ]
        for (arguments, expected) in cases {
            let m = try normalized(#"{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": \#(arguments)}}]}"#)
            XCTAssertEqual(m["tool_calls"]?[0]?["function"]?["arguments"]?.pythonDumps(), expected, arguments)
        }
    }

    func testNullKeysDroppedAndAliases() throws {
        let m = try normalized(#"{"role": "assistant", "content": null, "name": null, "reasoning": "r", "tool_calls": []}"#)
        XCTAssertEqual(m, ["role": "assistant", "content": "", "reasoning_content": "r"])
        let both = try normalized(#"{"role": "assistant", "reasoning": "alias", "reasoning_content": "kept"}"#)
        XCTAssertEqual(both, ["role": "assistant", "reasoning_content": "kept", "content": ""])
        XCTAssertEqual(try normalized(#"{"role": "developer", "content": "d"}"#), ["role": "system", "content": "d"])
    }

    func testToolContentPartsJoinedOtherArraysKept() throws {
        let tool = try normalized(#"{"role": "tool", "content": [{"type": "text", "text": "a"}, {"type": "image_url"}, "b"]}"#)
        XCTAssertEqual(tool["content"], "a\nb")
        let user = try normalized(#"{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url"}]}"#)
        XCTAssertEqual(user["content"]?.array?.count, 2)
        XCTAssertEqual(GLMTemplateRenderer.visibleText(user["content"]), "a")
    }

    func testPythonStripMatchesStrWhitespace() {
        XCTAssertEqual(PythonText.strip("\u{3000}\u{a0}\u{1c} x y \u{2029}\u{85}"), "x y")
        XCTAssertEqual(PythonText.strip("\u{200b}x"), "\u{200b}x")  // zero-width space is not whitespace in Python
        XCTAssertEqual(PythonText.split("a</think>b</think>", "</think>"), ["a", "b", ""])
        XCTAssertTrue(PythonText.contains("x\r\n</think>", "\n</think>"))
    }
}
