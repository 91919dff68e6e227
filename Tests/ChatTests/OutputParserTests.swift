import XCTest
import JSON
@testable import Chat

final class OutputParserTests: XCTestCase {
    static let weatherTools: JSONValue = [
        ["type": "function", "function": [
            "name": "get_weather",
            "parameters": ["type": "object", "properties": [
                "city": ["type": "string"], "days": ["type": "integer"], "code": ["type": ["string", "null"]],
                "units": ["enum": ["metric", "imperial"]], "flags": ["type": "array"],
                "when": ["anyOf": [["type": "string"], ["type": "null"]]],
                "limit": ["anyOf": [["type": "integer"], ["type": "string"]]],
            ]],
        ]],
        ["type": "function", "function": ["name": "list_files", "parameters": ["type": "object", "properties": [:]]]],
    ]

    private func parse(_ text: String, tools: JSONValue? = weatherTools, reasoning: Bool = true,
                       streaming: GLMOutputParser.ToolCallStreaming = .incremental) -> ParsedOutput {
        var n = 0
        return GLMOutputParser.parse(text, tools: tools, parseReasoning: reasoning, parseToolCalls: true,
                                     toolCallStreaming: streaming, makeID: { n += 1; return "call_\(n)" })
    }

    private func call(_ id: Int, _ name: String, _ arguments: String) -> ParsedToolCall {
        ParsedToolCall(id: "call_\(id)", name: name, arguments: arguments)
    }

    func testReasoningThenContent() {
        let out = parse("\n<think>Let me think.\n</think>\nHello there!\n")
        XCTAssertEqual(out, ParsedOutput(reasoning: "Let me think.", content: "Hello there!"))
    }

    func testNoThinkTagsIsContent() {
        XCTAssertEqual(parse("\n\nJust text."), ParsedOutput(content: "Just text."))
        XCTAssertEqual(parse("<think></think>\nAnswer"), ParsedOutput(content: "Answer"))
    }

    func testThinkingOffTreatsTagsAsContent() {
        XCTAssertEqual(parse("\nHi <think>x</think>", reasoning: false), ParsedOutput(content: "Hi <think>x</think>"))
    }

    func testUnterminatedThinkAtEndIsReasoning() {
        XCTAssertEqual(parse("<think>partial thought  "), ParsedOutput(reasoning: "partial thought"))
    }

    func testTrailingMarkerPrefixesAreFlushedAtEnd() {
        XCTAssertEqual(parse("<thi"), ParsedOutput(content: "<thi"))
        XCTAssertEqual(parse("Hello <tool_ca"), ParsedOutput(content: "Hello <tool_ca"))
        XCTAssertEqual(parse("<think>abc</thi"), ParsedOutput(reasoning: "abc</thi"))
    }

