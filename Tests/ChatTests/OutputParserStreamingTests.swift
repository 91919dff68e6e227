import XCTest
import JSON
@testable import Chat

/// Streaming must not depend on how the text is cut: for every sample and both tool-call streaming modes, feeding
/// it in two pieces split at every position (and one character at a time) must assemble to exactly the whole-text
/// parse. For well-formed samples the two modes must also agree with each other.
final class OutputParserStreamingTests: XCTestCase {
    typealias Streaming = GLMOutputParser.ToolCallStreaming
    static let modes: [Streaming] = [.incremental, .wholeCall]

    static let samples: [String] = [
        "\n<think>Reason A.\n</think>\nContent B.",
        "<think>R</think>C<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>北京</arg_value>\n<arg_key>days</arg_key>\n<arg_value>2</arg_value>\n</tool_call>",
        "Text <tool_call>list_files\n</tool_call>\n<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>x</tool_call>y</arg_value>\n</tool_call> tail",
        "<think>in think <tool_call>list_files</tool_call></think>after",
        "Before <tool_call>get_weather\n<arg_key>city</arg_key>junk</tool_call> after",
        "<tool_call>unknown_tool\n<arg_key>a</arg_key>\n<arg_value>1</arg_value>\n</tool_call>",
        "<think>unterminated reasoning with </thi",
        "Open call <tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Pa",
        "  \n  <thin",
        "Emoji 😀 and <think> literal </think> tags 🇨🇭 \r\n end \n",
        "<think>\n  \n</think>\n\n  \n",
        "Write it.\n<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>line \"one\"\n\ttab \\ back</arg_val 😀</arg_value>\n<arg_key>days</arg_key>\n<arg_value>3</arg_value>\n</tool_call>",
        "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\njunk</tool_call> tail",
        "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>X</arg_value>\n<arg_key>days</arg_key>\n<arg_value>2",
        "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Par</arg_va",
    ]

    /// Samples whose calls are all well-formed (or that have none): both modes must give the same result.
    static let wellFormed = samples.filter { text in
        !GLMOutputParser.parse(text, tools: OutputParserTests.weatherTools, parseReasoning: true, parseToolCalls: true,
                               toolCallStreaming: .wholeCall).content.contains("<tool_call>")
    }

    /// Streams the chunks; also checks the delta invariants clients rely on (no empty text or argument fragments,
    /// a call's start before its arguments, indices in order).
    static func assembled(_ chunks: [String], reasoning: Bool = true, streaming: Streaming) -> ParsedOutput {
        var n = 0
        var parser = GLMOutputParser(tools: OutputParserTests.weatherTools, parseReasoning: reasoning,
                                     parseToolCalls: true, toolCallStreaming: streaming,
                                     makeID: { n += 1; return "call_\(n)" })
        var deltas: [OutputDelta] = []
        for chunk in chunks { deltas += parser.feed(chunk) }
        deltas += parser.finish()
        var started = -1
        for delta in deltas {
            switch delta {
            case .reasoning(let s), .content(let s): XCTAssertFalse(s.isEmpty, "empty delta in \(chunks)")
            case .toolCallStart(let index, _, _):
                XCTAssertEqual(index, started + 1, "\(chunks)")
                started = index
            case .toolCallArguments(let index, let fragment):
                XCTAssertFalse(fragment.isEmpty, "empty fragment in \(chunks)")
                XCTAssertEqual(index, started, "arguments of a call not started, \(chunks)")
            }
        }
        return ParsedOutput(deltas: deltas)
    }

    static func whole(_ text: String, reasoning: Bool = true, streaming: Streaming) -> ParsedOutput {
        var n = 0
        return GLMOutputParser.parse(text, tools: OutputParserTests.weatherTools, parseReasoning: reasoning,
                                     parseToolCalls: true, toolCallStreaming: streaming,
                                     makeID: { n += 1; return "call_\(n)" })
    }

    private func assembled(_ chunks: [String], reasoning: Bool = true, streaming: Streaming = .incremental) -> ParsedOutput {
        Self.assembled(chunks, reasoning: reasoning, streaming: streaming)
    }

    private func whole(_ text: String, reasoning: Bool = true, streaming: Streaming = .incremental) -> ParsedOutput {
        Self.whole(text, reasoning: reasoning, streaming: streaming)
    }

    func testEverySplitPositionGivesTheWholeTextResult() {
        for streaming in Self.modes {
            for reasoning in [true, false] {
                for text in Self.samples {
                    let expected = whole(text, reasoning: reasoning, streaming: streaming)
                    let scalars = Array(text.unicodeScalars)
                    for cut in 0...scalars.count {
                        let a = String(String.UnicodeScalarView(scalars[..<cut]))
                        let b = String(String.UnicodeScalarView(scalars[cut...]))
                        XCTAssertEqual(assembled([a, b], reasoning: reasoning, streaming: streaming), expected,
                                       "\(streaming) split \(a.debugDescription) | \(b.debugDescription)")
                    }
                }
            }
        }
    }

    func testCharacterByCharacterAndThreeWaySplits() {
        for streaming in Self.modes {
            for text in Self.samples {
                let expected = whole(text, streaming: streaming)
                let scalars = Array(text.unicodeScalars)
                XCTAssertEqual(assembled(scalars.map { String($0) }, streaming: streaming), expected, text.debugDescription)
                // Three pieces around every pair of positions on short samples.
                guard scalars.count <= 60 else { continue }
                for i in 0...scalars.count {
                    for j in i...scalars.count {
                        let pieces = [scalars[..<i], scalars[i..<j], scalars[j...]].map { String(String.UnicodeScalarView($0)) }
                        XCTAssertEqual(assembled(pieces, streaming: streaming), expected, "\(streaming) \(pieces)")
                    }
                }
            }
        }
    }

    func testWellFormedSamplesStreamIncrementallyToTheWholeCallResult() {
        XCTAssertGreaterThanOrEqual(Self.wellFormed.count, 9)
        for text in Self.wellFormed {
            let expected = whole(text, streaming: .wholeCall)
            let scalars = Array(text.unicodeScalars)
            XCTAssertEqual(assembled(scalars.map { String($0) }, streaming: .incremental), expected, text.debugDescription)
            for cut in 0...scalars.count {
                let pieces = [scalars[..<cut], scalars[cut...]].map { String(String.UnicodeScalarView($0)) }
                XCTAssertEqual(assembled(pieces, streaming: .incremental), expected, "\(pieces)")
            }
        }
    }

    func testWholeTextExpectationsOfSamples() {
        XCTAssertEqual(whole(Self.samples[0]), ParsedOutput(reasoning: "Reason A.", content: "Content B."))
        XCTAssertEqual(whole(Self.samples[3]), ParsedOutput(reasoning: "in think", content: "after",
            toolCalls: [ParsedToolCall(id: "call_1", name: "list_files", arguments: "{}")]))
        XCTAssertEqual(whole(Self.samples[8]), ParsedOutput(content: "<thin"))
        XCTAssertEqual(whole(Self.samples[9]).content, "Emoji 😀 and <think> literal </think> tags 🇨🇭 \r\n end")
        XCTAssertEqual(whole(Self.samples[10]), ParsedOutput())
    }
}
