/// A tool call the answer is made to contain (`tool_choice` `"required"` or a named function), and where it goes
/// (protocol.md §7.7: after the reasoning).
public struct ForcedToolCall: Sendable, Equatable {
    /// The forced text, encoded: `\n<tool_call>` or `\n<tool_call>NAME\n`.
    public var tokens: [Int]
    /// When the model may reason first: `<think>` and `</think>`, the tokens that may come before `<think>`
    /// (newlines) and `<tool_call>`. nil: the call is forced at the very start of the answer.
    public var reasoning: ReasoningTokens?

    public struct ReasoningTokens: Sendable, Equatable {
        public var open: Int
        public var close: Int
        public var toolCallOpen: Int
        public var leading: Set<Int>

        public init(open: Int, close: Int, toolCallOpen: Int, leading: Set<Int>) {
            self.open = open
            self.close = close
            self.toolCallOpen = toolCallOpen
            self.leading = leading
        }
    }

    public init(tokens: [Int], reasoning: ReasoningTokens? = nil) {
        self.tokens = tokens
        self.reasoning = reasoning
    }
}

/// Puts a `ForcedToolCall` into one generation, token by token. With `reasoning`:
/// - the model writes freely while it reasons: leading newlines, `<think>`, the reasoning, `</think>`; right after
///   its `</think>` the call's tokens are forced;
/// - if the model answers without reasoning (its first token after leading newlines is not `<think>`), that token
///   is replaced by the call;
/// - if, still reasoning, it picks a stop token or `<tool_call>`, that token is replaced by `</think>` and the
///   call (so the reasoning is closed and the call, with the requested name, follows).
/// Without `reasoning`, the call's tokens are the first of the answer. Once the call is placed the model writes
/// freely (its arguments, `</tool_call>`).
struct ToolCallForcer {
    private enum Phase { case beforeReasoning, reasoning, placed }

    private let call: ForcedToolCall?
    private var phase: Phase
    private var queue: ArraySlice<Int> = []

    init(_ call: ForcedToolCall?) {
        self.call = call
        if let call, call.reasoning == nil {
            queue = call.tokens[...]
            phase = .placed
        } else {
            phase = call == nil ? .placed : .beforeReasoning
        }
    }

    /// True once nothing is forced or replaced any more: every later token is the sampled one as is.
    var isSettled: Bool { queue.isEmpty && phase == .placed }

    /// The next token of the answer: a forced one, else `sample()` (possibly replaced, see the type).
    /// `isStop` tells which sampled tokens would end the answer.
    mutating func next(sample: () -> Int, isStop: (Int) -> Bool) -> (token: Int, forced: Bool) {
        if let token = queue.popFirst() { return (token, true) }
        let token = sample()
        guard let call, let markers = call.reasoning else { return (token, false) }
        switch phase {
        case .placed:
            return (token, false)
        case .beforeReasoning:
            if token == markers.open {
                phase = .reasoning
                return (token, false)
            }
            if markers.leading.contains(token) && !isStop(token) { return (token, false) }
            return place(call.tokens, instead: token)
        case .reasoning:
            if token == markers.close {
                phase = .placed
                queue = call.tokens[...]
                return (token, false)
            }
            if isStop(token) || token == markers.toolCallOpen { return place([markers.close] + call.tokens, instead: token) }
            return (token, false)
        }
    }

    /// Places the call's tokens in place of `sampled`.
    private mutating func place(_ tokens: [Int], instead sampled: Int) -> (token: Int, forced: Bool) {
        phase = .placed
        queue = tokens[...]
        guard let first = queue.popFirst() else { return (sampled, false) }
        return (first, true)
    }
}
