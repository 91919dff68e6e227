import TestSupport
import XCTest
import JSON
@testable import Chat

/// Random mixtures of markers, fragments of markers, text and whitespace: streaming at random cuts must assemble
/// to the whole-text parse, and no text may be lost outside recognised calls.
final class OutputParserFuzzTests: XCTestCase {
    static let pieces = ["<think>", "</think>", "<tool_call>", "</tool_call>", "<arg_key>", "</arg_key>",
                         "<arg_value>", "</arg_value>", "get_weather", "list_files", "city", "days", "2", "\"x\"",
                         "\n", " ", "\\n", "<", "</", "<thi", "</tool", "é", "😀", "text", ">"]

    func testRandomTextsStreamLikeWholeText() {
        var rng = SplitMix64(state: 7)
        for _ in 0..<1500 {
            let text = (0..<Int.random(in: 1...14, using: &rng))
                .map { _ in Self.pieces.randomElement(using: &rng) ?? "" }.joined()
            let reasoning = Bool.random(using: &rng)
            let streaming: GLMOutputParser.ToolCallStreaming = Bool.random(using: &rng) ? .incremental : .wholeCall
            var n = 0
            let whole = GLMOutputParser.parse(text, tools: OutputParserTests.weatherTools, parseReasoning: reasoning,
                                              parseToolCalls: true, toolCallStreaming: streaming,
                                              makeID: { n += 1; return "id\(n)" })
            var m = 0
            var parser = GLMOutputParser(tools: OutputParserTests.weatherTools, parseReasoning: reasoning,
                                         parseToolCalls: true, toolCallStreaming: streaming,
                                         makeID: { m += 1; return "id\(m)" })
            let scalars = Array(text.unicodeScalars)
            var deltas: [OutputDelta] = []
            var i = 0
            while i < scalars.count {
                let j = min(scalars.count, i + Int.random(in: 1...5, using: &rng))
                deltas += parser.feed(String(String.UnicodeScalarView(scalars[i..<j])))
                i = j
            }
            deltas += parser.finish()
            XCTAssertEqual(ParsedOutput(deltas: deltas), whole, "\(streaming) \(text.debugDescription)")
            // When every call is well-formed (the whole-call parse keeps no `<tool_call>` as content), both modes agree.
            var k = 0
            let wholeCall = GLMOutputParser.parse(text, tools: OutputParserTests.weatherTools, parseReasoning: reasoning,
                                                  parseToolCalls: true, toolCallStreaming: .wholeCall,
                                                  makeID: { k += 1; return "id\(k)" })
            if !wholeCall.content.contains("<tool_call>") {
                XCTAssertEqual(ParsedOutput(deltas: deltas), wholeCall, "\(streaming) \(text.debugDescription)")
            }
            // Without calls, no non-whitespace text disappears (only `<think>`/`</think>` markers and whitespace).
            if whole.toolCalls.isEmpty {
                let kept = (whole.reasoning ?? "") + whole.content
                let strip: (String) -> String = {
                    $0.replacingOccurrences(of: "</think>", with: "").replacingOccurrences(of: "<think>", with: "")
                        .unicodeScalars.filter { !" \n\t\r".unicodeScalars.contains($0) }.map(String.init).joined()
                }
                XCTAssertEqual(strip(kept), strip(text), text.debugDescription)
            }
        }
    }
}
