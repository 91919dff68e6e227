import Foundation
import HTTP
import JSON
import Tokenizer
import TestSupport
import XCTest
@testable import Server

final class AnthropicMessagesTests: XCTestCase {
    private var server: ScriptedServer?

    private func start(scripting text: String, apiKey: String? = nil) throws {
        server = try ScriptedServer(scripting: text, apiKey: apiKey)
    }

    private var port: Int { server?.port ?? 0 }

    override func tearDown() { server?.stop() }

    private let tools: JSONValue = [["name": "get_weather", "description": "Weather",
                                     "input_schema": ["type": "object", "properties": ["city": ["type": "string"]]]]]

    private func body(_ extra: [(String, JSONValue)] = []) -> JSONValue {
        var body: JSONValue = ["model": "claude-sonnet-4-5", "max_tokens": 256,
                               "messages": [["role": "user", "content": "Weather in Paris?"]]]
        for (key, value) in extra { body[key] = value }
        return body
    }

    private func post(_ path: String, _ body: JSONValue, headers: [String: String] = [:]) throws -> (Int, JSONValue) {
        let response = try RawClient(port: port).request("POST", path, body: body.serialized(), headers: headers)
        return (response.status, try JSONValue.parse(response.body))
    }

    func testWholeMessageWithThinkingTextAndToolUse() throws {
        try start(scripting: "\n<think>Need weather.</think>\nChecking.<tool_call>get_weather\n"
                  + "<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n</tool_call>")
        let (status, json) = try post("/v1/messages", body([("tools", tools)]))
        XCTAssertEqual(status, 200, "\(json)")
        XCTAssertEqual(json["type"], "message")
        XCTAssertEqual(json["model"], "claude-sonnet-4-5")
        XCTAssertEqual(json["stop_reason"], "tool_use")
        let blocks = try XCTUnwrap(json["content"]?.array)
        XCTAssertEqual(blocks.map { $0["type"]?.string ?? "" }, ["thinking", "text", "tool_use"])
        XCTAssertEqual(blocks[0]["thinking"], "Need weather.")
        XCTAssertEqual(blocks[1]["text"], "Checking.")
        XCTAssertEqual(blocks[2]["name"], "get_weather")
        XCTAssertEqual(blocks[2]["input"], ["city": "Paris"])
        XCTAssertTrue(blocks[2]["id"]?.string?.hasPrefix("toolu_") ?? false)
        XCTAssertNotNil(json["usage"]?["output_tokens"]?.int)
    }

    func testStreamedEventsAndStopSequence() throws {
        try start(scripting: "Hello there, general Kenobi")
        let response = try RawClient(port: port).request(
            "POST", "/v1/messages", body: body([("stream", true), ("stop_sequences", ["general"])]).serialized())
        XCTAssertEqual(response.status, 200)
        let events = response.text.components(separatedBy: "\n\n").filter { !$0.isEmpty }
        let names = events.compactMap { $0.split(separator: "\n").first.map { String($0.dropFirst("event: ".count)) } }
        XCTAssertEqual(names.first, "message_start")
        XCTAssertEqual(names.last, "message_stop")
        XCTAssertTrue(names.contains("content_block_delta"))
        let deltaEvent = try XCTUnwrap(events.first { $0.hasPrefix("event: message_delta") })
        let delta = try JSONValue.parse(String(deltaEvent.split(separator: "\n")[1].dropFirst("data: ".count)))
        XCTAssertEqual(delta["delta"]?["stop_reason"], "stop_sequence")
        XCTAssertEqual(delta["delta"]?["stop_sequence"], "general")
        let text = try events.filter { $0.hasPrefix("event: content_block_delta") }.map {
            try JSONValue.parse(String($0.split(separator: "\n")[1].dropFirst("data: ".count)))
        }.compactMap { $0["delta"]?["text"]?.string }.joined()
        XCTAssertEqual(text, "Hello there,")   // the parser never sends trailing whitespace
    }

    func testCountTokensAndErrorsInAnthropicShape() throws {
        try start(scripting: "x", apiKey: "k")
        let (status, count) = try post("/v1/messages/count_tokens?beta=true", body(), headers: ["x-api-key": "k"])
        XCTAssertEqual(status, 200)
        XCTAssertGreaterThan(count["input_tokens"]?.int ?? 0, 0)

        let (denied, error) = try post("/v1/messages", body())
        XCTAssertEqual(denied, 401)
        XCTAssertEqual(error["type"], "error")
        XCTAssertEqual(error["error"]?["type"], "authentication_error")

        let broken = try RawClient(port: port).request("POST", "/v1/messages", body: "{nope",
                                                            headers: ["x-api-key": "k"])
        XCTAssertEqual(broken.status, 400)
        XCTAssertEqual(try JSONValue.parse(broken.body)["error"]?["type"], "invalid_request_error")

        let (missing, missingError) = try post("/v1/messages", ["model": "m", "messages": []], headers: ["x-api-key": "k"])
        XCTAssertEqual(missing, 400)
        XCTAssertEqual(missingError["error"]?["type"], "invalid_request_error")
    }
}
