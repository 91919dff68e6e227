import Chat
import Engine
import Foundation
import JSON
import Tokenizer
import XCTest
@testable import Server

final class ChatCompletionsTests: XCTestCase {
    nonisolated(unsafe) static var harness: ServerHarness!

    override class func setUp() {
        super.setUp()
        harness = try? ServerHarness()
    }

    override class func tearDown() {
        harness?.stop()
        harness = nil
        super.tearDown()
    }

    private var h: ServerHarness {
        get throws { try XCTUnwrap(ChatCompletionsTests.harness, "the server did not start") }
    }

    /// `logit_bias` that bans every stop token, so generation runs to `max_tokens`.
    private func banStops() throws -> JSONValue {
        var bias = JSONObject()
        for id in try h.model.stopTokenIDs { bias[String(id)] = -100 }
        return .object(bias)
    }

    func testHealthAndModels() throws {
        XCTAssertEqual(try h.get("/health").json["status"], "ok")
        let models = try h.get("/v1/models")
        XCTAssertEqual(models.status, 200)
        XCTAssertEqual(models.json["object"], "list")
        XCTAssertEqual(models.json["data"]?[0]?["id"], "tiny-chat-bf16")
        XCTAssertEqual(models.json["data"]?[0]?["object"], "model")
        XCTAssertEqual(try h.get("/v1/models/tiny-chat-bf16").json["id"], "tiny-chat-bf16")
        XCTAssertEqual(try h.get("/v1/models/other").status, 404)
    }

    func testNonStreamingShapeAndLength() throws {
        let (status, json) = try h.post("/v1/chat/completions", chatBody("Hi", [
            ("model", "tiny-chat-bf16"), ("max_tokens", 6), ("seed", 3), ("logit_bias", try banStops()),
        ]))
        XCTAssertEqual(status, 200, "\(json)")
        XCTAssertEqual(json["object"], "chat.completion")
        XCTAssertTrue(json["id"]?.string?.hasPrefix("chatcmpl-") ?? false)
        XCTAssertNotNil(json["created"]?.int)
        XCTAssertEqual(json["model"], "tiny-chat-bf16")
        XCTAssertNotNil(json["system_fingerprint"]?.string)
        let choice = try XCTUnwrap(json["choices"]?[0])
        XCTAssertEqual(choice["index"], 0)
        XCTAssertEqual(choice["message"]?["role"], "assistant")
        XCTAssertEqual(choice["finish_reason"], "length")
        let usage = try XCTUnwrap(json["usage"])
        XCTAssertEqual(usage["completion_tokens"], 6)
        let prompt = try XCTUnwrap(usage["prompt_tokens"]?.int)
        XCTAssertEqual(usage["total_tokens"]?.int, prompt + 6)
        XCTAssertNotNil(usage["prompt_tokens_details"]?["cached_tokens"]?.int)
        XCTAssertNotNil(usage["completion_tokens_details"]?["reasoning_tokens"]?.int)
    }

    /// The server's greedy text equals a direct greedy loop on the engine, decoded and parsed the same way.
    func testGreedyMatchesDirectEngineDecoding() throws {
        let body = chatBody("What is two plus two?", [("temperature", 0), ("max_tokens", 12)])
        let (status, json) = try h.post("/v1/chat/completions", body)
        XCTAssertEqual(status, 200)

        let model = try GLMModel.load(from: ServerHarness.modelDirectory, threads: 1)
        let tokenizer = try Tokenizer(directory: ServerHarness.modelDirectory)
        let prompt = try GLMChatFormat.render(request: body)
        let cache = model.makeCache(capacity: 256)
        var logits = try model.forward(tokenizer.encode(prompt.text).map(Int32.init), cache: cache)
        var ids: [Int] = []
        let stops = try h.model.stopTokenIDs
        for _ in 0..<12 {
            let next = Sampler.argmax(logits)
            if stops.contains(next) { break }
            ids.append(next)
            logits = try model.forward([Int32(next)], cache: cache)
        }
        let expected = GLMOutputParser.parse(tokenizer.decode(ids), tools: nil)
        XCTAssertEqual(json["choices"]?[0]?["message"]?["content"]?.string ?? "", expected.content)
        XCTAssertEqual(json["usage"]?["completion_tokens"]?.int, ids.count)
    }

