import Foundation
import XCTest
import JSON
@testable import Chat

final class ChatRequestErrorTests: XCTestCase {
    private func assertError(_ body: String, param: String?, contains fragment: String,
                             file: StaticString = #filePath, line: UInt = #line) {
        do {
            let request = try JSONValue.parse(body)
            _ = try GLMChatFormat.render(request: request)
            XCTFail("no error for \(body)", file: file, line: line)
        } catch let error as ChatRequestError {
            XCTAssertEqual(error.param, param, "\(error)", file: file, line: line)
            XCTAssertTrue(error.message.contains(fragment), "\(error)", file: file, line: line)
        } catch {
            XCTFail("wrong error \(error)", file: file, line: line)
        }
    }

    func testBadShapesGiveTypedErrorsWithParamPaths() {
        assertError("[]", param: nil, contains: "JSON object")
        assertError("{}", param: "messages", contains: "required")
        assertError(#"{"messages": "hi"}"#, param: "messages", contains: "array")
        assertError(#"{"messages": []}"#, param: "messages", contains: "empty")
        assertError(#"{"messages": [1]}"#, param: "messages[0]", contains: "object")
        assertError(#"{"messages": [{"content": "x"}]}"#, param: "messages[0].role", contains: "role")
        assertError(#"{"messages": [{"role": 3}]}"#, param: "messages[0].role", contains: "string")
        assertError(#"{"messages": [{"role": "user", "content": "a"}, {"role": "bot", "content": "x"}]}"#,
                    param: "messages[1].role", contains: "unknown role 'bot'")
        assertError(#"{"messages": [{"role": "user", "content": 5}]}"#, param: "messages[0].content", contains: "string")
        assertError(#"{"messages": [{"role": "user", "content": {"text": "x"}}]}"#, param: "messages[0].content",
                    contains: "object")
        assertError(#"{"messages": [{"role": "user", "content": [{"type": "text"}]}]}"#,
                    param: "messages[0].content[0].text", contains: "text")
        assertError(#"{"messages": [{"role": "user", "content": [7]}]}"#, param: "messages[0].content[0]",
                    contains: "part")
        assertError(#"{"messages": [{"role": "assistant", "tool_calls": [{"function": {"arguments": "{}"}}]}]}"#,
                    param: "messages[0].tool_calls[0].function.name", contains: "name")
        assertError(#"{"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": ""}}]}]}"#,
                    param: "messages[0].tool_calls[0].function.name", contains: "name")
        assertError(#"{"messages": [{"role": "assistant", "tool_calls": {"a": 1}}]}"#,
                    param: "messages[0].tool_calls", contains: "array")
        assertError(#"{"messages": [{"role": "assistant", "tool_calls": ["x"]}]}"#,
                    param: "messages[0].tool_calls[0]", contains: "object")
        assertError(#"{"messages": [{"role": "assistant", "reasoning_content": 1}]}"#,
                    param: "messages[0].reasoning_content", contains: "string")
        assertError(#"{"messages": [{"role": "user", "content": "a"}], "tools": {}}"#, param: "tools", contains: "array")
        assertError(#"{"messages": [{"role": "user", "content": "a"}], "tools": ["f"]}"#, param: "tools[0]",
                    contains: "object")
        assertError(#"{"messages": [{"role": "user", "content": "a"}], "add_generation_prompt": "yes"}"#,
                    param: "add_generation_prompt", contains: "boolean")
        assertError(#"{"messages": [{"role": "user", "content": "a"}], "chat_template_kwargs": {"enable_thinking": "no"}}"#,
                    param: "chat_template_kwargs.enable_thinking", contains: "boolean")
        assertError(#"{"messages": [{"role": "user", "content": "a"}], "thinking": {"type": "maybe"}}"#,
                    param: "thinking.type", contains: "enabled")
        assertError(#"{"messages": [{"role": "user", "content": "a"}], "thinking": "off"}"#,
                    param: "thinking", contains: "'thinking' must be an object")
    }

    func testToolShapesAreValidatedWithParamPaths() {
        let messages = #""messages": [{"role": "user", "content": "a"}]"#
        assertError(#"{\#(messages), "tools": [{"type": "function"}]}"#, param: "tools[0].function",
                    contains: "'function' object")
        assertError(#"{\#(messages), "tools": [{"type": "function", "function": null}]}"#, param: "tools[0].function",
                    contains: "'function' object")
        assertError(#"{\#(messages), "tools": [{"type": "function", "function": "f"}]}"#, param: "tools[0].function",
                    contains: "object")
        assertError(#"{\#(messages), "tools": [{"type": "function", "function": {}}]}"#,
                    param: "tools[0].function.name", contains: "name")
        assertError(#"{\#(messages), "tools": [{"type": "function", "function": {"name": 3}}]}"#,
                    param: "tools[0].function.name", contains: "string 'name'")
        let good = #"{"type": "function", "function": {"name": "f"}}"#
        assertError(#"{\#(messages), "tools": [\#(good), {"type": "function", "function": {"name": "g", "parameters": []}}]}"#,
                    param: "tools[1].function.parameters", contains: "object")
        assertError(#"{\#(messages), "tools": [{"type": "code_interpreter", "function": {"name": "f"}}]}"#,
                    param: "tools[0].type", contains: "function")
    }
}

final class ChatRequestOptionsTests: XCTestCase {
    private func render(_ body: String) throws -> ChatPrompt {
        try GLMChatFormat.render(request: try JSONValue.parse(body))
    }

    private let user = #""messages": [{"role": "user", "content": "Hi"}]"#
    private let off = "[gMASK]<sop><|user|>\nHi/nothink<|assistant|>\n<think></think>"
    private let on = "[gMASK]<sop><|user|>\nHi<|assistant|>"

    func testThinkingSwitchSpellingsAndPrecedence() throws {
        XCTAssertEqual(try render("{\(user)}").enableThinking, nil)
        XCTAssertEqual(try render(#"{\#(user), "chat_template_kwargs": {"enable_thinking": false}}"#).text, off)
        XCTAssertEqual(try render(#"{\#(user), "chat_template_kwargs": {"thinking": false}}"#).text, off)
        XCTAssertEqual(try render(#"{\#(user), "thinking": {"type": "disabled"}}"#).text, off)
        XCTAssertEqual(try render(#"{\#(user), "thinking": {"type": "enabled", "budget_tokens": 100}}"#).enableThinking, true)
        XCTAssertEqual(try render(#"{\#(user), "reasoning": {"enabled": false}}"#).text, off)
        XCTAssertEqual(try render(#"{\#(user), "reasoning": {"effort": "none"}}"#).text, off)
        XCTAssertEqual(try render(#"{\#(user), "reasoning": {"effort": "high"}}"#).enableThinking, true)
        XCTAssertEqual(try render(#"{\#(user), "reasoning": {"max_tokens": 0}}"#).enableThinking, false)
        XCTAssertEqual(try render(#"{\#(user), "reasoning_effort": "none"}"#).text, off)
        XCTAssertEqual(try render(#"{\#(user), "thinking": false}"#).text, off)
        XCTAssertEqual(try render(#"{\#(user), "thinking": {"type": "auto"}, "reasoning": {"enabled": false}}"#).text, off)
        XCTAssertEqual(try render(#"{\#(user), "reasoning_effort": "low"}"#).enableThinking, nil)
        // chat_template_kwargs wins over thinking, which wins over reasoning.
        let both = try render(#"{\#(user), "chat_template_kwargs": {"enable_thinking": true}, "thinking": {"type": "disabled"}}"#)
        XCTAssertEqual(both.text, on)
        XCTAssertEqual(try render(#"{\#(user), "thinking": {"type": "enabled"}, "reasoning": {"enabled": false}}"#).text, on)
        let excluded = try render(#"{\#(user), "reasoning": {"exclude": true}}"#)
        XCTAssertTrue(excluded.excludeReasoning)
        XCTAssertTrue(excluded.thinkingEnabled)
        XCTAssertFalse(try render(#"{\#(user), "thinking": {"type": "disabled"}}"#).outputMayStartWithReasoning)
    }

    func testToolChoiceNoneLeavesToolsOut() throws {
        let tools = #""tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]"#
        XCTAssertNotNil(try render("{\(user), \(tools)}").tools)
        let none = try render(#"{\#(user), \#(tools), "tool_choice": "none"}"#)
        XCTAssertNil(none.tools)
        XCTAssertEqual(none.text, on)
        XCTAssertNil(try render(#"{\#(user), "tools": []}"#).tools)
    }

    func testLegacyFunctionRoleAndBillingHeader() throws {
        let prompt = try render(#"""
            {"messages": [{"role": "system", "content": "x-anthropic-billing-header: cc_version=1; id=42\nBe brief."},
                          {"role": "user", "content": "q"},
                          {"role": "assistant", "content": null, "tool_calls": [{"id": "1", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]},
                          {"role": "function", "name": "f", "content": "r"}]}
            """#)
        XCTAssertEqual(prompt.text, "[gMASK]<sop><|system|>\nBe brief.<|user|>\nq<|assistant|>\n<think></think>\n<tool_call>f\n</tool_call><|observation|>\n<tool_response>\nr\n</tool_response><|assistant|>")
    }

    func testRenderSpeedFigure() throws {
        // Prints a figure (not asserted): rendering a long agent conversation.
        var messages: [JSONValue] = [["role": "system", "content": .string(String(repeating: "rules ", count: 2000))]]
        for i in 0..<500 {
            messages.append(["role": "user", "content": .string("question \(i) 中文")])
            messages.append(["role": "assistant", "content": "ok", "tool_calls": [["type": "function", "function": ["name": "f", "arguments": .string(#"{"a": \#(i), "b": "x"}"#)]]]])
            messages.append(["role": "tool", "content": .string(String(repeating: "out ", count: 100))])
        }
        let request: JSONValue = ["messages": .array(messages)]
        let start = Date()
        let prompt = try GLMChatFormat.render(request: request)
        print("render of \(messages.count) messages → \(prompt.text.utf8.count) bytes: \(String(format: "%.3f", Date().timeIntervalSince(start))) s")
        XCTAssertTrue(prompt.text.hasSuffix("<|assistant|>"))
    }
}

final class TemplateFingerprintTests: XCTestCase {
    func testSHA256KnownVectors() {
        XCTAssertEqual(SHA256.hex([]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Array(String(repeating: "a", count: 1000).utf8)),
                       "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    func testFixtureTemplateIsRecognised() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../Fixtures/tokenizer/chat_template.jinja").standardizedFileURL
        let text = try String(contentsOf: url, encoding: .utf8)
        XCTAssertNotNil(GLMTemplateFingerprint.identify(text))
        XCTAssertNil(GLMTemplateFingerprint.identify(text.replacingOccurrences(of: "# Tools", with: "# Tool")))
    }
}
