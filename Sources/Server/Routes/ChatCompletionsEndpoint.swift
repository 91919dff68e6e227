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

        let run = ChatCompletionRun(model: model, options: options, prompt: prompt, promptTokens: promptTokens)
        let encoder = ChatCompletionEncoder(model: model.id, includeUsageField: options.includeUsage,
                                            excludeReasoning: prompt.excludeReasoning)
        try run.start()
        if options.stream {
            return .stream(status: 200, headers: HTTPHeaders()) { stream in
                ChatCompletionsEndpoint.stream(run, encoder: encoder, includeUsage: options.includeUsage, to: stream)
            }
        }

        var deltas: [OutputDelta] = []
        let summary = try run.run(isClientGone: { context.isCancelled }, idle: {}) { batch in
            deltas += batch
            return true
        }
        guard let summary else {
            throw APIError(status: 503, message: "The request was cancelled.", code: "cancelled")
        }
        return .response(.json(encoder.completion(deltas: ChatCompletionRun.completeCalls(deltas, summary: summary),
                                                  summary: summary)))
    }

    private static func stream(_ run: ChatCompletionRun, encoder: ChatCompletionEncoder, includeUsage: Bool,
                               to stream: ResponseStream) {
        guard stream.sendEvent(data: encoder.roleChunk()) else { return }
        do {
            let summary = try run.run(isClientGone: { stream.isCancelled },
                                      idle: { stream.sendComment("keep-alive") }) { deltas in
                for chunk in encoder.chunks(for: deltas) {
                    guard stream.sendEvent(data: chunk) else { return false }
                }
                return true
            }
            guard let summary else { return }
            stream.sendEvent(data: encoder.finishChunk(reason: summary.finishReason))
            if includeUsage { stream.sendEvent(data: encoder.usageChunk(summary)) }
        } catch let error as APIError {
            stream.sendEvent(data: error.json.serialized())
        } catch {
            stream.sendEvent(data: APIError(status: 500, message: "\(error)").json.serialized())
        }
        stream.sendEvent(data: "[DONE]")
    }
}
