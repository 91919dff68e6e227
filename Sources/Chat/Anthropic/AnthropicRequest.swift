import JSON

/// A `POST /v1/messages` (or `/v1/messages/count_tokens`) body, validated and translated into the OpenAI-style chat
/// request that `GLMChatFormat.render(request:)` reads (protocol.md §10.1, §10.6).
///
/// `chatRequest` uses the OpenAI field names, so the server can read its sampling options as for
/// `/v1/chat/completions`: `model`, `messages`, `tools`, `tool_choice`, `parallel_tool_calls`,
/// `chat_template_kwargs.enable_thinking`, `add_generation_prompt` (false when the last message is an assistant
/// prefill), `max_tokens`, `stop`, `temperature`, `top_p`, `top_k`, `stream`. `metadata` and unknown keys are
/// ignored. Every shape error is an `AnthropicError` of type `invalid_request_error`.
public struct AnthropicRequest: Sendable {
    public enum Endpoint: Sendable {
        /// `POST /v1/messages`: `max_tokens` is required.
        case messages
        /// `POST /v1/messages/count_tokens`: `max_tokens` may be absent.
        case countTokens
    }

    public enum ToolChoice: Equatable, Sendable {
        case auto, any, none
        case tool(name: String)
    }

    public let model: String
    /// Required for `.messages`; `nil` only for `.countTokens`.
    public let maxTokens: Int?
    public let stream: Bool
    public let stopSequences: [String]
    public let temperature: Double?
    public let topP: Double?
    public let topK: Int?
    /// `thinking.type`: `enabled` → true, `disabled` → false; absent or `adaptive`/`auto` → nil (the model decides).
    public let thinkingEnabled: Bool?
    /// `thinking.budget_tokens` (only with `enabled`). The translation does not enforce it.
    public let thinkingBudget: Int?
    public let toolChoice: ToolChoice?
    /// False when `tool_choice.disable_parallel_tool_use` is true.
    public let parallelToolUse: Bool
    /// The translated request for `GLMChatFormat.render(request:)`.
    public let chatRequest: JSONValue

    /// Throws `AnthropicError` (`invalid_request_error`) naming the offending field.
    public init(body: JSONValue, endpoint: Endpoint = .messages) throws {
        guard body.object != nil else {
            throw AnthropicError.invalidRequest("the request body must be a JSON object, not \(body.kindName)")
        }
        let fields = AnthropicFields(body)
        guard let model = try fields.string("model") else { throw AnthropicError.invalidRequest("model: Field required") }
        self.model = model
        let maxTokens = try fields.int("max_tokens", atLeast: 1)
        if endpoint == .messages && maxTokens == nil {
            throw AnthropicError.invalidRequest("max_tokens: Field required")
        }
        self.maxTokens = maxTokens
        stream = try fields.bool("stream") ?? false
        stopSequences = try fields.stringList("stop_sequences")
        temperature = try fields.double("temperature", in: 0...1)
        topP = try fields.double("top_p", in: 0...1)
        topK = try fields.int("top_k", atLeast: 0)
        (thinkingEnabled, thinkingBudget) = try Self.thinking(body["thinking"])

        let tools = try AnthropicTools.translate(body["tools"])
        let choice = try AnthropicTools.choice(body["tool_choice"], toolNames: tools.compactMap { $0["function"]?["name"]?.string })
        toolChoice = choice?.choice
        parallelToolUse = choice?.parallel ?? true
        let messages = try AnthropicMessages.translate(system: body["system"], messages: body["messages"])

        var request = JSONObject()
        request["model"] = .string(model)
        request["messages"] = .array(messages)
        if !tools.isEmpty { request["tools"] = .array(tools) }
        if let choice { request["tool_choice"] = choice.openAI }
        if !parallelToolUse { request["parallel_tool_calls"] = false }
        if let thinkingEnabled { request["chat_template_kwargs"] = ["enable_thinking": .bool(thinkingEnabled)] }
        if messages.last?["role"]?.string == "assistant" { request["add_generation_prompt"] = false }
        if let maxTokens { request["max_tokens"] = JSONValue(maxTokens) }
        if !stopSequences.isEmpty { request["stop"] = .array(stopSequences.map(JSONValue.string)) }
        if let temperature { request["temperature"] = JSONValue(temperature) }
        if let topP { request["top_p"] = JSONValue(topP) }
        if let topK { request["top_k"] = JSONValue(topK) }
        request["stream"] = .bool(stream)
        chatRequest = .object(request)
    }

    static func thinking(_ value: JSONValue?) throws -> (Bool?, Int?) {
        guard let value, !value.isNull else { return (nil, nil) }
        guard value.object != nil else {
            throw AnthropicError.invalidRequest("thinking: must be an object, not \(value.kindName)")
        }
        switch value["type"]?.string {
        case "enabled":
            guard let budget = value["budget_tokens"] else {
                throw AnthropicError.invalidRequest("thinking.budget_tokens: Field required")
            }
            guard let tokens = budget.int, budget.number?.isInteger == true, tokens >= 1 else {
                throw AnthropicError.invalidRequest("thinking.budget_tokens: must be a positive integer")
            }
            return (true, tokens)
        case "disabled":
            return (false, nil)
        case "adaptive", "auto":
            return (nil, nil)
        default:
            throw AnthropicError.invalidRequest("thinking.type: must be \"enabled\" or \"disabled\"")
        }
    }
}

/// Typed reads of optional top-level fields; `null` counts as absent.
struct AnthropicFields {
    let body: JSONValue
    init(_ body: JSONValue) { self.body = body }

    func present(_ key: String) -> JSONValue? {
        guard let v = body[key], !v.isNull else { return nil }
        return v
    }

    func string(_ key: String) throws -> String? {
        guard let v = present(key) else { return nil }
        guard let s = v.string else { throw AnthropicError.invalidRequest("\(key): must be a string, not \(v.kindName)") }
        return s
    }

    func bool(_ key: String) throws -> Bool? {
        guard let v = present(key) else { return nil }
        guard let b = v.bool else { throw AnthropicError.invalidRequest("\(key): must be a boolean, not \(v.kindName)") }
        return b
    }

    func int(_ key: String, atLeast minimum: Int) throws -> Int? {
        guard let v = present(key) else { return nil }
        guard let n = v.int, v.number?.isInteger == true else {
            throw AnthropicError.invalidRequest("\(key): must be an integer, not \(v.kindName)")
        }
        guard n >= minimum else { throw AnthropicError.invalidRequest("\(key): must be at least \(minimum)") }
        return n
    }

    func double(_ key: String, in range: ClosedRange<Double>) throws -> Double? {
        guard let v = present(key) else { return nil }
        guard let d = v.double, d.isFinite else {
            throw AnthropicError.invalidRequest("\(key): must be a number, not \(v.kindName)")
        }
        guard range.contains(d) else {
            throw AnthropicError.invalidRequest("\(key): must be between \(range.lowerBound) and \(range.upperBound)")
        }
        return d
    }

    func stringList(_ key: String) throws -> [String] {
        guard let v = present(key) else { return [] }
        guard let list = v.array else {
            throw AnthropicError.invalidRequest("\(key): must be an array of strings, not \(v.kindName)")
        }
        return try list.enumerated().map { i, item in
            guard let s = item.string, !s.isEmpty else {
                throw AnthropicError.invalidRequest("\(key).\(i): must be a non-empty string")
            }
            return s
        }
    }
}
