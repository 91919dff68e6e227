import Foundation
import JSON
import TestSupport
import Tokenizer
import XCTest
@testable import Server

/// Which calls are calls and which `finish_reason` an answer gets (protocol.md §7.6), and where a forced call
/// (`tool_choice` "required" or named) is placed (§7.7), on the scripted model.
extension ScriptedModelTests {
    private var thinkingOff: (String, JSONValue) { ("chat_template_kwargs", ["enable_thinking": false]) }

    private func tokenCount(_ text: String) throws -> Int {
        try Tokenizer(directory: ServerHarness.modelDirectory).encode(text).count
    }

    private func toolDeltas(_ chunks: [JSONValue]) -> [JSONValue] {
        chunks.compactMap { $0["choices"]?[0]?["delta"]?["tool_calls"]?[0] }
    }

    func testCallCutByMaxTokensIsNotReturnedAsACall() throws {
        try start(scripting: "Checking." + weatherCall)
        // Cut inside the city value: the call has started but never reaches `</tool_call>`.
        let cut = try tokenCount("Checking.<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>") + 1
        let body = chatBody("Weather?", [("tools", tools), ("max_tokens", JSONValue(cut)), thinkingOff])
        let whole = try post(body)
        let message = try XCTUnwrap(whole["choices"]?[0]?["message"])
        XCTAssertNil(message["tool_calls"], "\(message)")
        XCTAssertEqual(message["content"], "Checking.")
        XCTAssertEqual(whole["choices"]?[0]?["finish_reason"], "length")

        // The stream already showed the start (and what was certain of the arguments): it ends with `length`
        // and never closes the arguments with invented text.
        let chunks = try stream(body)
        let deltas = toolDeltas(chunks)
        XCTAssertEqual(deltas.first?["function"]?["name"], "get_weather")
        let arguments = deltas.compactMap { $0["function"]?["arguments"]?.string }.joined()
        XCTAssertTrue(arguments.hasPrefix(#"{"city": ""#), arguments)
        XCTAssertFalse(arguments.hasSuffix("}"), arguments)
        XCTAssertEqual(chunks.last?["choices"]?[0]?["finish_reason"], "length")
    }

    func testNamedCallCutRightAfterItsNameHasNoInventedArguments() throws {
        // The reviewer's case: a named tool_choice and a tiny max_tokens.
        let tokenizer = try Tokenizer(directory: ServerHarness.modelDirectory)
        let forced = tokenizer.encode("\n<tool_call>get_weather\n").count
        let filler = tokenizer.encode("z")[0]
        try start(scriptTokens: Array(repeating: filler, count: forced) + tokenizer.encode(String(weatherCall.dropFirst(23))))
        let named: JSONValue = ["type": "function", "function": ["name": "get_weather"]]
        let body = chatBody("Weather?", [("tools", tools), ("tool_choice", named), ("max_tokens", JSONValue(forced + 1)),
                                         thinkingOff])
        let whole = try post(body)
        XCTAssertNil(whole["choices"]?[0]?["message"]?["tool_calls"])
        XCTAssertEqual(whole["choices"]?[0]?["finish_reason"], "length")
        let chunks = try stream(body)
        XCTAssertEqual(toolDeltas(chunks).compactMap { $0["function"]?["arguments"]?.string }.joined(), "")
        XCTAssertEqual(chunks.last?["choices"]?[0]?["finish_reason"], "length")
    }

    func testCallEndingExactlyAtMaxTokensFinishesWithToolCalls() throws {
        try start(scripting: weatherCall)
        let body = chatBody("Weather?", [("tools", tools), ("max_tokens", JSONValue(try tokenCount(weatherCall))),
                                         thinkingOff])
        let whole = try post(body)
        XCTAssertEqual(whole["choices"]?[0]?["message"]?["tool_calls"]?.array?.count, 1)
        XCTAssertEqual(whole["choices"]?[0]?["finish_reason"], "tool_calls")
        XCTAssertEqual(try stream(body).last?["choices"]?[0]?["finish_reason"], "tool_calls")
    }

    func testSecondCallCutByMaxTokensKeepsTheFirstAndFinishesWithLength() throws {
        let text = weatherCall + "\n<tool_call>get_time\n"
        try start(scripting: text + "</tool_call>")
        let whole = try post(chatBody("Both?", [("tools", tools), ("max_tokens", JSONValue(try tokenCount(text))),
                                                thinkingOff]))
        let calls = whole["choices"]?[0]?["message"]?["tool_calls"]?.array
        XCTAssertEqual(calls?.count, 1)
        XCTAssertEqual(calls?.first?["function"]?["name"], "get_weather")
        XCTAssertEqual(whole["choices"]?[0]?["finish_reason"], "length")
    }

    /// The model reasons, then would write filler; the forced call text follows its `</think>`, then the model
    /// writes `rest`.
    private func checkForcedCallAfterReasoning(choice: JSONValue, forced: String, rest: String) throws {
        let tokenizer = try Tokenizer(directory: ServerHarness.modelDirectory)
        let reasoning = tokenizer.encode("\n<think>The user wants the time.</think>")
        let filler = tokenizer.encode("z")[0]
        let forcedCount = tokenizer.encode(forced).count
        try start(scriptTokens: reasoning + Array(repeating: filler, count: forcedCount) + tokenizer.encode(rest))
        let json = try post(chatBody("Time?", [("tools", tools), ("tool_choice", choice)]))
        let message = try XCTUnwrap(json["choices"]?[0]?["message"])
        XCTAssertEqual(message["reasoning_content"], "The user wants the time.")
        XCTAssertEqual(message["content"], .null)
        XCTAssertEqual(message["tool_calls"]?[0]?["function"]?["name"], "get_time")
        XCTAssertEqual(message["tool_calls"]?[0]?["function"]?["arguments"], "{}")
        XCTAssertEqual(json["choices"]?[0]?["finish_reason"], "tool_calls")
    }

    func testNamedForcedCallComesAfterTheReasoning() throws {
        try checkForcedCallAfterReasoning(choice: ["type": "function", "function": ["name": "get_time"]],
                                          forced: "\n<tool_call>get_time\n", rest: "</tool_call>")
    }

    func testRequiredForcedCallComesAfterTheReasoning() throws {
        try checkForcedCallAfterReasoning(choice: "required", forced: "\n<tool_call>", rest: "get_time\n</tool_call>")
    }

    func testForcedCallClosesReasoningTheModelWouldEndWithAStop() {
        let markers = ForcedToolCall.ReasoningTokens(open: 1, close: 2, toolCallOpen: 3, leading: [4])
        var forcer = ToolCallForcer(ForcedToolCall(tokens: [10, 11], reasoning: markers))
        var sampled = [4, 1, 7, 99, 8]  // newline, <think>, text, a stop token, (never reached) text
        var out: [Int] = []
        for _ in 0..<6 {
            out.append(forcer.next(sample: { sampled.removeFirst() }, isStop: { $0 == 99 }).token)
        }
        XCTAssertEqual(out, [4, 1, 7, 2, 10, 11])  // the stop became `</think>` + the call
        var direct = ToolCallForcer(ForcedToolCall(tokens: [10, 11]))
        XCTAssertEqual(direct.next(sample: { 5 }, isStop: { _ in false }).token, 10)
    }

    func testForcedCallCannotNameAnUndeclaredTool() throws {
        // After the forced `\n<tool_call>` the model would name a tool the request did not declare; the forced
        // call's grammar (issue 12) allows only declared names, so the call names one of them. (Which one is up to
        // the sampler: the scripted model gives every token but its script the same logit.)
        try start(scripting: "launch_rockets\n</tool_call>")
        let body = chatBody("Time?", [("tools", tools), ("tool_choice", "required"), thinkingOff])
        let response = try RawClient(port: server?.port ?? 0).request("POST", "/v1/chat/completions",
                                                                       body: body.serialized())
        XCTAssertEqual(response.status, 200)
        let json = try JSONValue.parse(response.body)
        let name = json["choices"]?[0]?["message"]?["tool_calls"]?[0]?["function"]?["name"]?.string
        XCTAssertTrue(["get_weather", "get_time"].contains(name ?? ""), "\(json)")
        XCTAssertEqual(json["choices"]?[0]?["finish_reason"], "tool_calls")
    }
}