    func testToolCallTypedBySchema() {
        let text = """
            <think>Need weather.</think>
            Let me check.
            <tool_call>get_weather
            <arg_key>city</arg_key>
            <arg_value>北京</arg_value>
            <arg_key>days</arg_key>
            <arg_value>2</arg_value>
            <arg_key>code</arg_key>
            <arg_value>007</arg_value>
            <arg_key>units</arg_key>
            <arg_value>metric</arg_value>
            <arg_key>flags</arg_key>
            <arg_value>["a", 1]</arg_value>
            <arg_key>when</arg_key>
            <arg_value>  2024-01-01 </arg_value>
            <arg_key>limit</arg_key>
            <arg_value> 5 </arg_value>
            </tool_call>
            """
        let out = parse(text)
        XCTAssertEqual(out.reasoning, "Need weather.")
        XCTAssertEqual(out.content, "Let me check.")
        XCTAssertEqual(out.toolCalls, [call(1, "get_weather",
            #"{"city": "北京", "days": 2, "code": "007", "units": "metric", "flags": ["a", 1], "when": "  2024-01-01 ", "limit": 5}"#)])
    }

    func testUnknownKeysAreDecodedWithRawFallback() {
        let text = "<tool_call>get_weather\n<arg_key>n</arg_key>\n<arg_value>1_000</arg_value>\n"
            + "<arg_key>ok</arg_key>\n<arg_value>True</arg_value>\n<arg_key>o</arg_key>\n<arg_value>{\"a\": null}</arg_value>\n"
            + "<arg_key>f</arg_key>\n<arg_value>1e3</arg_value>\n</tool_call>"
        XCTAssertEqual(parse(text).toolCalls,
                       [call(1, "get_weather", #"{"n": "1_000", "ok": true, "o": {"a": null}, "f": 1000.0}"#)])
    }

    func testParallelCallsAndZeroArgumentCalls() {
        let text = "Two calls.\n<tool_call>list_files\n</tool_call>\n<tool_call>list_files</tool_call>\n"
            + "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Rome</arg_value>\n</tool_call>"
        let out = parse(text)
        XCTAssertEqual(out.content, "Two calls.")
        XCTAssertEqual(out.toolCalls, [call(1, "list_files", "{}"), call(2, "list_files", "{}"),
                                       call(3, "get_weather", #"{"city": "Rome"}"#)])
    }

    func testTolerantSeparators() {
        let spaced = "<tool_call>get_weather <arg_key>city</arg_key> <arg_value>Oslo</arg_value> </tool_call>"
        XCTAssertEqual(parse(spaced).toolCalls, [call(1, "get_weather", #"{"city": "Oslo"}"#)])
        let literal = #"<tool_call>get_weather\n<arg_key>days</arg_key>\n<arg_value>3</arg_value>\n</tool_call>"#
        XCTAssertEqual(parse(literal).toolCalls, [call(1, "get_weather", #"{"days": 3}"#)])
    }

    func testCloseTagInsideValueDoesNotEndCall() {
        let text = "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>a</tool_call>b\n\"q\"</arg_value>\n</tool_call>"
        XCTAssertEqual(parse(text).toolCalls, [call(1, "get_weather", #"{"city": "a</tool_call>b\n\"q\""}"#)])
    }

    func testMalformedCallsBecomeContentWhenStreamedWhole() {
        let junk = "Before\n<tool_call>get_weather\n<arg_key>city</arg_key>junk</tool_call>\nAfter"
        XCTAssertEqual(parse(junk, streaming: .wholeCall), ParsedOutput(content: junk))
        let cut = "Checking.\n<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Par"
        XCTAssertEqual(parse(cut, streaming: .wholeCall), ParsedOutput(content: cut))
    }

    func testMalformedNamesAreContentInBothModes() {
        for streaming in [GLMOutputParser.ToolCallStreaming.incremental, .wholeCall] {
            let noName = "<tool_call>\n<arg_key>a</arg_key><arg_value>1</arg_value></tool_call>"
            XCTAssertEqual(parse(noName, streaming: streaming), ParsedOutput(content: noName))
            let spacedName = "<tool_call>get weather\n</tool_call>"
            XCTAssertEqual(parse(spacedName, streaming: streaming), ParsedOutput(content: spacedName))
            let unfinishedName = "Hi <tool_call>get_wea"
            XCTAssertEqual(parse(unfinishedName, streaming: streaming), ParsedOutput(content: unfinishedName))
        }
    }

    func testUnknownToolNameIsContent() {
        let text = "<tool_call>delete_everything\n<arg_key>x</arg_key>\n<arg_value>1</arg_value>\n</tool_call>"
        for streaming in [GLMOutputParser.ToolCallStreaming.incremental, .wholeCall] {
            XCTAssertEqual(parse(text, streaming: streaming), ParsedOutput(content: text))
            // With no declared tools every name is accepted.
            XCTAssertEqual(parse(text, tools: nil, streaming: streaming).toolCalls,
                           [call(1, "delete_everything", #"{"x": 1}"#)])
        }
    }

    func testRepeatedKeysAreWrittenInOrderInBothModes() {
        let text = "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>a</arg_value>\n"
            + "<arg_key>days</arg_key>\n<arg_value>1</arg_value>\n<arg_key>city</arg_key>\n<arg_value>b</arg_value>\n</tool_call>"
        for streaming in [GLMOutputParser.ToolCallStreaming.incremental, .wholeCall] {
            XCTAssertEqual(parse(text, streaming: streaming).toolCalls,
                           [call(1, "get_weather", #"{"city": "a", "days": 1, "city": "b"}"#)])
        }
    }

    func testToolCallInsideThinkEndsReasoning() {
        let text = "<think>I should call.\n<tool_call>list_files\n</tool_call>\n</think>\nDone."
        XCTAssertEqual(parse(text), ParsedOutput(reasoning: "I should call.", content: "Done.",
                                                 toolCalls: [call(1, "list_files", "{}")]))
    }

    func testNonASCIIContentAndValues() {
        let text = "<think>思考 🤔</think>\n答案：😀 é\n<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Zürich 🇨🇭</arg_value>\n</tool_call>"
        XCTAssertEqual(parse(text), ParsedOutput(reasoning: "思考 🤔", content: "答案：😀 é",
                                                 toolCalls: [call(1, "get_weather", #"{"city": "Zürich 🇨🇭"}"#)]))
    }

    func testStreamingHoldsBackPossibleTags() {
        var parser = GLMOutputParser(tools: Self.weatherTools)
        XCTAssertEqual(parser.feed("\n<thi"), [])
        XCTAssertEqual(parser.feed("nk>Plan"), [.reasoning("Plan")])
        XCTAssertEqual(parser.feed(" more\n</th"), [.reasoning(" more")])
        XCTAssertEqual(parser.feed("ink>\nHi"), [.content("Hi")])
        XCTAssertEqual(parser.feed(" <tool_"), [])
        let deltas = parser.feed("call>list_files\n</tool_call>")
        guard deltas.count == 2, case .toolCallStart(0, let id, "list_files") = deltas[0] else {
            return XCTFail("unexpected \(deltas)")
        }
        XCTAssertTrue(id.hasPrefix("call_") && id.count == 29)
        XCTAssertEqual(deltas[1], .toolCallArguments(index: 0, fragment: "{}"))
        XCTAssertEqual(parser.feed(" bye"), [.content(" bye")])
        XCTAssertEqual(parser.finish(), [])
    }

    func testCallIdsAreUniqueAlphanumeric() {
        let ids = Set((0..<100).map { _ in ToolCallID.random() })
        XCTAssertEqual(ids.count, 100)
        for id in ids {
            XCTAssertTrue(id.dropFirst(5).allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
        }
    }
}

final class ParsedToolCallWireTests: XCTestCase {
    func testWireForm() {
        let call = ParsedToolCall(id: "call_1", name: "f", arguments: #"{"a": 1}"#)
        XCTAssertEqual(call.jsonValue.serialized(),
                       #"{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\": 1}"}}"#)
    }
}