    func testSeedMakesSamplingRepeatable() throws {
        let body = chatBody("Tell me a story", [("seed", 1234), ("temperature", 1.0), ("max_tokens", 16)])
        let first = try h.post("/v1/chat/completions", body).json["choices"]?[0]?["message"]
        let second = try h.post("/v1/chat/completions", body).json["choices"]?[0]?["message"]
        XCTAssertNotNil(first)
        XCTAssertEqual(first, second)
    }

    func testStopStringCutsTheTextBeforeIt() throws {
        let base = chatBody("Count for me", [("temperature", 0), ("max_tokens", 24), ("logit_bias", try banStops())])
        let full = try XCTUnwrap(try h.post("/v1/chat/completions", base).json["choices"]?[0]?["message"]?["content"]?.string)
        let characters = Array(full)
        try XCTSkipIf(characters.count < 8, "greedy output too short to pick a stop string: \(full)")
        let stop = String(characters[(characters.count / 2)..<(characters.count / 2 + 3)])
        // The text before the stop string; the parser holds back trailing whitespace, so none is sent.
        var expected = String(full[..<(full.range(of: stop)?.lowerBound ?? full.endIndex)])
        while expected.last?.isWhitespace ?? false { expected.removeLast() }

        var withStop = base
        withStop["stop"] = .array([.string(stop), "never-appears-xyz"])
        let json = try h.post("/v1/chat/completions", withStop).json
        XCTAssertEqual(json["choices"]?[0]?["message"]?["content"]?.string, expected)
        XCTAssertEqual(json["choices"]?[0]?["finish_reason"], "stop")

        // Streaming cuts at the same place.
        withStop["stream"] = true
        let events = try h.stream(withStop)
        let streamed = events.dropLast().compactMap { try? JSONValue.parse($0) }
            .compactMap { $0["choices"]?[0]?["delta"]?["content"]?.string }.joined()
        XCTAssertEqual(streamed, expected)
    }

    func testStreamingMatchesNonStreamingAndEndsWithUsageAndDone() throws {
        let extra: [(String, JSONValue)] = [("seed", 99), ("max_tokens", 10), ("logit_bias", try banStops())]
        let whole = try h.post("/v1/chat/completions", chatBody("Stream this", extra)).json
        var streamBody = chatBody("Stream this", extra)
        streamBody["stream"] = true
        streamBody["stream_options"] = ["include_usage": true]
        let events = try h.stream(streamBody)
        XCTAssertEqual(events.last, "[DONE]")
        let chunks = try events.dropLast().map { try JSONValue.parse($0) }
        XCTAssertGreaterThanOrEqual(chunks.count, 3)
        XCTAssertEqual(chunks.first?["choices"]?[0]?["delta"]?["role"], "assistant")
        XCTAssertEqual(Set(chunks.compactMap { $0["id"]?.string }).count, 1, "one id for all chunks")
        for chunk in chunks { XCTAssertEqual(chunk["object"], "chat.completion.chunk") }
        let usageChunk = try XCTUnwrap(chunks.last)
        XCTAssertEqual(usageChunk["choices"], .array([]))
        XCTAssertEqual(usageChunk["usage"]?["completion_tokens"], 10)
        let finish = chunks[chunks.count - 2]
        XCTAssertEqual(finish["choices"]?[0]?["finish_reason"], "length")
        for chunk in chunks.dropLast() { XCTAssertEqual(chunk["usage"], .null) }
        let text = chunks.compactMap { $0["choices"]?[0]?["delta"]?["content"]?.string }.joined()
        XCTAssertEqual(text, whole["choices"]?[0]?["message"]?["content"]?.string)
    }

    func testRepeatedPromptReusesTheCache() throws {
        let body = chatBody("Cache me please", [("max_tokens", 2)])
        _ = try h.post("/v1/chat/completions", body)
        let json = try h.post("/v1/chat/completions", body).json
        let prompt = try XCTUnwrap(json["usage"]?["prompt_tokens"]?.int)
        XCTAssertEqual(json["usage"]?["prompt_tokens_details"]?["cached_tokens"]?.int, prompt - 1)
    }

