import JSON

/// The generation options of a `/v1/chat/completions` body, validated. The messages, tools and thinking switch
/// are read by `GLMChatFormat.render`; everything else the server honours is here.
struct ChatCompletionOptions {
    var model: String?
    var stream = false
    var includeUsage = false
    /// `max_completion_tokens`, else `max_tokens`; nil means "until the context is full".
    var maxTokens: Int?
    var sampling = SamplingParameters()
    var stop: [String] = []
    var parallelToolCalls = true
    /// For `tool_choice` `"required"` or a named function: the text forced into the answer (after the
    /// reasoning when thinking is on, see `ToolCallForcer`), `\n<tool_call>` or `\n<tool_call>NAME\n`, so the
    /// model writes a call.
    var forcedToolCall: String?
    /// `response_format`: free text, any JSON object, or JSON valid under a schema (constrained decoding).
    var responseFormat: ResponseFormat = .text
    /// Log-probabilities of the chosen tokens: nil when not asked for, else how many alternatives to list per
    /// token (`top_logprobs` for chat, the `logprobs` integer for `/v1/completions`).
    var logprobs: Int?
    /// Z.ai's `request_id`: used as the completion's id when given.
    var requestID: String?
    /// `user` or `user_id`: accepted and written to the generation's log line.
    var user: String?
    /// Whether the request offers tools (and `tool_choice` is not `none`).
    var offersTools = false

    static let maximumTopLogprobs = 20

    static let maxStopStrings = 16

    /// - Parameter requiresMessages: false for `/v1/completions`, whose prompt is not a message list.
    init(body: JSONValue, defaults: GenerationDefaults, vocabularySize: Int, requiresMessages: Bool = true) throws {
        let fields = try FieldReader(body)
        model = try fields.string("model")
        if requiresMessages {
            guard let messages = fields.value("messages") else {
                throw APIError.badRequest("'messages' is required", param: "messages", code: "missing_required_parameter")
            }
            guard let list = messages.array else { throw APIError.invalidField("messages", "an array of messages") }
            guard !list.isEmpty else { throw APIError.invalidField("messages", "a non-empty array") }
        }

        stream = try fields.bool("stream") ?? false
        if let streamOptions = try fields.object("stream_options") {
            let options = try FieldReader(.object(streamOptions))
            do {
                includeUsage = try options.bool("include_usage") ?? false
            } catch {
                throw APIError.invalidField("stream_options.include_usage", "a boolean")
            }
        }
        let maxCompletion = try fields.int("max_completion_tokens", in: 1...Int.max)
        let maxLegacy = try fields.int("max_tokens", in: 1...Int.max)
        maxTokens = maxCompletion ?? maxLegacy

        if let n = try fields.int("n"), n != 1 {
            throw APIError(status: 400, message: "Only n = 1 is supported.", param: "n", code: "unsupported_value")
        }

        sampling.temperature = try fields.double("temperature", in: 0...100) ?? defaults.temperature ?? 1
        // Z.ai: `do_sample: false` means greedy decoding whatever the temperature.
        if try fields.bool("do_sample") == false { sampling.temperature = 0 }
        sampling.topP = try fields.double("top_p", in: 0...1) ?? defaults.topP ?? 1
        if sampling.topP == 0 { throw APIError.invalidField("top_p", "greater than 0 and at most 1") }
        sampling.topK = max(0, try fields.int("top_k") ?? defaults.topK ?? 0)
        sampling.minP = try fields.double("min_p", in: 0...1) ?? 0
        sampling.presencePenalty = try fields.double("presence_penalty", in: -2...2) ?? 0
        sampling.frequencyPenalty = try fields.double("frequency_penalty", in: -2...2) ?? 0
        let repetition = try fields.double("repetition_penalty") ?? 1
        guard repetition > 0 else { throw APIError.invalidField("repetition_penalty", "a number greater than 0") }
        sampling.repetitionPenalty = repetition
        if let seed = try fields.int("seed") { sampling.seed = UInt64(bitPattern: Int64(seed)) }
        sampling.logitBias = try ChatCompletionOptions.logitBias(fields, vocabularySize: vocabularySize)

        stop = try ChatCompletionOptions.stopStrings(fields)

        parallelToolCalls = try fields.bool("parallel_tool_calls") ?? true
        let tools = try fields.array("tools") ?? []
        forcedToolCall = try ChatCompletionOptions.forcedToolCall(fields.value("tool_choice"), tools: tools)
        offersTools = !tools.isEmpty && fields.value("tool_choice")?.string != "none"
        user = try fields.string("user") ?? fields.string("user_id")
        if let id = try fields.string("request_id"), !id.isEmpty { requestID = id }
        _ = try fields.object("chat_template_kwargs")

        responseFormat = try ChatCompletionOptions.responseFormat(fields.value("response_format"))
        if responseFormat != .text && forcedToolCall != nil {
            throw APIError(status: 400, message: "response_format cannot be combined with a forced tool call "
                + "(tool_choice \"required\" or a named function): the answer is then a tool call, not a document.",
                param: "response_format", code: "unsupported_value")
        }
        logprobs = try ChatCompletionOptions.logprobs(fields, legacy: !requiresMessages)
    }

