import Foundation
import JSON
import TestSupport
import XCTest
@testable import Server

final class TextCompletionsTests: XCTestCase {
    private var server: ScriptedServer?

    override func tearDown() { server?.stop() }

    private func start(_ text: String) throws {
        server = try ScriptedServer(scripting: text)
    }

    private func post(_ body: JSONValue) throws -> (Int, String) {
        let response = try RawClient(port: server?.port ?? 0).request("POST", "/v1/completions", body: body.serialized())
        return (response.status, response.text)
    }

    func testRawTextIsReturnedUntrimmed() throws {
        try start("\n    return 1\n")
        let (status, text) = try post(["prompt": "def one():", "max_tokens": 50])
        XCTAssertEqual(status, 200, text)
        let json = try JSONValue.parse(text)
        XCTAssertEqual(json["object"], "text_completion")
        XCTAssertTrue(json["id"]?.string?.hasPrefix("cmpl-") ?? false)
        XCTAssertEqual(json["choices"]?[0]?["text"], "\n    return 1\n")
        XCTAssertEqual(json["choices"]?[0]?["finish_reason"], "stop")
    }

    func testEchoTokenPromptsAndDefaultLength() throws {
        try start("abcdefghijklmnopqrstuvwxyz abcdefghijklmnopqrstuvwxyz abcdefghijklmnopqrstuvwxyz")
        let ids = try XCTUnwrap(server).tokenizer.encode("Hi")
        let (_, text) = try post(["prompt": .array(ids.map { JSONValue($0) }), "echo": true])
        let json = try JSONValue.parse(text)
        XCTAssertTrue(json["choices"]?[0]?["text"]?.string?.hasPrefix("Hiabc") ?? false, text)
        XCTAssertEqual(json["usage"]?["completion_tokens"], 16, "OpenAI's default max_tokens")
        XCTAssertEqual(json["choices"]?[0]?["finish_reason"], "length")
    }

    func testStreamedChunksConcatenate() throws {
        try start("one two three")
        let (_, text) = try post(["prompt": "Count:", "stream": true, "stream_options": ["include_usage": true]])
        let events = text.components(separatedBy: "\n\n").filter { $0.hasPrefix("data: ") }.map { String($0.dropFirst(6)) }
        XCTAssertEqual(events.last, "[DONE]")
        let chunks = try events.dropLast().map { try JSONValue.parse($0) }
        XCTAssertEqual(chunks.compactMap { $0["choices"]?[0]?["text"]?.string }.joined(), "one two three")
        XCTAssertEqual(chunks.last?["choices"], .array([]))
        XCTAssertNotNil(chunks.last?["usage"]?["completion_tokens"]?.int)
    }

    func testBadPromptsAre400() throws {
        try start("x")
        for prompt: JSONValue in [5, [], ["a", "b"], [-1], [["x"]]] {
            let (status, text) = try post(["prompt": prompt])
            XCTAssertEqual(status, 400, "\(prompt)")
            XCTAssertEqual(try JSONValue.parse(text)["error"]?["param"], "prompt")
        }
        XCTAssertEqual(try post(["max_tokens": 3]).0, 400)
    }
}
