import Chat
import JSON
import Tokenizer

/// Token ids → text → (stop strings cut) → reasoning / content / tool-call deltas, one token at a time.
struct CompletionTextPipeline {
    private var decoder: StreamingDecoder
    private var stops: StopStringMatcher
    /// nil for raw text (`/v1/completions`): no trimming, no reasoning or tool calls.
    private var parser: GLMOutputParser?

    init(tokenizer: Tokenizer, stopStrings: [String], tools: JSONValue?, parseReasoning: Bool, rawText: Bool = false) {
        // Special tokens stay in the text: `<think>` and `<tool_call>` are how the parser sees structure.
        decoder = tokenizer.makeStreamingDecoder(skipSpecialTokens: false)
        stops = StopStringMatcher(stops: stopStrings)
        // A call cut off (max_tokens, a stop) is never completed: it is not a call (protocol.md §7.6).
        parser = rawText ? nil : GLMOutputParser(tools: tools, parseReasoning: parseReasoning, parseToolCalls: tools != nil,
                                                 cutOffToolCalls: .leftOpen)
    }

    /// Tool calls closed by `</tool_call>` so far.
    var completedToolCalls: Int { parser?.completedToolCallCount ?? 0 }

    /// The index of a call whose start was sent but that the end of the text cut off (after `finish`).
    var cutOffToolCallIndex: Int? { parser?.cutOffToolCallIndex }

    /// Whether a stop string has been reached (nothing more will be produced).
    var hitStopString: Bool { stops.isStopped }

    /// The stop string that ended the text, if one did.
    var matchedStopString: String? { stops.matchedStop }

    mutating func feed(_ token: Int) -> [OutputDelta] {
        parse(stops.feed(decoder.append(token)))
    }

    private mutating func parse(_ text: String) -> [OutputDelta] {
        guard !text.isEmpty else { return [] }
        guard parser != nil else { return [.content(text)] }
        return parser?.feed(text) ?? []
    }

    /// Flushes held-back text at the end of generation.
    mutating func finish() -> [OutputDelta] {
        var deltas: [OutputDelta] = []
        if !stops.isStopped {
            deltas += parse(stops.feed(decoder.flush()))
            deltas += parse(stops.finish())
        }
        return deltas + (parser?.finish() ?? [])
    }
}
