import JSON

/// Why a message ended, in Anthropic's terms, and the stop sequence that ended it.
public struct AnthropicStop: Equatable, Sendable {
    public enum Reason: String, Sendable {
        case endTurn = "end_turn"
        case maxTokens = "max_tokens"
        case stopSequence = "stop_sequence"
        case toolUse = "tool_use"
    }

    public let reason: Reason
    /// The matched `stop_sequences` entry (only with `.stopSequence`).
    public let sequence: String?

    /// `max_tokens` first (a call cut by the limit must not be run as if complete), then a matched stop sequence,
    /// then `tool_use` when the answer holds a tool call, else `end_turn`.
    public init(hitMaxTokens: Bool, matchedStopSequence: String?, calledTools: Bool) {
        if hitMaxTokens {
            reason = .maxTokens
            sequence = nil
        } else if let matchedStopSequence {
            reason = .stopSequence
            sequence = matchedStopSequence
        } else {
            reason = calledTools ? .toolUse : .endTurn
            sequence = nil
        }
    }

    /// From an OpenAI-style `finish_reason` (`"length"` means the token limit was hit).
    public init(finishReason: String, matchedStopSequence: String?, calledTools: Bool) {
        self.init(hitMaxTokens: finishReason == "length", matchedStopSequence: matchedStopSequence,
                  calledTools: calledTools)
    }
}

/// Token counts in Anthropic's form: `input_tokens` are the prompt tokens not read from the prompt cache, which
/// are `cache_read_input_tokens` (their sum is the prompt length).
public struct AnthropicUsage: Equatable, Sendable {
    public var promptTokens: Int
    public var cachedPromptTokens: Int
    public var outputTokens: Int

    public init(promptTokens: Int, cachedPromptTokens: Int = 0, outputTokens: Int) {
        self.promptTokens = promptTokens
        self.cachedPromptTokens = min(max(cachedPromptTokens, 0), promptTokens)
        self.outputTokens = outputTokens
    }

    public var jsonValue: JSONValue {
        ["input_tokens": JSONValue(promptTokens - cachedPromptTokens), "cache_creation_input_tokens": 0,
         "cache_read_input_tokens": JSONValue(cachedPromptTokens), "output_tokens": JSONValue(outputTokens)]
    }
}

/// Ids and opaque values of the Anthropic API.
public enum AnthropicIDs {
    static let alphanumerics = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")

    /// `msg_` + 24 random letters and digits.
    public static func messageID() -> String { "msg_" + random(24, from: alphanumerics) }

    /// The `tool_use` id for a parser call id: `call_X` → `toolu_X` (so stream and whole answers agree).
    public static func toolUseID(forCallID id: String) -> String {
        "toolu_" + (id.hasPrefix("call_") ? String(id.dropFirst(5)) : id)
    }

    /// A thinking block's `signature`: opaque to clients; GLM has none, so 32 random hex digits (as vLLM does).
    public static func signature() -> String { random(32, from: Array("0123456789abcdef")) }

    static func random(_ count: Int, from alphabet: [Character]) -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<count).map { _ in alphabet[Int(generator.next(upperBound: UInt(alphabet.count)))] })
    }
}
