import Foundation
import XCTest
import JSON
@testable import Chat

/// Every case of `Tests/Fixtures/chat-template-glm46.jsonl` (rendered by transformers 5.23.0 + jinja2 3.1.6)
/// must render byte for byte from the raw request.
final class ChatTemplateFixtureTests: XCTestCase {
    static func fixtureCases() throws -> [JSONValue] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../Fixtures/chat-template-glm46.jsonl").standardizedFileURL
        let text = try String(contentsOf: url, encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONValue.parse(String($0)) }
    }

    func testAllCasesRenderByteForByte() throws {
        let cases = try Self.fixtureCases()
        XCTAssertEqual(cases.count, 42)
        for c in cases {
            let name = c["name"]?.string ?? "?"
            guard let request = c["request"], let expected = c["expected_prompt"]?.string else {
                return XCTFail("case \(name) lacks request or expected_prompt")
            }
            let prompt = try GLMChatFormat.render(request: request)
            XCTAssertEqual(prompt.text, expected, "case \(name)")
            if prompt.text != expected { printFirstDifference(prompt.text, expected, name) }
        }
    }

    func testNormalizedMessagesAndTemplateKwargsMatch() throws {
        for c in try Self.fixtureCases() {
            let name = c["name"]?.string ?? "?"
            guard let request = c["request"] else { return XCTFail("case \(name) lacks request") }
            let prompt = try GLMChatFormat.render(request: request)
            XCTAssertEqual(JSONValue.array(prompt.messages), c["normalized_messages"], "case \(name)")
            XCTAssertEqual(prompt.enableThinking, c["template_kwargs"]?["enable_thinking"]?.bool, "case \(name)")
            XCTAssertEqual(prompt.addGenerationPrompt, c["template_kwargs"]?["add_generation_prompt"]?.bool,
                           "case \(name)")
            let expectedTools: JSONValue? = c["tools"]?.isNull == false ? c["tools"] : Optional<JSONValue>.none
            XCTAssertEqual(prompt.tools, expectedTools, "case \(name)")
            // Key order of the tools is kept, so their Python dumps are identical too.
            XCTAssertEqual(prompt.tools?.pythonDumps(), expectedTools?.pythonDumps(), "case \(name)")
        }
    }

    private func printFirstDifference(_ a: String, _ b: String, _ name: String) {
        let x = Array(a.utf8), y = Array(b.utf8)
        let i = zip(x, y).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(x.count, y.count)
        let lo = max(0, i - 40)
        print("[\(name)] differs at byte \(i):\n got: \(String(decoding: x[lo..<min(x.count, i + 40)], as: UTF8.self).debugDescription)\n want: \(String(decoding: y[lo..<min(y.count, i + 40)], as: UTF8.self).debugDescription)")
    }
}
