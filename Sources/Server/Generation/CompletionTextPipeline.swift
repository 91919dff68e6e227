import Chat
import JSON
import Tokenizer

/// Token ids → text → (stop strings cut) → reasoning / content / tool-call deltas, one token at a time.
struct CompletionTextPipeline {
    private var decoder: StreamingDecoder
    private var stops: StopStringMatcher
    private var parser: GLMOutputParser

    init(tokenizer: Tokenizer, stopStrings: [String], tools: JSONValue?, parseReasoning: Bool) {
        // Special tokens stay in the text: `<think>` and `<tool_call>` are how the parser sees structure.
        decoder = tokenizer.makeStreamingDecoder(skipSpecialTokens: false)
        stops = StopStringMatcher(stops: stopStrings)
        parser = GLMOutputParser(tools: tools, parseReasoning: parseReasoning, parseToolCalls: tools != nil)
    }

    /// Whether a stop string has been reached (nothing more will be produced).
    var hitStopString: Bool { stops.isStopped }

    /// The stop string that ended the text, if one did.
    var matchedStopString: String? { stops.matchedStop }

    mutating func feed(_ token: Int) -> [OutputDelta] {
        let text = stops.feed(decoder.append(token))
        return text.isEmpty ? [] : parser.feed(text)
    }

    /// Flushes held-back text at the end of generation.
    mutating func finish() -> [OutputDelta] {
        var deltas: [OutputDelta] = []
        if !stops.isStopped {
            let tail = stops.feed(decoder.flush())
            if !tail.isEmpty { deltas += parser.feed(tail) }
            let held = stops.finish()
            if !held.isEmpty { deltas += parser.feed(held) }
        }
        return deltas + parser.finish()
    }
}
