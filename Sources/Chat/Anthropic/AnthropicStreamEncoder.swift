import JSON

/// One server-sent event of a streamed `/v1/messages` answer.
public struct AnthropicStreamEvent: Equatable, Sendable {
    /// The SSE `event:` name, equal to `data.type`.
    public let event: String
    public let data: JSONValue

    public init(event: String, data: JSONValue) {
        self.event = event
        self.data = data
    }

    /// `event: NAME\ndata: {…}\n\n`, ready to write.
    public var sseText: String { "event: \(event)\ndata: \(data.serialized())\n\n" }
}

/// Turns the parser's deltas into Anthropic's streaming events (protocol.md §10.3), in order:
/// `message_start` and a `ping` (`start`); per block `content_block_start`, `content_block_delta`s
/// (`thinking_delta`, `text_delta`, `input_json_delta`), `content_block_stop` (`encode`); then `message_delta`
/// (stop reason, cumulative usage) and `message_stop` (`finish`).
///
/// A new block opens whenever the kind of output changes (reasoning → thinking, content → text, each tool call
/// → its own tool_use block), with indices 0, 1, 2, … A thinking block gets a `signature_delta` just before it
/// stops. The blocks fold to exactly what `AnthropicResponseBuilder.message` returns for the same deltas.
public struct AnthropicStreamEncoder {
    private enum Block: Equatable {
        case none, thinking, text
        case toolUse(call: Int)
    }

    public let messageID: String
    public let model: String
    private let makeSignature: () -> String
    private var open = Block.none
    private var nextIndex = 0
    private var started = false
    private var finished = false

    public init(model: String, messageID: String = AnthropicIDs.messageID(),
                makeSignature: @escaping () -> String = AnthropicIDs.signature) {
        self.model = model
        self.messageID = messageID
        self.makeSignature = makeSignature
    }

    /// `message_start` (a message with no content, `stop_reason: null` and the usage known so far) and a `ping`.
    public mutating func start(usage: AnthropicUsage) -> [AnthropicStreamEvent] {
        guard !started else { return [] }
        started = true
        let message: JSONValue = [
            "id": .string(messageID), "type": "message", "role": "assistant", "model": .string(model),
            "content": [], "stop_reason": nil, "stop_sequence": nil, "usage": usage.jsonValue,
        ]
        return [Self.event("message_start", ["message": message]), Self.ping()]
    }

    /// Events for a batch of deltas (starting the message with zero usage if `start` was not called).
    public mutating func encode(_ deltas: [OutputDelta]) -> [AnthropicStreamEvent] {
        guard !finished else { return [] }
        var events = start(usage: AnthropicUsage(promptTokens: 0, outputTokens: 0))
        for delta in deltas {
            switch delta {
            case .reasoning(let text):
                guard !text.isEmpty else { continue }
                if open != .thinking {
                    events += openBlock(.thinking, ["type": "thinking", "thinking": "", "signature": ""])
                }
                events.append(blockDelta(["type": "thinking_delta", "thinking": .string(text)]))
            case .content(let text):
                guard !text.isEmpty else { continue }
                if open != .text { events += openBlock(.text, ["type": "text", "text": ""]) }
                events.append(blockDelta(["type": "text_delta", "text": .string(text)]))
            case .toolCallStart(let index, let id, let name):
                events += openBlock(.toolUse(call: index), AnthropicResponseBuilder.toolUseBlock(
                    id: AnthropicIDs.toolUseID(forCallID: id), name: name, input: JSONObject()))
            case .toolCallArguments(let index, let fragment):
                // Fragments always follow their call's start; any other is dropped rather than misplaced.
                guard !fragment.isEmpty, open == .toolUse(call: index) else { continue }
                events.append(blockDelta(["type": "input_json_delta", "partial_json": .string(fragment)]))
            }
        }
        return events
    }

    /// Closes the open block, then `message_delta` (stop reason and sequence, cumulative usage) and `message_stop`.
    public mutating func finish(stop: AnthropicStop, usage: AnthropicUsage) -> [AnthropicStreamEvent] {
        guard !finished else { return [] }
        var events = start(usage: usage)
        events += closeBlock()
        finished = true
        events.append(Self.event("message_delta", [
            "delta": ["stop_reason": .string(stop.reason.rawValue), "stop_sequence": JSONValue(stop.sequence)],
            "usage": usage.jsonValue,
        ]))
        events.append(Self.event("message_stop", [:]))
        return events
    }

    /// A keep-alive `ping` (send one whenever the stream has been quiet for a while).
    public static func ping() -> AnthropicStreamEvent { event("ping", [:]) }

    /// An `error` event for a failure after the stream began.
    public static func error(_ error: AnthropicError) -> AnthropicStreamEvent {
        AnthropicStreamEvent(event: "error", data: error.body)
    }

    // MARK: - Blocks

    private mutating func openBlock(_ block: Block, _ contentBlock: JSONValue) -> [AnthropicStreamEvent] {
        var events = closeBlock()
        open = block
        events.append(Self.event("content_block_start", ["index": JSONValue(nextIndex), "content_block": contentBlock]))
        return events
    }

    private mutating func closeBlock() -> [AnthropicStreamEvent] {
        guard open != .none else { return [] }
        var events: [AnthropicStreamEvent] = []
        if open == .thinking {
            events.append(blockDelta(["type": "signature_delta", "signature": .string(makeSignature())]))
        }
        events.append(Self.event("content_block_stop", ["index": JSONValue(nextIndex)]))
        open = .none
        nextIndex += 1
        return events
    }

    private func blockDelta(_ delta: JSONValue) -> AnthropicStreamEvent {
        Self.event("content_block_delta", ["index": JSONValue(nextIndex), "delta": delta])
    }

    /// An event whose data is `{"type": name, …fields}`.
    static func event(_ name: String, _ fields: JSONObject) -> AnthropicStreamEvent {
        var data: JSONObject = ["type": .string(name)]
        for (key, value) in fields { data[key] = value }
        return AnthropicStreamEvent(event: name, data: .object(data))
    }
}
