import XCTest
import JSON
@testable import Chat

final class AnthropicResponseTests: XCTestCase {
    static let sample = "<think>Need the weather.</think>\nLet me check.\n<tool_call>get_weather\n<arg_key>city</arg_key>\n"
        + "<arg_value>Paris \"centre\"</arg_value>\n<arg_key>days</arg_key>\n<arg_value>2</arg_value>\n</tool_call>\n"
        + "<tool_call>list_files\n</tool_call>"

    private func signatures() -> () -> String {
        var n = 0
        return { n += 1; return "sig\(n)" }
    }

    private func deltas(_ text: String, chunks: Int? = nil) -> [OutputDelta] {
        var n = 0
        var parser = GLMOutputParser(tools: OutputParserTests.weatherTools, parseReasoning: true, parseToolCalls: true,
                                     makeID: { n += 1; return "call_\(n)" })
        guard chunks != nil else { return parser.feed(text) + parser.finish() }
        return text.unicodeScalars.flatMap { parser.feed(String($0)) } + parser.finish()
    }

    func testStopReasonPrecedence() {
        XCTAssertEqual(AnthropicStop(hitMaxTokens: true, matchedStopSequence: nil, calledTools: true).reason, .maxTokens)
        let stop = AnthropicStop(hitMaxTokens: false, matchedStopSequence: "END", calledTools: true)
        XCTAssertEqual(stop.reason, .stopSequence)
        XCTAssertEqual(stop.sequence, "END")
        XCTAssertEqual(AnthropicStop(finishReason: "tool_calls", matchedStopSequence: nil, calledTools: true).reason, .toolUse)
        XCTAssertEqual(AnthropicStop(finishReason: "stop", matchedStopSequence: nil, calledTools: false).reason, .endTurn)
        XCTAssertEqual(AnthropicStop(finishReason: "length", matchedStopSequence: nil, calledTools: false).reason, .maxTokens)
    }