    /// `logprobs` (a boolean; for `/v1/completions` the number of alternatives) and `top_logprobs`.
    private static func logprobs(_ fields: FieldReader, legacy: Bool) throws -> Int? {
        let range = 0...maximumTopLogprobs
        if legacy {
            if let count = fields.value("logprobs"), count.bool != nil {
                throw APIError.invalidField("logprobs", "an integer between 0 and \(maximumTopLogprobs) on /v1/completions")
            }
            return try fields.int("logprobs", in: range)
        }
        let wanted = try fields.bool("logprobs") ?? false
        let top = try fields.int("top_logprobs", in: range)
        if top != nil && !wanted {
            throw APIError.invalidField("top_logprobs", "sent only together with \"logprobs\": true")
        }
        return wanted ? (top ?? 0) : nil
    }

    private static func responseFormat(_ value: JSONValue?) throws -> ResponseFormat {
        guard let value else { return .text }
        let expectation = "{\"type\": \"text\"}, {\"type\": \"json_object\"} or {\"type\": \"json_schema\", \"json_schema\": {\"name\": …, \"schema\": {…}}}"
        guard value.object != nil, let type = value["type"]?.string else {
            throw APIError.invalidField("response_format", expectation)
        }
        switch type {
        case "text": return .text
        case "json_object": return .jsonObject
        case "json_schema":
            guard let wrapper = value["json_schema"], wrapper.object != nil else {
                throw APIError.invalidField("response_format.json_schema", "an object with 'name' and 'schema'")
            }
            if let name = wrapper["name"], name.string == nil {
                throw APIError.invalidField("response_format.json_schema.name", "a string")
            }
            if let strict = wrapper["strict"], strict.bool == nil, !strict.isNull {
                throw APIError.invalidField("response_format.json_schema.strict", "a boolean")
            }
            guard let schema = wrapper["schema"], !schema.isNull else {
                // OpenAI allows a missing schema: any JSON value then.
                return .jsonSchema(.bool(true))
            }
            guard schema.object != nil || schema.bool != nil else {
                throw APIError.invalidField("response_format.json_schema.schema", "a JSON schema (an object)")
            }
            return .jsonSchema(schema)
        default:
            throw APIError.invalidField("response_format.type",
                                        "\"text\", \"json_object\" or \"json_schema\", not \(JSONValue.quoted(type))")
        }
    }

    /// Validates `tool_choice`; returns the forced start of the answer for `"required"` and named functions.
    private static func forcedToolCall(_ choice: JSONValue?, tools: [JSONValue]) throws -> String? {
        guard let choice else { return nil }
        let expectation = "\"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": …}}"
        let names = tools.compactMap { $0["function"]?["name"]?.string }
        if let mode = choice.string {
            switch mode {
            case "none", "auto": return nil
            case "required":
                guard !tools.isEmpty else {
                    throw APIError.invalidField("tool_choice", "\"none\" or \"auto\" when no tools are given")
                }
                return "\n<tool_call>"
            default: throw APIError.invalidField("tool_choice", expectation)
            }
        }
        guard choice.object != nil else { throw APIError.invalidField("tool_choice", expectation) }
        if choice["type"]?.string == "allowed_tools" {
            return choice["allowed_tools"]?["mode"]?.string == "required" && !tools.isEmpty ? "\n<tool_call>" : nil
        }
        guard let name = choice["function"]?["name"]?.string ?? choice["name"]?.string else {
            throw APIError.invalidField("tool_choice", expectation)
        }
        guard names.contains(name) else {
            throw APIError.invalidField("tool_choice", "the name of one of the request's tools ('\(name)' is not one)")
        }
        return "\n<tool_call>\(name)\n"
    }

    private static func stopStrings(_ fields: FieldReader) throws -> [String] {
        guard let value = fields.value("stop") else { return [] }
        if let single = value.string { return [single] }
        guard let list = value.array else { throw APIError.invalidField("stop", "a string or an array of strings") }
        guard list.count <= maxStopStrings else {
            throw APIError.invalidField("stop", "at most \(maxStopStrings) strings")
        }
        return try list.map {
            guard let s = $0.string else { throw APIError.invalidField("stop", "a string or an array of strings") }
            return s
        }
    }

    private static func logitBias(_ fields: FieldReader, vocabularySize: Int) throws -> [Int: Double] {
        guard let object = try fields.object("logit_bias") else { return [:] }
        var bias: [Int: Double] = [:]
        for (key, value) in object {
            guard let id = Int(key), id >= 0, id < vocabularySize else {
                throw APIError.invalidField("logit_bias", "a map from token ids (0..<\(vocabularySize)) to numbers")
            }
            guard let amount = value.double, (-100...100).contains(amount) else {
                throw APIError.invalidField("logit_bias", "a map from token ids to numbers between -100 and 100")
            }
            bias[id] = amount
        }
        return bias
    }
}
