import Foundation
import HTTP
import JSON
import Tokenizer
import TestSupport
import XCTest
@testable import Server

final class ScriptedModelTests: XCTestCase {
    var server: ScriptedServer?

    let tools: JSONValue = [["type": "function", "function": [
        "name": "get_weather",
        "parameters": ["type": "object", "properties": ["city": ["type": "string"], "days": ["type": "integer"]]],
    ]], ["type": "function", "function": ["name": "get_time", "parameters": ["type": "object", "properties": [:]]]]]

    func start(scripting text: String) throws { server = try ScriptedServer(scripting: text) }

    func start(scriptTokens: [Int]) throws { server = try ScriptedServer(scriptTokens: scriptTokens) }

    private var port: Int { server?.port ?? 0 }

    override func tearDown() { server?.stop() }

    func post(_ body: JSONValue) throws -> JSONValue {
        let response = try RawClient(port: port).request("POST", "/v1/chat/completions", body: body.serialized())
        XCTAssertEqual(response.status, 200, response.text)
        return try JSONValue.parse(response.body)
    }

    func stream(_ body: JSONValue) throws -> [JSONValue] {
        var body = body
        body["stream"] = true
        let response = try RawClient(port: port).request("POST", "/v1/chat/completions", body: body.serialized())
        let events = response.text.components(separatedBy: "\n\n").filter { $0.hasPrefix("data: ") }.map { $0.dropFirst(6) }
        XCTAssertEqual(events.last, "[DONE]")
        return try events.dropLast().map { try JSONValue.parse(String($0)) }
    }

    var weatherCall: String { Self.weatherCall }
    static let weatherCall = "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n"
        + "<arg_key>days</arg_key>\n<arg_value>3</arg_value>\n</tool_call>"

    func testReasoningAndToolCallWhole() throws {
        try start(scripting: "\n<think>The user wants weather.</think>\nLet me check." + weatherCall)
        let json = try post(chatBody("Weather?", [("tools", tools)]))
        let message = try XCTUnwrap(json["choices"]?[0]?["message"])
        XCTAssertEqual(json["choices"]?[0]?["finish_reason"], "tool_calls")
        XCTAssertEqual(message["reasoning_content"], "The user wants weather.")
        XCTAssertEqual(message["content"], "Let me check.")
        let call = try XCTUnwrap(message["tool_calls"]?[0])
        XCTAssertTrue(call["id"]?.string?.hasPrefix("call_") ?? false)
        XCTAssertEqual(call["type"], "function")
        XCTAssertEqual(call["function"]?["name"], "get_weather")
        let arguments = try JSONValue.parse(try XCTUnwrap(call["function"]?["arguments"]?.string))
        XCTAssertEqual(arguments, ["city": "Paris", "days": 3])
        XCTAssertGreaterThan(json["usage"]?["completion_tokens_details"]?["reasoning_tokens"]?.int ?? 0, 0)
    }

    func testToolCallStreamsIdAndNameBeforeArguments() throws {
        try start(scripting: "\n<think>Hmm.</think>\n" + weatherCall)
        let chunks = try stream(chatBody("Weather?", [("tools", tools)]))
        let reasoning = chunks.compactMap { $0["choices"]?[0]?["delta"]?["reasoning_content"]?.string }.joined()
        XCTAssertEqual(reasoning, "Hmm.")
        let toolDeltas = chunks.compactMap { $0["choices"]?[0]?["delta"]?["tool_calls"]?[0] }
        XCTAssertGreaterThanOrEqual(toolDeltas.count, 2)
        XCTAssertEqual(toolDeltas[0]["index"], 0)
        XCTAssertNotNil(toolDeltas[0]["id"]?.string)
        XCTAssertEqual(toolDeltas[0]["function"]?["name"], "get_weather")
        let arguments = toolDeltas.compactMap { $0["function"]?["arguments"]?.string }.joined()
        XCTAssertEqual(try JSONValue.parse(arguments), ["city": "Paris", "days": 3])
        XCTAssertEqual(chunks.last?["choices"]?[0]?["finish_reason"], "tool_calls")
    }