    func testUsageSplitsCachedPromptTokens() {
        XCTAssertEqual(AnthropicUsage(promptTokens: 300, cachedPromptTokens: 256, outputTokens: 41).jsonValue.serialized(),
                       #"{"input_tokens":44,"cache_creation_input_tokens":0,"cache_read_input_tokens":256,"output_tokens":41}"#)
    }

    func testWholeMessage() {
        let usage = AnthropicUsage(promptTokens: 312, outputTokens: 41)
        let stop = AnthropicStop(hitMaxTokens: false, matchedStopSequence: nil, calledTools: true)
        let message = AnthropicResponseBuilder.message(id: "msg_1", model: "glm-4.6", deltas: deltas(Self.sample),
                                                       stop: stop, usage: usage, makeSignature: signatures())
        let expected: JSONValue = [
            "id": "msg_1", "type": "message", "role": "assistant", "model": "glm-4.6",
            "content": [
                ["type": "thinking", "thinking": "Need the weather.", "signature": "sig1"],
                ["type": "text", "text": "Let me check."],
                ["type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": ["city": "Paris \"centre\"", "days": 2]],
                ["type": "tool_use", "id": "toolu_2", "name": "list_files", "input": [:]],
            ],
            "stop_reason": "tool_use", "stop_sequence": nil, "usage": usage.jsonValue,
        ]
        XCTAssertEqual(message, expected)
        XCTAssertEqual(message.serialized(), expected.serialized(), "key order")
        // The ParsedOutput form gives the same blocks here (thinking, text, calls in that order).
        XCTAssertEqual(AnthropicResponseBuilder.message(id: "msg_1", model: "glm-4.6",
                                                        output: GLMOutputParser.parse(Self.sample, tools: OutputParserTests.weatherTools, parseReasoning: true, parseToolCalls: true, makeID: { "call_x" }),
                                                        stop: stop, usage: usage, signature: "sig1")["content"]?[0], expected["content"]?[0])
    }

    func testEmptyAnswerAndStopSequence() {
        let stop = AnthropicStop(hitMaxTokens: false, matchedStopSequence: "###", calledTools: false)
        let message = AnthropicResponseBuilder.message(id: "m", model: "g", output: ParsedOutput(), stop: stop,
                                                       usage: AnthropicUsage(promptTokens: 3, outputTokens: 0))
        XCTAssertEqual(message["content"], [])
        XCTAssertEqual(message["stop_reason"], "stop_sequence")
        XCTAssertEqual(message["stop_sequence"], "###")
    }

    func testStreamEventOrderAndBlockIndices() {
        var encoder = AnthropicStreamEncoder(model: "glm-4.6", messageID: "msg_1", makeSignature: signatures())
        var events = encoder.start(usage: AnthropicUsage(promptTokens: 312, outputTokens: 0))
        events += encoder.encode([.reasoning("Need"), .reasoning(" weather.")])
        events += encoder.encode([.content("Let me check."), .toolCallStart(index: 0, id: "call_ab", name: "get_weather"),
                                  .toolCallArguments(index: 0, fragment: #"{"city": ""#),
                                  .toolCallArguments(index: 0, fragment: #"Paris"}"#)])
        events += encoder.finish(stop: AnthropicStop(hitMaxTokens: false, matchedStopSequence: nil, calledTools: true),
                                 usage: AnthropicUsage(promptTokens: 312, outputTokens: 41))
        XCTAssertEqual(encoder.finish(stop: AnthropicStop(hitMaxTokens: true, matchedStopSequence: nil, calledTools: false),
                                      usage: AnthropicUsage(promptTokens: 1, outputTokens: 1)), [], "finish twice")
        XCTAssertEqual(events.map(\.event), [
            "message_start", "ping",
            "content_block_start", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_stop",
            "content_block_start", "content_block_delta", "content_block_stop",
            "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
            "message_delta", "message_stop",
        ])
        for event in events { XCTAssertEqual(event.data["type"]?.string, event.event) }
        XCTAssertEqual(events[0].data.serialized(),
                       #"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"glm-4.6","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":312,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}}"#)
        XCTAssertEqual(events[2].data.serialized(),
                       #"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#)
        XCTAssertEqual(events[3].data.serialized(),
                       #"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Need"}}"#)
        XCTAssertEqual(events[5].data.serialized(),
                       #"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig1"}}"#)
        XCTAssertEqual(events[8].data.serialized(),
                       #"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Let me check."}}"#)
        XCTAssertEqual(events[10].data.serialized(),
                       #"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_ab","name":"get_weather","input":{}}}"#)
        XCTAssertEqual(events[11].data.serialized(),
                       #"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \""}}"#)
        XCTAssertEqual(events[13].data.serialized(), #"{"type":"content_block_stop","index":2}"#)
        XCTAssertEqual(events[14].data.serialized(),
                       #"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":312,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":41}}"#)
        XCTAssertEqual(events[15].sseText, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
    }

    func testPingAndErrorEvents() {
        XCTAssertEqual(AnthropicStreamEncoder.ping().sseText, "event: ping\ndata: {\"type\":\"ping\"}\n\n")
        XCTAssertEqual(AnthropicStreamEncoder.error(AnthropicError(type: "overloaded_error", message: "busy")).data.serialized(),
                       #"{"type":"error","error":{"type":"overloaded_error","message":"busy"}}"#)
    }

    /// Folds events as the Anthropic SDK's stream accumulator does.
    private func fold(_ events: [AnthropicStreamEvent], file: StaticString = #filePath, line: UInt = #line) -> JSONValue? {
        guard var message = events.first?.data["message"] else { return nil }
        var blocks: [JSONValue] = []
        var partial: [Int: String] = [:]
        var openIndex: Int? = nil
        for event in events.dropFirst() {
            let data = event.data
            switch event.event {
            case "content_block_start":
                XCTAssertNil(openIndex, "a block opened before the previous one stopped", file: file, line: line)
                XCTAssertEqual(data["index"]?.int, blocks.count, file: file, line: line)
                openIndex = blocks.count
                blocks.append(data["content_block"] ?? nil)
            case "content_block_delta":
                guard let i = data["index"]?.int, i == openIndex, let delta = data["delta"] else {
                    XCTFail("delta outside the open block: \(data)", file: file, line: line)
                    continue
                }
                switch delta["type"]?.string {
                case "thinking_delta": blocks[i]["thinking"] = .string((blocks[i]["thinking"]?.string ?? "") + (delta["thinking"]?.string ?? ""))
                case "signature_delta": blocks[i]["signature"] = delta["signature"]
                case "text_delta": blocks[i]["text"] = .string((blocks[i]["text"]?.string ?? "") + (delta["text"]?.string ?? ""))
                case "input_json_delta": partial[i, default: ""] += delta["partial_json"]?.string ?? ""
                default: XCTFail("unknown delta \(delta)", file: file, line: line)
                }
            case "content_block_stop":
                XCTAssertEqual(data["index"]?.int, openIndex, file: file, line: line)
                if let i = openIndex, let json = partial[i] {
                    blocks[i]["input"] = (try? JSONValue.parse(json)) ?? .string("unparsable: " + json)
                }
                openIndex = nil
            case "message_delta":
                XCTAssertNil(openIndex, file: file, line: line)
                message["stop_reason"] = data["delta"]?["stop_reason"]
                message["stop_sequence"] = data["delta"]?["stop_sequence"]
                message["usage"] = data["usage"]
            case "ping", "message_stop": continue
            default: XCTFail("unexpected event \(event.event)", file: file, line: line)
            }
        }
        message["content"] = .array(blocks)
        return message
    }

    /// Streamed (character by character, incremental tool calls) and whole answers agree, for texts with reasoning,
    /// calls inside the reasoning, content between calls, a broken call and no reasoning at all.
    func testStreamFoldsToTheWholeMessage() {
        let texts = [
            Self.sample,
            "<think>I will call.<tool_call>list_files\n</tool_call></think>Then text.\n<tool_call>get_weather\n<arg_key>days</arg_key>\n<arg_value>3</arg_value>\n</tool_call>",
            "Just text, no reasoning.",
            "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Ro</arg_value>junk</tool_call> after",
            "",
        ]
        let usage = AnthropicUsage(promptTokens: 10, cachedPromptTokens: 4, outputTokens: 7)
        for text in texts {
            let streamed = deltas(text, chunks: 1)
            let whole = deltas(text)
            let stop = AnthropicStop(hitMaxTokens: false, matchedStopSequence: nil,
                                     calledTools: !ParsedOutput(deltas: whole).toolCalls.isEmpty)
            var encoder = AnthropicStreamEncoder(model: "g", messageID: "msg_x", makeSignature: signatures())
            var events = encoder.start(usage: AnthropicUsage(promptTokens: 10, cachedPromptTokens: 4, outputTokens: 0))
            for delta in streamed { events += encoder.encode([delta]) }
            events += encoder.finish(stop: stop, usage: usage)
            let expected = AnthropicResponseBuilder.message(id: "msg_x", model: "g", deltas: whole, stop: stop,
                                                            usage: usage, makeSignature: signatures())
            XCTAssertEqual(fold(events), expected, text.debugDescription)
        }
    }
}
