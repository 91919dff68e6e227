import Chat
import Foundation
import HTTP
import JSON

/// Anthropic's Messages API for Claude Code: `POST /v1/messages` (whole or streamed) and
/// `POST /v1/messages/count_tokens`. The Chat module translates the request into the OpenAI-style chat request
/// the GLM renderer reads; generation is exactly that of `/v1/chat/completions`; the parser's deltas are encoded
/// back into Anthropic's content blocks and events.
struct AnthropicMessagesEndpoint {
    let model: ServedModel

    func messages(_ request: HTTPRequest, context: RequestContext) throws -> HTTPReply {
        let anthropic = try translate(try parseBody(request), endpoint: .messages)
        let prompt = try render(anthropic)
        let promptTokens = model.tokenizer.encode(prompt.text)
        guard promptTokens.count < model.contextSize else {
            throw AnthropicError.invalidRequest(
                "prompt is too long: \(promptTokens.count) tokens > \(model.contextSize - 1) maximum "
                    + "(the server's --ctx-size is \(model.contextSize))")
        }
        let options: ChatCompletionOptions
        do {
            options = try ChatCompletionOptions(body: anthropic.chatRequest, defaults: model.defaults,
                                                vocabularySize: model.vocabularySize)
        } catch let error as APIError {
            throw AnthropicError.invalidRequest(error.message)
        }
        let run = try ChatCompletionRun(model: model, options: options, prompt: prompt, promptTokens: promptTokens)
        do {
            try run.start()
        } catch let error as APIError {
            throw AnthropicError(type: "overloaded_error", message: error.message)
        }

        if anthropic.stream {
            return .stream(status: 200, headers: HTTPHeaders()) { stream in
                AnthropicMessagesEndpoint.stream(run, model: anthropic.model, to: stream)
            }
        }
        var deltas: [OutputDelta] = []
        let summary: CompletionSummary?
        do {
            summary = try run.run(isClientGone: { context.isCancelled }, idle: {}) { batch in
                deltas += batch
                return true
            }
        } catch let error as APIError {
            throw AnthropicError(type: "api_error", message: error.message)
        }
        guard let summary else { throw AnthropicError(type: "api_error", message: "the request was cancelled") }
        let message = AnthropicResponseBuilder.message(model: anthropic.model,
                                                       deltas: ChatCompletionRun.completeCalls(deltas, summary: summary),
                                                       stop: AnthropicMessagesEndpoint.stop(summary),
                                                       usage: AnthropicMessagesEndpoint.usage(summary))
        return .response(.json(message.serialized()))
    }

    func countTokens(_ request: HTTPRequest) throws -> HTTPResponse {
        let anthropic = try translate(try parseBody(request), endpoint: .countTokens)
        let prompt = try render(anthropic)
        let count = model.tokenizer.encode(prompt.text).count
        return .json(AnthropicResponseBuilder.countTokens(inputTokens: count).serialized())
    }

    private func translate(_ body: JSONValue, endpoint: AnthropicRequest.Endpoint) throws -> AnthropicRequest {
        try AnthropicRequest(body: body, endpoint: endpoint)
    }

    private func render(_ anthropic: AnthropicRequest) throws -> ChatPrompt {
        do {
            return try GLMChatFormat.render(request: anthropic.chatRequest)
        } catch let error as ChatRequestError {
            throw AnthropicError(error)
        }
    }

    private static func stop(_ summary: CompletionSummary) -> AnthropicStop {
        AnthropicStop(finishReason: summary.finishReason, matchedStopSequence: summary.matchedStopString,
                      calledTools: summary.calledTools)
    }

    private static func usage(_ summary: CompletionSummary) -> AnthropicUsage {
        AnthropicUsage(promptTokens: summary.promptTokens, cachedPromptTokens: summary.cachedTokens,
                       outputTokens: summary.completionTokens)
    }

    private static func stream(_ run: ChatCompletionRun, model: String, to stream: ResponseStream) {
        var encoder = AnthropicStreamEncoder(model: model)
        func send(_ events: [AnthropicStreamEvent]) -> Bool {
            for event in events where !stream.write(event.sseText) { return false }
            return true
        }
        let opening = AnthropicUsage(promptTokens: run.promptTokenCount, cachedPromptTokens: run.cachedPromptTokens,
                                     outputTokens: 0)
        guard send(encoder.start(usage: opening)) else { return }
        do {
            let summary = try run.run(isClientGone: { stream.isCancelled },
                                      idle: { _ = send([AnthropicStreamEncoder.ping()]) }) { deltas in
                send(encoder.encode(deltas))
            }
            guard let summary else { return }
            _ = send(encoder.finish(stop: AnthropicMessagesEndpoint.stop(summary),
                                    usage: AnthropicMessagesEndpoint.usage(summary)))
        } catch {
            let message = (error as? APIError)?.message ?? "\(error)"
            _ = send([AnthropicStreamEncoder.error(AnthropicError(type: "api_error", message: message))])
        }
    }
}

extension AnthropicError {
    /// The same failure in Anthropic's shape (for errors raised before the Anthropic layer, e.g. auth or JSON).
    init(_ error: APIError) {
        let type: String
        switch error.status {
        case 401: type = "authentication_error"
        case 404: type = "not_found_error"
        case 405, 400: type = "invalid_request_error"
        case 413: type = "request_too_large"
        case 503: type = "overloaded_error"
        default: type = error.status < 500 ? "invalid_request_error" : "api_error"
        }
        self.init(type: type, message: error.message)
    }

    var response: HTTPResponse {
        .json(body.serialized(), status: httpStatus)
    }
}
