import XCTest
import JSON
@testable import Chat

final class AnthropicRequestTests: XCTestCase {
    static let weatherTool: JSONValue = [
        "name": "get_weather", "description": "Get weather",
        "input_schema": ["type": "object", "properties": ["city": ["type": "string"], "days": ["type": "integer"]],
                         "required": ["city"]],
    ]

    private func translate(_ body: JSONValue, _ endpoint: AnthropicRequest.Endpoint = .messages) throws -> AnthropicRequest {
        try AnthropicRequest(body: body, endpoint: endpoint)
    }

    private func assertRejected(_ body: JSONValue, mentioning field: String, _ endpoint: AnthropicRequest.Endpoint = .messages,
                                file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try translate(body, endpoint), file: file, line: line) { error in
            guard let error = error as? AnthropicError else { return XCTFail("not an AnthropicError: \(error)", file: file, line: line) }
            XCTAssertEqual(error.type, "invalid_request_error", file: file, line: line)
            XCTAssertEqual(error.httpStatus, 400, file: file, line: line)
            XCTAssertTrue(error.message.contains(field), "\(error.message) does not name \(field)", file: file, line: line)
        }
    }

    /// protocol.md §2.5 golden render 5, asked for through the Anthropic API: the same prompt byte for byte.
    func testToolRoundTripRendersTheGoldenPrompt() throws {
        let body: JSONValue = [
            "model": "glm-4.6", "max_tokens": 1024, "system": "S", "tools": [Self.weatherTool],
            "messages": [
                ["role": "user", "content": "Weather in Paris and Rome for 2 days?"],
                ["role": "assistant", "content": [
                    ["type": "thinking", "thinking": "Need two calls.", "signature": "sig"],
                    ["type": "text", "text": "Let me check."],
                    ["type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": ["city": "Paris", "days": 2]],
                    ["type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": ["city": "Rome", "days": 2]],
                ]],
                ["role": "user", "content": [
                    ["type": "tool_result", "tool_use_id": "toolu_1", "content": #"{"t":20}"#],
                    ["type": "tool_result", "tool_use_id": "toolu_2", "content": [["type": "text", "text": #"{"t":25}"#]]],
                ]],
            ],
        ]
        let prompt = try GLMChatFormat.render(request: try translate(body).chatRequest)
        let expected = """
            [gMASK]<sop><|system|>
            # Tools

            You may call one or more functions to assist with the user query.

            You are provided with function signatures within <tools></tools> XML tags:
            <tools>
            {"type": "function", "function": {"name": "get_weather", "description": "Get weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]}}}
            </tools>

            For each function call, output the function name and arguments within the following XML format:
            <tool_call>{function-name}
            <arg_key>{arg-key-1}</arg_key>
            <arg_value>{arg-value-1}</arg_value>
            <arg_key>{arg-key-2}</arg_key>
            <arg_value>{arg-value-2}</arg_value>
            ...
            </tool_call><|system|>
            S<|user|>
            Weather in Paris and Rome for 2 days?<|assistant|>
            <think>Need two calls.</think>
            Let me check.
            <tool_call>get_weather
            <arg_key>city</arg_key>
            <arg_value>Paris</arg_value>
            <arg_key>days</arg_key>
            <arg_value>2</arg_value>
            </tool_call>
            <tool_call>get_weather
            <arg_key>city</arg_key>
            <arg_value>Rome</arg_value>
            <arg_key>days</arg_key>
            <arg_value>2</arg_value>
            </tool_call><|observation|>
            <tool_response>
            {"t":20}
            </tool_response>
            <tool_response>
            {"t":25}
            </tool_response><|assistant|>
            """
        XCTAssertEqual(prompt.text, expected)
        XCTAssertNil(prompt.enableThinking)
        XCTAssertEqual(prompt.tools?.array?.count, 1)
    }

    /// The shape Claude Code sends (protocol.md §9.3): system blocks with the billing line and cache_control,
    /// a system-reminder text block, thinking with a budget, metadata, stream.
    func testClaudeCodeRequest() throws {
        let body: JSONValue = [
            "model": "claude-sonnet-4-5-20250929",
            "messages": [
                ["role": "user", "content": [
                    ["type": "text", "text": "<system-reminder>\nThis is a reminder.\n</system-reminder>"],
                    ["type": "text", "text": "list the files", "cache_control": ["type": "ephemeral"]],
                ]],
                ["role": "assistant", "content": [
                    ["type": "thinking", "thinking": "I should run ls.", "signature": "EqQBCkYIBxgCKkA"],
                    ["type": "text", "text": "Listing."],
                    ["type": "tool_use", "id": "toolu_01ABC", "name": "Bash",
                     "input": ["command": "ls", "description": "List files"]],
                ]],
                ["role": "user", "content": [
                    ["type": "tool_result", "tool_use_id": "toolu_01ABC", "content": "a.txt\nb.txt", "is_error": false,
                     "cache_control": ["type": "ephemeral"]],
                ]],
            ],
            "temperature": 1,
            "system": [
                ["type": "text", "text": "x-anthropic-billing-header: cc_version=2.0.14.8f1; cc_entrypoint=cli; cch=00000;"],
                ["type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude.",
                 "cache_control": ["type": "ephemeral"]],
                ["type": "text", "text": "You are an interactive CLI tool.", "cache_control": ["type": "ephemeral"]],
            ],
            "tools": [
                ["name": "Bash", "description": "Executes a bash command",
                 "input_schema": ["type": "object", "properties": [
                    "command": ["type": "string", "description": "The command"], "timeout": ["type": "number"],
                    "description": ["type": "string"]],
                    "required": ["command"], "additionalProperties": false,
                    "$schema": "http://json-schema.org/draft-07/schema#"]],
                ["type": "web_search_20250305", "name": "web_search", "max_uses": 5],
            ],
            "metadata": ["user_id": "user_0123_account__session_4567"],
            "max_tokens": 32000,
            "thinking": ["type": "enabled", "budget_tokens": 31999],
            "stream": true,
        ]
        let request = try translate(body)
        XCTAssertEqual(request.model, "claude-sonnet-4-5-20250929")
        XCTAssertEqual(request.maxTokens, 32000)
        XCTAssertTrue(request.stream)
        XCTAssertEqual(request.thinkingEnabled, true)
        XCTAssertEqual(request.thinkingBudget, 31999)
        XCTAssertEqual(request.temperature, 1)
        XCTAssertNil(request.toolChoice)
        XCTAssertTrue(request.parallelToolUse)
        let expected: JSONValue = [
            "model": "claude-sonnet-4-5-20250929",
            "messages": [
                ["role": "system", "content": "You are Claude Code, Anthropic's official CLI for Claude.\nYou are an interactive CLI tool."],
                ["role": "user", "content": "<system-reminder>\nThis is a reminder.\n</system-reminder>\nlist the files"],
                ["role": "assistant", "content": "Listing.", "reasoning_content": "I should run ls.",
                 "tool_calls": [["id": "toolu_01ABC", "type": "function",
                                 "function": ["name": "Bash", "arguments": ["command": "ls", "description": "List files"]]]]],
                ["role": "tool", "tool_call_id": "toolu_01ABC", "content": "a.txt\nb.txt"],
            ],
            "tools": [["type": "function", "function": [
                "name": "Bash", "description": "Executes a bash command",
                "parameters": body["tools"]?[0]?["input_schema"] ?? nil]]],
            "chat_template_kwargs": ["enable_thinking": true],
            "max_tokens": 32000,
            "temperature": 1.0,
            "stream": true,
        ]
        XCTAssertEqual(request.chatRequest, expected)
        XCTAssertEqual(request.chatRequest.serialized(), expected.serialized(), "key order")

        let prompt = try GLMChatFormat.render(request: request.chatRequest)
        XCTAssertFalse(prompt.text.contains("x-anthropic-billing-header"))
        XCTAssertFalse(prompt.text.contains("web_search"))
        XCTAssertTrue(prompt.text.contains("<|system|>\nYou are Claude Code, Anthropic's official CLI for Claude.\nYou are an interactive CLI tool.<|user|>"))
        XCTAssertTrue(prompt.text.contains("<tool_call>Bash\n<arg_key>command</arg_key>\n<arg_value>ls</arg_value>"))
        XCTAssertTrue(prompt.text.hasSuffix("<|observation|>\n<tool_response>\na.txt\nb.txt\n</tool_response><|assistant|>"))
        XCTAssertTrue(prompt.outputMayStartWithReasoning)
    }

    func testToolChoiceAndParallelism() throws {
        func choice(_ value: JSONValue) throws -> AnthropicRequest {
            try translate(["model": "m", "max_tokens": 10, "tools": [Self.weatherTool], "tool_choice": value,
                           "messages": [["role": "user", "content": "hi"]]])
        }
        XCTAssertEqual(try choice(["type": "auto"]).chatRequest["tool_choice"], "auto")
        XCTAssertEqual(try choice(["type": "any"]).chatRequest["tool_choice"], "required")
        XCTAssertEqual(try choice(["type": "none"]).chatRequest["tool_choice"], "none")
        let named = try choice(["type": "tool", "name": "get_weather", "disable_parallel_tool_use": true])
        XCTAssertEqual(named.toolChoice, .tool(name: "get_weather"))
        XCTAssertFalse(named.parallelToolUse)
        XCTAssertEqual(named.chatRequest["tool_choice"], ["type": "function", "function": ["name": "get_weather"]])
        XCTAssertEqual(named.chatRequest["parallel_tool_calls"], false)
        // `none` leaves the tools out of the prompt.
        XCTAssertNil(try GLMChatFormat.render(request: try choice(["type": "none"]).chatRequest).tools)
    }

    func testThinkingSwitchReachesTheTemplate() throws {
        func render(_ thinking: JSONValue?) throws -> ChatPrompt {
            var body: JSONValue = ["model": "m", "max_tokens": 10, "messages": [["role": "user", "content": "Hi"]]]
            if let thinking { body["thinking"] = thinking }
            return try GLMChatFormat.render(request: try translate(body).chatRequest)
        }
        XCTAssertEqual(try render(["type": "disabled"]).text, "[gMASK]<sop><|user|>\nHi/nothink<|assistant|>\n<think></think>")
        XCTAssertEqual(try render(["type": "enabled", "budget_tokens": 2048]).enableThinking, true)
        XCTAssertNil(try render(nil).enableThinking)
        XCTAssertNil(try render(["type": "adaptive"]).enableThinking)
    }

    func testAssistantPrefillContinuesTheLastMessage() throws {
        let request = try translate(["model": "m", "max_tokens": 5, "messages": [
            ["role": "user", "content": "u"], ["role": "assistant", "content": [["type": "text", "text": "partial"]]],
        ]])
        XCTAssertEqual(request.chatRequest["add_generation_prompt"], false)
        let prompt = try GLMChatFormat.render(request: request.chatRequest)
        XCTAssertEqual(prompt.text, "[gMASK]<sop><|user|>\nu<|assistant|>\n<think></think>\npartial")
        XCTAssertFalse(prompt.outputMayStartWithReasoning)
    }

    func testUserBlocksKeepOrderAndToolResultsFlatten() throws {
        let request = try translate(["model": "m", "max_tokens": 5, "messages": [
            ["role": "user", "content": [
                ["type": "text", "text": "before"],
                ["type": "tool_result", "tool_use_id": "t1", "content": [
                    ["type": "text", "text": "line 1"], ["type": "image", "source": ["type": "base64", "data": "AA=="]],
                    ["type": "text", "text": "line 2"]], "is_error": true],
                ["type": "tool_result", "tool_use_id": "t2"],
                ["type": "text", "text": "a"], ["type": "text", "text": "b"],
            ]],
        ]])
        XCTAssertEqual(request.chatRequest["messages"], [
            ["role": "user", "content": "before"],
            ["role": "tool", "tool_call_id": "t1", "content": "line 1\n[image omitted]\nline 2"],
            ["role": "tool", "tool_call_id": "t2", "content": ""],
            ["role": "user", "content": "a\nb"],
        ])
    }

    func testSamplingFieldsAndCountTokensBody() throws {
        let request = try translate(["model": "m", "max_tokens": 64, "stop_sequences": ["END", "\n\n"], "top_p": 0.9,
                                     "top_k": 40, "temperature": 0, "messages": [["role": "user", "content": "x"]]])
        XCTAssertEqual(request.stopSequences, ["END", "\n\n"])
        XCTAssertEqual(request.chatRequest["stop"], ["END", "\n\n"])
        XCTAssertEqual(request.chatRequest["top_p"], 0.9)
        XCTAssertEqual(request.chatRequest["top_k"], 40)
        XCTAssertEqual(request.chatRequest["temperature"], 0.0)
        XCTAssertEqual(request.chatRequest["stream"], false)
        let count = try translate(["model": "m", "messages": [["role": "user", "content": "x"]]], .countTokens)
        XCTAssertNil(count.maxTokens)
        XCTAssertNil(count.chatRequest["max_tokens"])
        XCTAssertEqual(AnthropicResponseBuilder.countTokens(inputTokens: 12), ["input_tokens": 12])
    }

    func testBillingHeaderInsideASystemString() throws {
        let request = try translate(["model": "m", "max_tokens": 5, "messages": [["role": "user", "content": "x"]],
                                     "system": "x-anthropic-billing-header: cc_version=1; cch=2;\nBe brief."])
        XCTAssertEqual(request.chatRequest["messages"]?[0], ["role": "system", "content": "Be brief."])
    }

    func testBadRequestsGiveInvalidRequestErrors() {
        let user: JSONValue = [["role": "user", "content": "x"]]
        assertRejected("text", mentioning: "JSON object")
        assertRejected(["max_tokens": 5, "messages": user], mentioning: "model")
        assertRejected(["model": "m", "messages": user], mentioning: "max_tokens")
        assertRejected(["model": "m", "max_tokens": 0, "messages": user], mentioning: "max_tokens")
        assertRejected(["model": "m", "max_tokens": 1.5, "messages": user], mentioning: "max_tokens")
        assertRejected(["model": "m", "max_tokens": 5], mentioning: "messages")
        assertRejected(["model": "m", "max_tokens": 5, "messages": []], mentioning: "messages")
        assertRejected(["model": "m", "max_tokens": 5, "messages": [["role": "system", "content": "x"]]],
                       mentioning: "messages.0.role")
        assertRejected(["model": "m", "max_tokens": 5, "messages": [["role": "user", "content": 3]]],
                       mentioning: "messages.0.content")
        assertRejected(["model": "m", "max_tokens": 5, "messages": [["role": "user", "content": [
            ["type": "image", "source": ["type": "base64", "data": "AA=="]]]]]], mentioning: "messages.0.content.0")
        assertRejected(["model": "m", "max_tokens": 5, "messages": [["role": "user", "content": [["type": "video"]]]]],
                       mentioning: "'video'")
        assertRejected(["model": "m", "max_tokens": 5, "messages": [["role": "assistant", "content": [
            ["type": "tool_use", "id": "t", "name": "f", "input": "x"]]]]], mentioning: "messages.0.content.0.input")
        assertRejected(["model": "m", "max_tokens": 5, "messages": [["role": "user", "content": [
            ["type": "tool_result", "content": "x"]]]]], mentioning: "tool_use_id")
        assertRejected(["model": "m", "max_tokens": 5, "messages": user, "system": [["type": "image"]]],
                       mentioning: "system.0")
        assertRejected(["model": "m", "max_tokens": 5, "messages": user, "temperature": 1.5], mentioning: "temperature")
        assertRejected(["model": "m", "max_tokens": 5, "messages": user, "stop_sequences": [1]],
                       mentioning: "stop_sequences.0")
        assertRejected(["model": "m", "max_tokens": 5, "messages": user, "thinking": ["type": "enabled"]],
                       mentioning: "thinking.budget_tokens")
        assertRejected(["model": "m", "max_tokens": 5, "messages": user, "thinking": ["type": "on"]],
                       mentioning: "thinking.type")
        assertRejected(["model": "m", "max_tokens": 5, "messages": user, "tools": [["description": "no name"]]],
                       mentioning: "tools.0.name")
        assertRejected(["model": "m", "max_tokens": 5, "messages": user, "tool_choice": ["type": "any"]],
                       mentioning: "tool_choice")
        assertRejected(["model": "m", "max_tokens": 5, "messages": user, "tools": [Self.weatherTool],
                        "tool_choice": ["type": "tool", "name": "nope"]], mentioning: "tool_choice.name")
        assertRejected(["model": "m", "max_tokens": 5, "messages": user, "tool_choice": "auto"], mentioning: "tool_choice")
    }

    func testErrorBodyShape() {
        let error = AnthropicError.invalidRequest("max_tokens: Field required")
        XCTAssertEqual(error.body.serialized(),
                       #"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}"#)
        XCTAssertEqual(AnthropicError(type: "overloaded_error", message: "busy").httpStatus, 529)
        XCTAssertEqual(AnthropicError(ChatRequestError("bad", param: "messages[0]")).message, "bad (messages[0])")
    }
}