    func testBadRequestsNameTheField() throws {
        let invalid = try h.post("/v1/chat/completions", raw: "{\"messages\": [")
        XCTAssertEqual(invalid.status, 400)
        XCTAssertNotNil(invalid.json["error"]?["message"]?.string)
        XCTAssertEqual(invalid.json["error"]?["type"], "invalid_request_error")

        let cases: [(String, JSONValue, String)] = [
            ("temperature", "hot", "temperature"), ("max_tokens", 0, "max_tokens"), ("n", 2, "n"),
            ("stop", 5, "stop"), ("seed", "x", "seed"), ("top_p", 3, "top_p"), ("stream", "yes", "stream"),
            ("logit_bias", ["abc": 1], "logit_bias"), ("tool_choice", 7, "tool_choice"), ("tools", "x", "tools"),
        ]
        for (field, value, param) in cases {
            let response = try h.post("/v1/chat/completions", chatBody("x", [(field, value)]))
            XCTAssertEqual(response.status, 400, field)
            XCTAssertEqual(response.json["error"]?["param"]?.string, param, "\(response.json)")
        }
        let noMessages = try h.post("/v1/chat/completions", ["model": "tiny-chat-bf16"])
        XCTAssertEqual(noMessages.json["error"]?["param"], "messages")
        let wrongModel = try h.post("/v1/chat/completions", chatBody("x", [("model", "gpt-4")]))
        XCTAssertEqual(wrongModel.status, 404)
        XCTAssertEqual(wrongModel.json["error"]?["code"], "model_not_found")
    }

    func testUnknownFieldsAreIgnored() throws {
        let response = try h.post("/v1/chat/completions", chatBody("x", [
            ("max_tokens", 2), ("some_future_field", ["a": 1]), ("user", "me"), ("metadata", ["k": "v"]),
        ]))
        XCTAssertEqual(response.status, 200)
    }

    func testMetricsCountTokens() throws {
        func completionTotal() throws -> Int? {
            let text = try h.client().request("GET", "/metrics").text
            let line = text.split(separator: "\n").first { $0.hasPrefix("glmserve_completion_tokens_total ") }
            return line.flatMap { Int($0.split(separator: " ")[1]) }
        }
        let before = try XCTUnwrap(try completionTotal())
        _ = try h.post("/v1/chat/completions", chatBody("count", [("max_tokens", 3), ("logit_bias", try banStops())]))
        XCTAssertEqual(try completionTotal(), before + 3)
        XCTAssertTrue(try h.client().request("GET", "/metrics").text.contains("# TYPE glmserve_generations_total counter"))
    }

    func testRoutingErrors() throws {
        XCTAssertEqual(try h.get("/nope").status, 404)
        XCTAssertEqual(try h.get("/v1/chat/completions").status, 405)
        XCTAssertEqual(try h.post("/v1/models", ["x": 1]).status, 405)
    }

    func testToolsAreAcceptedAndThinkingSwitchChangesThePrompt() throws {
        let tools: JSONValue = [["type": "function", "function": [
            "name": "get_weather", "description": "Weather of a city",
            "parameters": ["type": "object", "properties": ["city": ["type": "string"]], "required": ["city"]],
        ]]]
        let response = try h.post("/v1/chat/completions", chatBody("Weather in Paris?", [
            ("tools", tools), ("tool_choice", "auto"), ("parallel_tool_calls", false), ("max_tokens", 4),
        ]))
        XCTAssertEqual(response.status, 200)

        let on = try h.post("/apply-template", chatBody("Hi", [("tools", tools)])).json["prompt"]?.string
        let off = try h.post("/apply-template", chatBody("Hi", [("chat_template_kwargs", ["enable_thinking": false])]))
            .json["prompt"]?.string
        XCTAssertTrue(on?.contains("get_weather") ?? false)
        XCTAssertTrue(on?.hasSuffix("<|assistant|>") ?? false, on ?? "")
        XCTAssertTrue(off?.hasSuffix("<think></think>") ?? false, off ?? "")
        XCTAssertTrue(off?.contains("/nothink") ?? false)
    }

    func testTokenizeDetokenizeRoundTrip() throws {
        let tokens = try h.post("/tokenize", ["content": "Hello world"]).json["tokens"]?.array
        let ids = try XCTUnwrap(tokens)
        XCTAssertFalse(ids.isEmpty)
        XCTAssertEqual(try h.post("/detokenize", ["tokens": .array(ids)]).json["content"], "Hello world")
        let pieces = try h.post("/tokenize", ["content": "Hello", "with_pieces": true]).json["tokens"]?[0]
        XCTAssertNotNil(pieces?["piece"]?.string)
        XCTAssertEqual(try h.post("/detokenize", ["tokens": [99_999_999]]).status, 400)
        XCTAssertEqual(try h.post("/tokenize", ["content": 5]).json["error"]?["param"], "content")
    }

