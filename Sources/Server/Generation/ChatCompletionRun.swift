import Chat
import Foundation
import JSON

/// Counts and the finish reason of one completion.
struct CompletionSummary {
    var finishReason: String
    var promptTokens: Int
    var completionTokens: Int
    var cachedTokens: Int
    var reasoningTokens: Int
    /// The `stop` string that ended the answer, if one did.
    var matchedStopString: String?
    /// Whether at least one tool call was returned.
    var calledTools: Bool
}

/// Runs one chat completion on the scheduler and turns its tokens into deltas, for streaming and
/// non-streaming answers alike (so both always agree).
final class ChatCompletionRun {
    private let model: ServedModel
    private let job: GenerationJob
    private var pipeline: CompletionTextPipeline
    private let parallelToolCalls: Bool

    private var toolCallsStarted = 0
    private var toolCallsWithArguments = Set<Int>()
    private var droppingExtraToolCalls = false
    private var completionTokens = 0
    private var reasoningTokens = 0
    private var lastTokenWasReasoning = false

    /// How often the consumer wakes to check its client while waiting for tokens.
    static let pollInterval: TimeInterval = 0.05

    /// Prompt tokens reused from a cached prefix (known once the job has reached a slot).
    var cachedPromptTokens: Int { job.cachedPromptTokens }
    var promptTokenCount: Int { job.promptTokens.count }

    convenience init(model: ServedModel, options: ChatCompletionOptions, prompt: ChatPrompt, promptTokens: [Int]) {
        self.init(model: model, options: options, promptTokens: promptTokens, tools: prompt.tools,
                  parseReasoning: prompt.outputMayStartWithReasoning)
    }

    /// - Parameters:
    ///   - tools: the rendered tools (tool calls are parsed only when given).
    ///   - parseReasoning: whether the answer may open with `<think>`.
    ///   - rawText: pass the text through unparsed and untrimmed (`/v1/completions`).
    init(model: ServedModel, options: ChatCompletionOptions, promptTokens: [Int], tools: JSONValue?,
         parseReasoning: Bool, rawText: Bool = false) {
        self.model = model
        let room = model.contextSize - promptTokens.count
        job = GenerationJob(promptTokens: promptTokens, sampling: options.sampling,
                            maxNewTokens: min(options.maxTokens ?? room, room), stopTokenIDs: model.stopTokenIDs,
                            forcedPrefix: options.forcedToolCall.map { model.tokenizer.encode($0) } ?? [])
        pipeline = CompletionTextPipeline(tokenizer: model.tokenizer, stopStrings: options.stop, tools: tools,
                                          parseReasoning: parseReasoning, rawText: rawText)
        parallelToolCalls = options.parallelToolCalls
    }

    /// Queues the generation; throws a 503 `APIError` when the queue is full or the server is stopping.
    func start() throws {
        do {
            try model.scheduler.submit(job)
        } catch GenerationScheduler.SubmitError.queueFull {
            throw APIError(status: 503, message: "The server is busy: the request queue is full. Retry later.",
                           code: "queue_full")
        } catch {
            throw APIError(status: 503, message: "The server is shutting down.", code: "shutting_down")
        }
    }

    /// Consumes the started generation, calling `deliver` with each batch of deltas (false from it means the
    /// client is gone) and `idle` when nothing arrived for a while. Returns nil when the client went away
    /// (generation is then cancelled at once).
    func run(isClientGone: () -> Bool, idle: () -> Void, deliver: ([OutputDelta]) -> Bool) throws -> CompletionSummary? {
        var finishCause: FinishCause = .cancelled
        var quietSince = Date()
        loop: while true {
            guard let event = job.nextEvent(timeout: ChatCompletionRun.pollInterval) else {
                if isClientGone() { model.scheduler.cancel(job); return nil }
                if Date().timeIntervalSince(quietSince) > 10 { idle(); quietSince = Date() }
                continue
            }
            quietSince = Date()
            switch event {
            case let .token(id):
                completionTokens += 1
                let deltas = filter(pipeline.feed(id))
                countReasoning(deltas)
                if !deltas.isEmpty && !deliver(deltas) { model.scheduler.cancel(job); return nil }
                if pipeline.hitStopString || droppingExtraToolCalls {
                    job.cancel()
                    finishCause = .stopToken
                    break loop
                }
                if isClientGone() { model.scheduler.cancel(job); return nil }
            case let .finished(cause):
                finishCause = cause
                break loop
            case let .failed(message):
                throw APIError(status: 500, message: message, code: "generation_failed")
            }
        }
        if finishCause == .cancelled && isClientGone() { return nil }

        var tail = filter(pipeline.finish())
        for index in 0..<toolCallsStarted where !toolCallsWithArguments.contains(index) {
            tail.append(.toolCallArguments(index: index, fragment: "{}"))
        }
        if !tail.isEmpty && !deliver(tail) { return nil }

        let reason: String
        if finishCause == .length && !pipeline.hitStopString {
            reason = "length"
        } else if toolCallsStarted > 0 {
            reason = "tool_calls"
        } else {
            reason = "stop"
        }
        return CompletionSummary(finishReason: reason, promptTokens: job.promptTokens.count,
                                 completionTokens: completionTokens, cachedTokens: job.cachedPromptTokens,
                                 reasoningTokens: reasoningTokens, matchedStopString: pipeline.matchedStopString,
                                 calledTools: toolCallsStarted > 0)
    }

    /// Drops calls after the first when `parallel_tool_calls` is false (and stops generation there);
    /// notes which calls received argument text.
    private func filter(_ deltas: [OutputDelta]) -> [OutputDelta] {
        var kept: [OutputDelta] = []
        for delta in deltas {
            switch delta {
            case let .toolCallStart(index, _, _):
                if !parallelToolCalls && index >= 1 { droppingExtraToolCalls = true }
                if droppingExtraToolCalls { continue }
                toolCallsStarted = max(toolCallsStarted, index + 1)
                kept.append(delta)
            case let .toolCallArguments(index, fragment):
                if !parallelToolCalls && index >= 1 { continue }
                if !fragment.isEmpty { toolCallsWithArguments.insert(index) }
                kept.append(delta)
            case .reasoning, .content:
                if droppingExtraToolCalls { continue }
                kept.append(delta)
            }
        }
        return kept
    }

    /// A token counts as reasoning when its text went to reasoning only (tokens that produced no text yet
    /// count like the one before them).
    private func countReasoning(_ deltas: [OutputDelta]) {
        if !deltas.isEmpty {
            lastTokenWasReasoning = deltas.allSatisfy { if case .reasoning = $0 { return true } else { return false } }
        }
        if lastTokenWasReasoning { reasoningTokens += 1 }
    }
}