    func testCallWithoutArgumentsGetsEmptyObject() throws {
        try start(scripting: "<tool_call>get_time\n</tool_call>")
        let whole = try post(chatBody("Time?", [("tools", tools)]))
        XCTAssertEqual(whole["choices"]?[0]?["message"]?["tool_calls"]?[0]?["function"]?["arguments"], "{}")
        let chunks = try stream(chatBody("Time?", [("tools", tools)]))
        let arguments = chunks.compactMap { $0["choices"]?[0]?["delta"]?["tool_calls"]?[0]?["function"]?["arguments"]?.string }
        XCTAssertEqual(arguments.joined(), "{}")
    }

    func testParallelToolCallsFalseKeepsOnlyTheFirst() throws {
        try start(scripting: weatherCall + "\n<tool_call>get_time\n</tool_call>")
        let both = try post(chatBody("Both?", [("tools", tools)]))
        XCTAssertEqual(both["choices"]?[0]?["message"]?["tool_calls"]?.array?.count, 2)
        let first = try post(chatBody("Both?", [("tools", tools), ("parallel_tool_calls", false)]))
        XCTAssertEqual(first["choices"]?[0]?["message"]?["tool_calls"]?.array?.count, 1)
        XCTAssertEqual(first["choices"]?[0]?["finish_reason"], "tool_calls")
    }

    func testWithoutToolsCallTextStaysContent() throws {
        try start(scripting: "Plain answer." + weatherCall)
        let json = try post(chatBody("Weather?", [("chat_template_kwargs", ["enable_thinking": false])]))
        XCTAssertEqual(json["choices"]?[0]?["finish_reason"], "stop")
        XCTAssertNil(json["choices"]?[0]?["message"]?["tool_calls"])
        XCTAssertTrue(json["choices"]?[0]?["message"]?["content"]?.string?.hasPrefix("Plain answer.<tool_call>") ?? false)
    }

    func testStopStringAcrossTokensInScript() throws {
        try start(scripting: "alpha beta gamma delta")
        let json = try post(chatBody("x", [("stop", "a gam")]))
        XCTAssertEqual(json["choices"]?[0]?["message"]?["content"], "alpha bet")
        XCTAssertEqual(json["choices"]?[0]?["finish_reason"], "stop")
    }
}

extension ScriptedModelTests {
    func testNamedToolChoiceForcesThatFunction() throws {
        // The model would write filler and then `</tool_call>`; it does not open `<think>`, so the forced
        // `\n<tool_call>get_time\n` replaces the filler at once, and the answer becomes a get_time call.
        let tokenizer = try Tokenizer(directory: ServerHarness.modelDirectory)
        let forcedCount = tokenizer.encode("\n<tool_call>get_time\n").count
        let filler = tokenizer.encode("z")
        try start(scriptTokens: Array(repeating: filler[0], count: forcedCount) + tokenizer.encode("</tool_call>"))
        XCTAssertNil(try post(chatBody("Time?", [("tools", tools)]))["choices"]?[0]?["message"]?["tool_calls"])
        let named: JSONValue = ["type": "function", "function": ["name": "get_time"]]
        let json = try post(chatBody("Time?", [("tools", tools), ("tool_choice", named)]))
        XCTAssertEqual(json["choices"]?[0]?["message"]?["tool_calls"]?[0]?["function"]?["name"], "get_time")
        XCTAssertEqual(json["choices"]?[0]?["finish_reason"], "tool_calls")
    }

    func testToolChoiceMustNameADeclaredTool() throws {
        try start(scripting: "x")
        let response = try RawClient(port: port).request("POST", "/v1/chat/completions", body: chatBody("x", [
            ("tools", tools), ("tool_choice", ["type": "function", "function": ["name": "launch_rockets"]]),
        ]).serialized())
        XCTAssertEqual(response.status, 400)
        XCTAssertEqual(try JSONValue.parse(response.body)["error"]?["param"], "tool_choice")
        let required = try RawClient(port: port).request("POST", "/v1/chat/completions",
                                                              body: chatBody("x", [("tool_choice", "required")]).serialized())
        XCTAssertEqual(required.status, 400)
    }
}
