import Chat
import Foundation
import HTTP
import JSON

/// `POST /v1/chat/completions`, streamed (SSE) or whole.
struct ChatCompletionsEndpoint {
    let model: ServedModel

    func reply(to request: HTTPRequest, context: RequestContext) throws -> HTTPReply {
        let body = try parseBody(request)
        let options = try ChatCompletionOptions(body: body, defaults: model.defaults,
                                                vocabularySize: model.vocabularySize)
        if let requested = options.model, requested != model.id {
            throw APIError.notFound("The model '\(requested)' does not exist; this server serves '\(model.id)'.",
                                    code: "model_not_found", param: "model")
        }
        let prompt = try renderPrompt(body)
        let promptTokens = model.tokenizer.encode(prompt.text)
        guard promptTokens.count < model.contextSize else {
            throw APIError.badRequest(
                "This model's context is \(model.contextSize) tokens, but the prompt is \(promptTokens.count) tokens. "
                    + "Shorten the messages or start the server with a larger --ctx-size.",
                param: "messages", code: "context_length_exceeded")
        }

        let run = try ChatCompletionRun(model: model, options: options, prompt: prompt, promptTokens: promptTokens)
        let encoder = ChatCompletionEncoder(model: model.id, includeUsageField: options.includeUsage,
                                            excludeReasoning: prompt.excludeReasoning, id: options.requestID,
                                            tokenizer: model.tokenizer)
        let wantsLogprobs = options.logprobs != nil
        try run.start()
        if options.stream {
            return .stream(status: 200, headers: HTTPHeaders()) { stream in
                ChatCompletionsEndpoint.stream(run, encoder: encoder, includeUsage: options.includeUsage,
                                               logprobs: wantsLogprobs, to: stream)
            }
        }

        var deltas: [OutputDelta] = []
        var content: [TokenLogprob] = [], reasoning: [TokenLogprob] = []
        let summary = try run.run(isClientGone: { context.isCancelled }, idle: {}) { batch in
            deltas += batch
            return true
        }
        guard let summary else {
            throw APIError(status: 503, message: "The request was cancelled.", code: "cancelled")
        }
        if wantsLogprobs { (content, reasoning) = run.takeLogprobs() }
        return .response(.json(encoder.completion(deltas: ChatCompletionRun.completeCalls(deltas, summary: summary),
                                                  summary: summary,
                                                  logprobs: wantsLogprobs ? encoder.logprobs(content: content, reasoning: reasoning) : nil)))
    }

    /// Streams the answer. With logprobs, each chunk carries the entries of the tokens consumed since the last
    /// chunk (tokens whose text is still held back ride on a later chunk; what is left, on the finish chunk), so
    /// the entries of all chunks together are those of the whole answer.
    private static func stream(_ run: ChatCompletionRun, encoder: ChatCompletionEncoder, includeUsage: Bool,
                               logprobs: Bool, to stream: ResponseStream) {
        guard stream.sendEvent(data: encoder.roleChunk()) else { return }
        var carried: (content: [TokenLogprob], reasoning: [TokenLogprob]) = ([], [])
        func takeCarried() -> JSONValue? {
            guard logprobs else { return nil }
            let taken = run.takeLogprobs()
            carried.content += taken.content
            carried.reasoning += taken.reasoning
            defer { carried = ([], []) }
            return encoder.logprobs(content: carried.content, reasoning: carried.reasoning)
        }
        do {
            let summary = try run.run(isClientGone: { stream.isCancelled },
                                      idle: { stream.sendComment("keep-alive") }) { deltas in
                let chunks = encoder.chunks(for: deltas, logprobs: logprobs ? { takeCarried() } : nil)
                for chunk in chunks {
                    guard stream.sendEvent(data: chunk) else { return false }
                }
                return true
            }
            guard let summary else { return }
            stream.sendEvent(data: encoder.finishChunk(reason: summary.finishReason, logprobs: takeCarried()))
            if includeUsage { stream.sendEvent(data: encoder.usageChunk(summary)) }
        } catch let error as APIError {
            stream.sendEvent(data: error.json.serialized())
        } catch {
            stream.sendEvent(data: APIError(status: 500, message: "\(error)").json.serialized())
        }
        stream.sendEvent(data: "[DONE]")
    }
}
