import Chat
import Foundation
import HTTP
import JSON
import Tokenizer

/// `POST /v1/completions`: OpenAI's legacy text completion. The prompt is used as given (a string, or token ids);
/// the answer is plain text — no template, no reasoning or tool-call parsing.
struct TextCompletionsEndpoint {
    let model: ServedModel

    /// OpenAI's default `max_tokens` for this endpoint.
    static let defaultMaxTokens = 16

    func reply(to request: HTTPRequest, context: RequestContext) throws -> HTTPReply {
        let body = try parseBody(request)
        var options = try ChatCompletionOptions(body: body, defaults: model.defaults,
                                                vocabularySize: model.vocabularySize, requiresMessages: false)
        if let requested = options.model, requested != model.id {
            throw APIError.notFound("The model '\(requested)' does not exist; this server serves '\(model.id)'.",
                                    code: "model_not_found", param: "model")
        }
        let fields = try FieldReader(body)
        if let suffix = try fields.string("suffix"), !suffix.isEmpty {
            throw APIError(status: 400, message: "'suffix' is not supported.", param: "suffix", code: "unsupported_value")
        }
        let echo = try fields.bool("echo") ?? false
        let (promptText, promptTokens) = try prompt(fields)
        guard promptTokens.count < model.contextSize else {
            throw APIError.badRequest(
                "This model's context is \(model.contextSize) tokens, but the prompt is \(promptTokens.count) tokens.",
                param: "prompt", code: "context_length_exceeded")
        }
        if options.maxTokens == nil { options.maxTokens = TextCompletionsEndpoint.defaultMaxTokens }

        let run = try ChatCompletionRun(model: model, options: options, promptTokens: promptTokens, tools: nil,
                                    parseReasoning: false, rawText: true)
        let encoder = TextCompletionEncoder(model: model.id, includeUsageField: options.includeUsage,
                                            id: options.requestID)
        let logprobs = options.logprobs.map { _ in LegacyLogprobs(tokenizer: model.tokenizer,
                                                                  offset: echo ? promptText.count : 0) }
        try run.start()
        if options.stream {
            let includeUsage = options.includeUsage
            return .stream(status: 200, headers: HTTPHeaders()) { stream in
                var logprobs = logprobs
                func entries() -> JSONValue? { logprobs?.json(run.takeLogprobs().content) }
                if echo { stream.sendEvent(data: encoder.chunk(text: promptText)) }
                do {
                    let summary = try run.run(isClientGone: { stream.isCancelled },
                                              idle: { stream.sendComment("keep-alive") }) { deltas in
                        let text = TextCompletionsEndpoint.text(of: deltas)
                        return text.isEmpty || stream.sendEvent(data: encoder.chunk(text: text, logprobs: entries()))
                    }
                    guard let summary else { return }
                    stream.sendEvent(data: encoder.chunk(text: "", finishReason: summary.finishReason,
                                                         logprobs: entries()))
                    if includeUsage { stream.sendEvent(data: encoder.usageChunk(summary)) }
                } catch {
                    let failure = (error as? APIError) ?? APIError(status: 500, message: "\(error)")
                    stream.sendEvent(data: failure.json.serialized())
                }
                stream.sendEvent(data: "[DONE]")
            }
        }
        var text = echo ? promptText : ""
        let summary = try run.run(isClientGone: { context.isCancelled }, idle: {}) { deltas in
            text += TextCompletionsEndpoint.text(of: deltas)
            return true
        }
        guard let summary else { throw APIError(status: 503, message: "The request was cancelled.", code: "cancelled") }
        var legacy = logprobs
        return .response(.json(encoder.completion(text: text, summary: summary,
                                                  logprobs: legacy?.json(run.takeLogprobs().content))))
    }