    func testConcurrentRequestsAreNotMixedUp() throws {
        let seeds = Array(1...6)
        let body = { (seed: Int) in chatBody("Concurrent \(seed)", [("seed", JSONValue(seed)), ("max_tokens", 8)]) }
        var expected: [Int: JSONValue] = [:]
        for seed in seeds { expected[seed] = try h.post("/v1/chat/completions", body(seed)).json["choices"]?[0]?["message"] }

        let results = Results()
        let group = DispatchGroup()
        let harness = try h
        for seed in seeds {
            group.enter()
            Thread {
                results.set(seed, try? harness.post("/v1/chat/completions", body(seed)).json["choices"]?[0]?["message"])
                group.leave()
            }.start()
        }
        XCTAssertEqual(group.wait(timeout: .now() + 120), .success)
        for seed in seeds { XCTAssertEqual(results.get(seed), expected[seed], "seed \(seed)") }
    }

    func testClientDisconnectCancelsGeneration() throws {
        let before = try h.model.scheduler.finishedJobs(.cancelled)
        let c = try h.client()
        let text = chatBody("Go on forever", [("stream", true), ("logit_bias", try banStops())]).serialized()
        c.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: \(text.utf8.count)\r\n\r\n" + text)
        _ = try c.readHead()
        _ = try c.readChunk()
        _ = try c.readChunk()
        c.close()
        // Wait (bounded) for the worker to report the cancellation; without it the job would run to 2048 tokens.
        for _ in 0..<2000 where try h.model.scheduler.finishedJobs(.cancelled) == before { usleep(5000) }
        XCTAssertEqual(try h.model.scheduler.finishedJobs(.cancelled), before + 1)
        XCTAssertEqual(try h.get("/health").status, 200)
    }

    func testPromptLongerThanContextIs400() throws {
        let small = try ServerHarness { $0.contextSize = 16 }
        defer { small.stop() }
        let response = try small.post("/v1/chat/completions", chatBody(String(repeating: "word ", count: 50)))
        XCTAssertEqual(response.status, 400)
        XCTAssertEqual(response.json["error"]?["code"], "context_length_exceeded")
        XCTAssertTrue(response.json["error"]?["message"]?.string?.contains("context") ?? false)
    }

    func testAPIKeyIsRequiredWhenSet() throws {
        let secured = try ServerHarness { $0.apiKey = "sekrit" }
        defer { secured.stop() }
        XCTAssertEqual(try secured.get("/health").status, 200)
        let missing = try secured.get("/v1/models")
        XCTAssertEqual(missing.status, 401)
        XCTAssertEqual(missing.json["error"]?["type"], "authentication_error")
        XCTAssertEqual(try secured.get("/v1/models", headers: ["Authorization": "Bearer wrong"]).status, 401)
        XCTAssertEqual(try secured.get("/v1/models", headers: ["Authorization": "Bearer sekrit"]).status, 200)
        XCTAssertEqual(try secured.get("/v1/models", headers: ["x-api-key": "sekrit"]).status, 200)
    }

    func testFullQueueAnswers503() throws {
        let tiny = try ServerHarness { $0.maxQueue = 0; $0.parallel = 1 }
        defer { tiny.stop() }
        // One long streaming request occupies the worker; with no queue room the next gets 503.
        let c = try tiny.client()
        let text = chatBody("Keep going", [("stream", true), ("logit_bias", try banStops())]).serialized()
        c.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: \(text.utf8.count)\r\n\r\n" + text)
        _ = try c.readHead()
        _ = try c.readChunk()
        _ = try c.readChunk()      // the worker has taken the job
        let busy = try tiny.post("/v1/chat/completions", chatBody("Me too", [("max_tokens", 2)]))
        XCTAssertEqual(busy.status, 503)
        XCTAssertEqual(busy.json["error"]?["code"], "queue_full")
        c.close()
    }
}

final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Int: JSONValue] = [:]
    func set(_ key: Int, _ value: JSONValue?) { lock.lock(); values[key] = value; lock.unlock() }
    func get(_ key: Int) -> JSONValue? { lock.lock(); defer { lock.unlock() }; return values[key] }
}
