import TestSupport
import XCTest
import JSON
@testable import Chat

/// Incremental tool-call streaming: when the start and the argument fragments are sent, what is held back, and
/// what happens to a call that breaks after its start.
final class IncrementalToolCallTests: XCTestCase {
    typealias Streaming = GLMOutputParser.ToolCallStreaming

    private func makeParser(tools: JSONValue? = OutputParserTests.weatherTools) -> GLMOutputParser {
        var n = 0
        return GLMOutputParser(tools: tools, parseReasoning: true, parseToolCalls: true,
                               toolCallStreaming: .incremental, makeID: { n += 1; return "call_\(n)" })
    }

    private func parse(_ text: String, streaming: Streaming = .incremental) -> ParsedOutput {
        OutputParserStreamingTests.whole(text, streaming: streaming)
    }

    func testStartAtNameLineThenStringValueStreamsAsGenerated() {
        var parser = makeParser()
        XCTAssertEqual(parser.feed("Checking.\n<tool_call>get_wea"), [.content("Checking.")])
        XCTAssertEqual(parser.feed("ther"), [])
        XCTAssertEqual(parser.feed("\n"), [.toolCallStart(index: 0, id: "call_1", name: "get_weather")])
        XCTAssertEqual(parser.feed("<arg_key>ci"), [])
        XCTAssertEqual(parser.feed("ty</arg_key>\n<arg_val"), [])
        XCTAssertEqual(parser.feed("ue>"), [.toolCallArguments(index: 0, fragment: #"{"city": ""#)])
        XCTAssertEqual(parser.feed("Pa"), [.toolCallArguments(index: 0, fragment: "Pa")])
        XCTAssertEqual(parser.feed("ris \"Nord\"\n<"), [.toolCallArguments(index: 0, fragment: #"ris \"Nord\"\n"#)])
        XCTAssertEqual(parser.feed("b>"), [.toolCallArguments(index: 0, fragment: "<b>")])
        XCTAssertEqual(parser.feed("</arg_va"), [])
        XCTAssertEqual(parser.feed("lue>\n<arg_key>days</arg_key>\n<arg_value>"),
                       [.toolCallArguments(index: 0, fragment: "\"")])
        // A non-string value is sent whole, typed, once it closes.
        XCTAssertEqual(parser.feed("1"), [])
        XCTAssertEqual(parser.feed("2</arg_value>\n"), [.toolCallArguments(index: 0, fragment: #", "days": 12"#)])
        XCTAssertEqual(parser.feed("</tool_"), [])
        XCTAssertEqual(parser.feed("call>"), [.toolCallArguments(index: 0, fragment: "}")])
        XCTAssertEqual(parser.feed("\n<tool_call>list_files\n</tool_call>"),
                       [.toolCallStart(index: 1, id: "call_2", name: "list_files"),
                        .toolCallArguments(index: 1, fragment: "{}")])
        XCTAssertEqual(parser.finish(), [])
    }

    func testNameEndingAtArgKeyOrLiteralNewlineStartsTheCall() {
        var parser = makeParser()
        XCTAssertEqual(parser.feed("<tool_call>get_weather<arg_k"), [])
        XCTAssertEqual(parser.feed("ey>"), [.toolCallStart(index: 0, id: "call_1", name: "get_weather")])
        var literal = makeParser()
        XCTAssertEqual(literal.feed(#"<tool_call>list_files\"#), [])
        XCTAssertEqual(literal.feed("n"), [.toolCallStart(index: 0, id: "call_1", name: "list_files")])
    }

    func testUndeclaredOrBadNamesSendNothingUntilTheEnd() {
        var parser = makeParser()
        XCTAssertEqual(parser.feed("<tool_call>rm_rf\n<arg_key>p</arg_key>\n<arg_value>/"), [])
        XCTAssertEqual(parser.feed("</arg_value>\n</tool_call>"),
                       [.content("<tool_call>rm_rf\n<arg_key>p</arg_key>\n<arg_value>/</arg_value>\n</tool_call>")])
        // With no tools declared, any name streams.
        var open = makeParser(tools: nil)
        XCTAssertEqual(open.feed("<tool_call>rm_rf\n"), [.toolCallStart(index: 0, id: "call_1", name: "rm_rf")])
    }

    func testLongStringValueIsNotBuffered() {
        var parser = makeParser()
        _ = parser.feed("<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>")
        var streamed = ""
        let line = "let x = \"<tag>\" // ü\n"
        for _ in 0..<200 {
            let deltas = parser.feed(line)
            guard case .toolCallArguments(0, let fragment)? = deltas.first, deltas.count == 1 else {
                return XCTFail("expected one fragment per piece, got \(deltas)")
            }
            streamed += fragment
        }
        XCTAssertEqual(streamed, String(JSONValue.quoted(String(repeating: line, count: 200)).dropFirst().dropLast()))
    }

    // MARK: - Calls that break after their start (documented fallback)

    func testJunkAfterAPairClosesTheArgumentsAndKeepsTheRestAsContent() {
        let text = "Look <tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\njunk</tool_call> tail"
        XCTAssertEqual(parse(text), ParsedOutput(content: "Look junk</tool_call> tail",
            toolCalls: [ParsedToolCall(id: "call_1", name: "get_weather", arguments: #"{"city": "Paris"}"#)]))
        XCTAssertEqual(parse(text, streaming: .wholeCall), ParsedOutput(content: text))
    }

    func testKeyWithoutValueKeepsThePairAsContent() {
        let text = "<tool_call>get_weather\n<arg_key>city</arg_key>junk</tool_call>\nAfter"
        XCTAssertEqual(parse(text), ParsedOutput(content: "<arg_key>city</arg_key>junk</tool_call>\nAfter",
            toolCalls: [ParsedToolCall(id: "call_1", name: "get_weather", arguments: "{}")]))
    }

    func testTextEndingInsideAStringValueClosesIt() {
        XCTAssertEqual(parse("Checking.\n<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Par"),
                       ParsedOutput(content: "Checking.",
                                    toolCalls: [ParsedToolCall(id: "call_1", name: "get_weather", arguments: #"{"city": "Par"}"#)]))
        // A held-back partial close tag belongs to the value when the text ends.
        XCTAssertEqual(parse("<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Par</arg_va").toolCalls,
                       [ParsedToolCall(id: "call_1", name: "get_weather", arguments: #"{"city": "Par</arg_va"}"#)])
    }

    func testTextEndingInsideATypedValueKeepsThatPairAsContent() {
        let text = "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>X</arg_value>\n<arg_key>days</arg_key>\n<arg_value>2"
        XCTAssertEqual(parse(text), ParsedOutput(content: "<arg_key>days</arg_key>\n<arg_value>2",
            toolCalls: [ParsedToolCall(id: "call_1", name: "get_weather", arguments: #"{"city": "X"}"#)]))
        XCTAssertEqual(parse("<tool_call>list_files\n"),
                       ParsedOutput(toolCalls: [ParsedToolCall(id: "call_1", name: "list_files", arguments: "{}")]))
    }

    // MARK: - Random well-formed calls

    func testRandomWellFormedCallsStreamToTheWholeCallResult() {
        var rng = SplitMix64(state: 11)
        let valuePieces = ["a", " ", "\n", "\"", "\\", "<", "</", "</arg_val", "</tool_call>", "<arg_key>", "é", "😀",
                           "北京", "{", "1", "\t", ">"]
        let separators = ["\n", " ", "", "\\n", "\n\n"]
        let keys = ["city", "days", "flags", "other", "when"]
        for _ in 0..<400 {
            var text = ["", "Text ", "<think>why</think>", "<think>r "].randomElement(using: &rng) ?? ""
            let calls = Int.random(in: 1...3, using: &rng)
            for _ in 0..<calls {
                let name = ["get_weather", "list_files"].randomElement(using: &rng) ?? ""
                text += "<tool_call>" + name + (separators.randomElement(using: &rng) ?? "")
                for _ in 0..<Int.random(in: 0...3, using: &rng) {
                    var value = (0..<Int.random(in: 0...6, using: &rng)).map { _ in valuePieces.randomElement(using: &rng) ?? "" }.joined()
                    if value.hasSuffix("</arg_val") { value += "x" }
                    text += "<arg_key>" + (keys.randomElement(using: &rng) ?? "") + "</arg_key>"
                        + (separators.randomElement(using: &rng) ?? "") + "<arg_value>" + value + "</arg_value>"
                        + (separators.randomElement(using: &rng) ?? "")
                }
                text += "</tool_call>" + (separators.randomElement(using: &rng) ?? "")
            }
            let expected = parse(text, streaming: .wholeCall)
            XCTAssertEqual(expected.toolCalls.count, calls, text.debugDescription)
            let scalars = Array(text.unicodeScalars)
            var pieces: [String] = []
            var i = 0
            while i < scalars.count {
                let j = min(scalars.count, i + Int.random(in: 1...7, using: &rng))
                pieces.append(String(String.UnicodeScalarView(scalars[i..<j])))
                i = j
            }
            XCTAssertEqual(OutputParserStreamingTests.assembled(pieces, streaming: .incremental), expected, text.debugDescription)
        }
    }
}

/// Prints the parser's streaming speed on a long string argument (a file written through a tool); no timing
/// assertion, only the figure.
final class IncrementalToolCallSpeedTests: XCTestCase {
    func testStreamingSpeedFigureOnALongValue() {
        let line = "    let value = compute(\"<x>\", 42) // ü\n"
        let body = String(repeating: line, count: 6000)  // ~250 KB
        let text = "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>" + body + "</arg_value>\n</tool_call>"
        let scalars = Array(text.unicodeScalars)
        var pieces: [String] = []
        var i = 0
        while i < scalars.count {  // token-sized pieces of 4 characters
            let j = min(scalars.count, i + 4)
            pieces.append(String(String.UnicodeScalarView(scalars[i..<j])))
            i = j
        }
        for streaming in [GLMOutputParser.ToolCallStreaming.incremental, .wholeCall] {
            var parser = GLMOutputParser(tools: OutputParserTests.weatherTools, parseReasoning: false,
                                         parseToolCalls: true, toolCallStreaming: streaming, makeID: { "call_1" })
            let start = DispatchTime.now().uptimeNanoseconds
            var deltas: [OutputDelta] = []
            for piece in pieces { deltas += parser.feed(piece) }
            deltas += parser.finish()
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let calls = ParsedOutput(deltas: deltas).toolCalls
            XCTAssertEqual(calls.count, 1)
            XCTAssertEqual(calls.first?.arguments, JSONValue.object(["city": .string(body)]).pythonDumps())
            print(String(format: "tool-call streaming (%@): %d KB in %d pieces, %.1f MB/s, %d deltas",
                         "\(streaming)", text.utf8.count / 1024, pieces.count,
                         Double(text.utf8.count) / seconds / 1e6, deltas.count))
        }
    }
}