    /// The prompt as text and tokens: a string, one-string array, token ids, or one array of token ids.
    private func prompt(_ fields: FieldReader) throws -> (String, [Int]) {
        let expectation = "a string or an array of token ids (one prompt only)"
        guard let value = fields.value("prompt") else {
            throw APIError.badRequest("'prompt' is required", param: "prompt", code: "missing_required_parameter")
        }
        var single = value
        if let list = value.array, list.count == 1, list[0].string != nil || list[0].array != nil { single = list[0] }
        if let text = single.string {
            let tokens = model.tokenizer.encode(text)
            guard !tokens.isEmpty else { throw APIError.invalidField("prompt", "a non-empty string") }
            return (text, tokens)
        }
        guard let list = single.array, !list.isEmpty else { throw APIError.invalidField("prompt", expectation) }
        let ids = try list.map { item -> Int in
            guard let id = item.int, id >= 0, id < model.vocabularySize else {
                throw APIError.invalidField("prompt", expectation)
            }
            return id
        }
        return (model.tokenizer.decode(ids), ids)
    }

    static func text(of deltas: [OutputDelta]) -> String {
        deltas.map { delta -> String in
            switch delta {
            case let .content(text), let .reasoning(text): return text
            case .toolCallStart, .toolCallArguments: return ""
            }
        }.joined()
    }
}

/// The legacy `logprobs` object of `/v1/completions`: `tokens`, `token_logprobs`, `top_logprobs` (a map from
/// token text to log-probability per token) and `text_offset` (where each token's text starts in the output,
/// in characters, counting an echoed prompt).
struct LegacyLogprobs {
    let tokenizer: Tokenizer
    var offset: Int

    mutating func json(_ entries: [TokenLogprob]) -> JSONValue {
        var tokens: [JSONValue] = [], values: [JSONValue] = [], tops: [JSONValue] = [], offsets: [JSONValue] = []
        func number(_ v: Float) -> JSONValue { v.isFinite ? JSONValue(Double(v)) : JSONValue(-9999.0) }
        for e in entries {
            let text = tokenizer.decode([e.token])
            tokens.append(.string(text))
            values.append(number(e.logprob))
            var top = JSONObject()
            for alternative in e.top where top[tokenizer.decode([alternative.token])] == nil {
                top[tokenizer.decode([alternative.token])] = number(alternative.logprob)
            }
            tops.append(.object(top))
            offsets.append(JSONValue(offset))
            offset += text.count
        }
        return ["tokens": .array(tokens), "token_logprobs": .array(values), "top_logprobs": .array(tops),
                "text_offset": .array(offsets)]
    }
}

/// `text_completion` objects (whole and streamed).
struct TextCompletionEncoder {
    let id: String
    let created = Int(Date().timeIntervalSince1970)
    let model: String
    let includeUsageField: Bool

    init(model: String, includeUsageField: Bool, id: String? = nil) {
        self.id = id ?? "cmpl-" + ChatCompletionEncoder.randomHex(24)
        self.model = model
        self.includeUsageField = includeUsageField
    }

    private func object(choices: [JSONValue], usage: JSONValue?) -> String {
        var o = JSONObject()
        o["id"] = .string(id)
        o["object"] = "text_completion"
        o["created"] = JSONValue(created)
        o["model"] = .string(model)
        o["system_fingerprint"] = .string(ChatCompletionEncoder.systemFingerprint)
        o["choices"] = .array(choices)
        if let usage { o["usage"] = usage }
        return JSONValue.object(o).serialized()
    }

    private func choice(text: String, finishReason: String?, logprobs: JSONValue?) -> JSONValue {
        ["text": .string(text), "index": 0, "logprobs": logprobs ?? nil,
         "finish_reason": finishReason.map(JSONValue.string) ?? nil]
    }

    func chunk(text: String, finishReason: String? = nil, logprobs: JSONValue? = nil) -> String {
        object(choices: [choice(text: text, finishReason: finishReason, logprobs: logprobs)],
               usage: includeUsageField ? .null : nil)
    }

    func usageChunk(_ summary: CompletionSummary) -> String {
        object(choices: [], usage: ChatCompletionEncoder.usage(summary))
    }

    func completion(text: String, summary: CompletionSummary, logprobs: JSONValue? = nil) -> String {
        object(choices: [choice(text: text, finishReason: summary.finishReason, logprobs: logprobs)],
               usage: ChatCompletionEncoder.usage(summary))
    }
}
