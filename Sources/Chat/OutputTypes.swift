import JSON

/// One piece of a streamed answer, in the order the server sends them.
public enum OutputDelta: Equatable, Sendable {
    /// Reasoning text (`reasoning_content`).
    case reasoning(String)
    /// Answer text (`content`).
    case content(String)
    /// A tool call begins: always sent before any argument fragment of the same index.
    case toolCallStart(index: Int, id: String, name: String)
    /// Text of the call's `arguments` JSON; the fragments of one index concatenate to the whole JSON string.
    case toolCallArguments(index: Int, fragment: String)
}

/// A tool call parsed from the model's text, in OpenAI's shape (`arguments` is a JSON string).
public struct ParsedToolCall: Equatable, Sendable {
    public let id: String
    public let name: String
    public let arguments: String
    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

/// A whole generated answer split into reasoning, content and tool calls.
public struct ParsedOutput: Equatable, Sendable {
    /// `nil` when there was no (non-empty) reasoning.
    public var reasoning: String?
    /// The answer text outside tool calls; `""` when there is none (the API then sends `content: null`).
    public var content: String
    public var toolCalls: [ParsedToolCall]

    public init(reasoning: String? = nil, content: String = "", toolCalls: [ParsedToolCall] = []) {
        self.reasoning = reasoning
        self.content = content
        self.toolCalls = toolCalls
    }

    /// Folds streamed deltas into the whole answer (what a client assembling the stream ends up with).
    public init(deltas: [OutputDelta]) {
        self.init()
        var names: [Int: (id: String, name: String)] = [:]
        var arguments: [Int: String] = [:]
        var order: [Int] = []
        for delta in deltas {
            switch delta {
            case .reasoning(let text): reasoning = (reasoning ?? "") + text
            case .content(let text): content += text
            case .toolCallStart(let index, let id, let name):
                if names[index] == nil { order.append(index) }
                names[index] = (id, name)
            case .toolCallArguments(let index, let fragment): arguments[index, default: ""] += fragment
            }
        }
        if reasoning?.isEmpty == true { reasoning = nil }
        toolCalls = order.compactMap { index in
            names[index].map { ParsedToolCall(id: $0.id, name: $0.name, arguments: arguments[index] ?? "") }
        }
    }
}

/// Tool-call ids: `call_` followed by 24 random lowercase hex digits (96 random bits), the form of the recorded
/// GLM-4.6 wire sample (protocol.md §7.5–§7.6), e.g. `call_f52ecd5256ae42659dd74630`.
public enum ToolCallID {
    static let alphabet = Array("0123456789abcdef")

    public static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        return "call_" + String((0..<24).map { _ in alphabet[Int(generator.next(upperBound: UInt(alphabet.count)))] })
    }
}

extension ParsedToolCall {
    /// The OpenAI wire form: `{"id": …, "type": "function", "function": {"name": …, "arguments": "<JSON>"}}`.
    public var jsonValue: JSONValue {
        ["id": .string(id), "type": "function", "function": ["name": .string(name), "arguments": .string(arguments)]]
    }
}
