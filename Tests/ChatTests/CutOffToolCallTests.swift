import XCTest
import JSON
@testable import Chat

/// `cutOffToolCalls: .leftOpen`: a call the text ends inside is never completed, and the parser says which
/// calls were closed by `</tool_call>` (what the server needs for `finish_reason` and for dropping cut calls).
final class CutOffToolCallTests: XCTestCase {
    private func makeParser(_ mode: GLMOutputParser.CutOffToolCalls,
                            streaming: GLMOutputParser.ToolCallStreaming = .incremental) -> GLMOutputParser {
        var n = 0
        return GLMOutputParser(tools: OutputParserTests.weatherTools, parseReasoning: true, parseToolCalls: true,
                               toolCallStreaming: streaming, cutOffToolCalls: mode,
                               makeID: { n += 1; return "call_\(n)" })
    }

    private func run(_ parser: inout GLMOutputParser, _ text: String) -> [OutputDelta] {
        parser.feed(text) + parser.finish()
    }

    static let complete = "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n</tool_call>"

    func testCallCutInsideAStringValueIsLeftOpenAndReported() {
        var parser = makeParser(.leftOpen)
        let deltas = run(&parser, "Checking.\n<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Par")
        XCTAssertEqual(deltas, [.content("Checking."), .toolCallStart(index: 0, id: "call_1", name: "get_weather"),
                                .toolCallArguments(index: 0, fragment: #"{"city": "Par"#)])
        XCTAssertEqual(parser.cutOffToolCallIndex, 0)
        XCTAssertEqual(parser.completedToolCallCount, 0)
    }

    func testCallCutAfterItsNameSendsNoArguments() {
        var parser = makeParser(.leftOpen)
        let deltas = run(&parser, "<tool_call>get_weather\n<arg_ke")
        XCTAssertEqual(deltas, [.toolCallStart(index: 0, id: "call_1", name: "get_weather")])
        XCTAssertEqual(parser.cutOffToolCallIndex, 0)
    }

    func testCallCutInsideItsNameIsDropped() {
        var parser = makeParser(.leftOpen)
        XCTAssertEqual(run(&parser, "Hi.\n<tool_call>get_wea"), [.content("Hi.")])
        XCTAssertNil(parser.cutOffToolCallIndex)
        var whole = makeParser(.leftOpen, streaming: .wholeCall)
        XCTAssertEqual(run(&whole, "Hi.\n<tool_call>get_weather\n<arg_key>ci"), [.content("Hi.")])
    }

    func testBrokenCallIsClosedOnlyWhenItsEndArrives() {
        var parser = makeParser(.leftOpen)
        let start = "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\njunk"
        XCTAssertEqual(parser.feed(start), [.toolCallStart(index: 0, id: "call_1", name: "get_weather"),
                                            .toolCallArguments(index: 0, fragment: #"{"city": ""#),
                                            .toolCallArguments(index: 0, fragment: #"Paris""#)].merged)
        XCTAssertEqual(parser.feed(" more</tool_call>"), [.toolCallArguments(index: 0, fragment: "}"),
                                                         .content("junk more</tool_call>")])
        XCTAssertEqual(parser.completedToolCallCount, 1)
        // Cut off after the break: never closed, reported, its rest not sent.
        var cut = makeParser(.leftOpen)
        XCTAssertEqual(ParsedOutput(deltas: run(&cut, start)).toolCalls.first?.arguments, #"{"city": "Paris""#)
        XCTAssertEqual(cut.cutOffToolCallIndex, 0)
        XCTAssertEqual(cut.completedToolCallCount, 0)
    }

    func testCompletedCallsAreCountedInBothModes() {
        for mode in [GLMOutputParser.CutOffToolCalls.closed, .leftOpen] {
            var parser = makeParser(mode)
            let deltas = run(&parser, Self.complete + "\n" + Self.complete + "\n<tool_call>get_weather\n")
            XCTAssertEqual(parser.completedToolCallCount, 2)
            XCTAssertEqual(ParsedOutput(deltas: deltas).toolCalls.count, 3)
            XCTAssertEqual(parser.cutOffToolCallIndex, mode == .leftOpen ? 2 : nil)
        }
    }

    func testDefaultModeStillClosesACutCall() {
        var parser = makeParser(.closed)
        let output = ParsedOutput(deltas: run(&parser, "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Par"))
        XCTAssertEqual(output.toolCalls.first?.arguments, #"{"city": "Par"}"#)
        XCTAssertNil(parser.cutOffToolCallIndex)
        XCTAssertEqual(parser.completedToolCallCount, 0)
    }

    func testToolCallIDsAreCallAnd24LowercaseHexDigits() {
        let ids = (0..<50).map { _ in ToolCallID.random() }
        for id in ids {
            XCTAssertTrue(id.hasPrefix("call_"), id)
            let digits = id.dropFirst(5)
            XCTAssertEqual(digits.count, 24, id)
            XCTAssertTrue(digits.allSatisfy { "0123456789abcdef".contains($0) }, id)
        }
        XCTAssertEqual(Set(ids).count, ids.count)
    }
}

private extension Array where Element == OutputDelta {
    /// Neighbouring argument fragments of one call joined, as the parser hands them out.
    var merged: [OutputDelta] {
        var out: [OutputDelta] = []
        for delta in self {
            if case let .toolCallArguments(i, b) = delta, case let .toolCallArguments(j, a)? = out.last, i == j {
                out[out.count - 1] = .toolCallArguments(index: i, fragment: a + b)
            } else {
                out.append(delta)
            }
        }
        return out
    }
}
