import Chat
import Structured
import Foundation
import JSON
import Tokenizer

/// Counts and the finish reason of one completion.
struct CompletionSummary {
    var finishReason: String
    var promptTokens: Int
    var completionTokens: Int
    var cachedTokens: Int
    var reasoningTokens: Int
    /// The `stop` string that ended the answer, if one did.
    var matchedStopString: String?
    /// Tool calls closed by `</tool_call>` (the calls of the answer).
    var completedToolCalls: Int
    /// The index of a call whose start was streamed but which the end of the output cut off: not a call (the
    /// non-streaming answer leaves it out, see `ChatCompletionRun.completeCalls`).
    var cutOffToolCall: Int?

    /// Whether at least one tool call was returned.
    var calledTools: Bool { completedToolCalls > 0 }
}

/// Runs one chat completion on the scheduler and turns its tokens into deltas, for streaming and
/// non-streaming answers alike (so both always agree).
final class ChatCompletionRun {
    private let model: ServedModel
    private let job: GenerationJob
    private var pipeline: CompletionTextPipeline
    private let parallelToolCalls: Bool
    private let forcesToolCall: Bool

    private var droppingExtraToolCalls = false
    private var completionTokens = 0
    private var reasoningTokens = 0
    private var lastTokenWasReasoning = false
    /// `<think>`, `</think>`, `<tool_call>` when the answer may open with reasoning (for sorting logprobs).
    private let reasoningMarkers: (open: Int?, close: Int?, toolCall: Int?)?
    private var logprobPhase = LogprobPhase.start
    private var pendingLogprobs: (content: [TokenLogprob], reasoning: [TokenLogprob]) = ([], [])
    private enum LogprobPhase { case start, reasoning, answer }

    /// The log-probabilities of the tokens consumed since the last call: the answer's tokens, and the
    /// reasoning's (every token from `<think>` through `</think>`) apart.
    func takeLogprobs() -> (content: [TokenLogprob], reasoning: [TokenLogprob]) {
        defer { pendingLogprobs = ([], []) }
        return pendingLogprobs
    }

    private func sortLogprobs() {
        for entry in job.takeLogprobs() {
            guard let markers = reasoningMarkers else { pendingLogprobs.content.append(entry); continue }
            switch logprobPhase {
            case .start:
                if entry.token == markers.open { logprobPhase = .reasoning }
                else if model.tokenizer.decode([entry.token]).allSatisfy(\.isNewline) {} else { logprobPhase = .answer }
            case .reasoning, .answer: break
            }
            if logprobPhase == .reasoning && entry.token == markers.toolCall { logprobPhase = .answer }
            if logprobPhase == .reasoning {
                pendingLogprobs.reasoning.append(entry)
                if entry.token == markers.close { logprobPhase = .answer }
            } else {
                pendingLogprobs.content.append(entry)
            }
        }
    }

    /// How often the consumer wakes to check its client while waiting for tokens.
    static let pollInterval: TimeInterval = 0.05

    /// Prompt tokens reused from a cached prefix (known once the job has reached a slot).
    var cachedPromptTokens: Int { job.cachedPromptTokens }
    var promptTokenCount: Int { job.promptTokens.count }

    convenience init(model: ServedModel, options: ChatCompletionOptions, prompt: ChatPrompt, promptTokens: [Int]) throws {
        try self.init(model: model, options: options, promptTokens: promptTokens, tools: prompt.tools,
                      parseReasoning: prompt.outputMayStartWithReasoning)
    }

    /// The grammars of the answer: the `response_format` document (after the reasoning when the answer may open
    /// with `<think>`) and the arguments of constrained tool calls (strict tools; every tool when a call is
    /// forced). nil when neither applies.
    static func answerConstraint(_ options: ChatCompletionOptions, tools: JSONValue?, model: ServedModel,
                                 afterReasoning: Bool) throws -> AnswerConstraint? {
        let compiler = model.structuredOutput
        let masker = try compiler.masker(for: options.responseFormat)
        var callMasker: GrammarTokenMasker?
        if let list = tools?.array, !list.isEmpty {
            callMasker = try compiler.toolCallMasker(tools: list, forced: options.forcedToolCall != nil)
        }
        guard masker != nil || callMasker != nil else { return nil }
        let tokenizer = model.tokenizer
        var constraint = AnswerConstraint(masker: masker, vocabularyBytes: compiler.vocabularyBytes)
        constraint.toolCallOpen = tokenizer.id(forToken: "<tool_call>")
        constraint.allowsToolCalls = options.offersTools && tools != nil && constraint.toolCallOpen != nil
        if let callMasker {
            constraint.toolCallMasker = callMasker
            constraint.toolCallBytes = compiler.toolCallTrie().bytes
        }
        if afterReasoning, let open = tokenizer.id(forToken: "<think>"), let close = tokenizer.id(forToken: "</think>") {
            let leading = ["\n", "\n\n"].map { tokenizer.encode($0) }.filter { $0.count == 1 }.map { $0[0] }
            constraint.reasoning = (open, close, Set(leading))
        }
        return constraint
    }

    /// The forced call of `tool_choice` (placed after the reasoning when the answer may open with `<think>`).
    static func forcedToolCall(_ text: String?, tokenizer: Tokenizer, afterReasoning: Bool) -> ForcedToolCall? {
        guard let text else { return nil }
        let tokens = tokenizer.encode(text)
        guard !tokens.isEmpty else { return nil }
        guard afterReasoning, let open = tokenizer.id(forToken: "<think>"), let close = tokenizer.id(forToken: "</think>"),
              let callOpen = tokenizer.id(forToken: "<tool_call>") else {
            return ForcedToolCall(tokens: tokens)
        }
        let leading = ["\n", "\n\n"].map { tokenizer.encode($0) }.filter { $0.count == 1 }.map { $0[0] }
        return ForcedToolCall(tokens: tokens, reasoning: .init(open: open, close: close, toolCallOpen: callOpen,
                                                               leading: Set(leading)))
    }

    /// - Parameters:
    ///   - tools: the rendered tools (tool calls are parsed only when given).
    ///   - parseReasoning: whether the answer may open with `<think>`.
    ///   - rawText: pass the text through unparsed and untrimmed (`/v1/completions`).
    init(model: ServedModel, options: ChatCompletionOptions, promptTokens: [Int], tools: JSONValue?,
         parseReasoning: Bool, rawText: Bool = false) throws {
        self.model = model
        let room = model.contextSize - promptTokens.count
        let constraint = try ChatCompletionRun.answerConstraint(options, tools: rawText ? nil : tools, model: model,
                                                                afterReasoning: parseReasoning && !rawText)
        job = GenerationJob(promptTokens: promptTokens, sampling: options.sampling,
                            maxNewTokens: min(options.maxTokens ?? room, room), stopTokenIDs: model.stopTokenIDs,
                            forcedToolCall: rawText ? nil : ChatCompletionRun.forcedToolCall(
                                options.forcedToolCall, tokenizer: model.tokenizer, afterReasoning: parseReasoning),
                            constraint: constraint, logprobs: options.logprobs, user: options.user)
        reasoningMarkers = parseReasoning && !rawText
            ? (model.tokenizer.id(forToken: "<think>"), model.tokenizer.id(forToken: "</think>"),
               model.tokenizer.id(forToken: "<tool_call>"))
            : nil
        pipeline = CompletionTextPipeline(tokenizer: model.tokenizer, stopStrings: options.stop, tools: tools,
                                          parseReasoning: parseReasoning, rawText: rawText)
        parallelToolCalls = options.parallelToolCalls
        forcesToolCall = options.forcedToolCall != nil && !rawText
    }

    /// Queues the generation; throws a 503 `APIError` when the queue is full or the server is stopping.
    func start() throws {
        do {
            try model.scheduler.submit(job)
        } catch GenerationScheduler.SubmitError.queueFull {
            throw APIError(status: 503, message: "The server is busy: the request queue is full. Retry later.",
                           code: "queue_full")
        } catch let GenerationScheduler.SubmitError.memoryShort(needed, available) {
            throw APIError(status: 503, message: "Not enough memory for this request's KV cache now ("
                + "\(ByteCountText.text(needed)) needed, \(ByteCountText.text(available)) available). Retry later, "
                + "or send a shorter prompt or max_tokens.", code: "kv_memory_exhausted")
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
                if job.logprobs != nil { sortLogprobs() }
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

        let tail = filter(pipeline.finish())
        if !tail.isEmpty && !deliver(tail) { return nil }

        // With parallel_tool_calls false only the first call counts (later ones were dropped).
        let callLimit = parallelToolCalls ? Int.max : 1
        let completed = min(pipeline.completedToolCalls, callLimit)
        let cutOff = pipeline.cutOffToolCallIndex.flatMap { $0 < callLimit ? $0 : nil }
        let cutByLength = finishCause == .length && !pipeline.hitStopString
        let reason = ChatCompletionRun.finishReason(completedCalls: completed, cutOffCall: cutOff != nil,
                                                    cutByLength: cutByLength)
        if forcesToolCall && completed == 0 && !cutByLength && !pipeline.hitStopString {
            throw APIError(status: 500, message: "tool_choice asked for a tool call, but the model's output did not "
                + "contain a complete one (no call was returned).", code: "tool_call_not_produced")
        }
        return CompletionSummary(finishReason: reason, promptTokens: job.promptTokens.count,
                                 completionTokens: completionTokens, cachedTokens: job.cachedPromptTokens,
                                 reasoningTokens: reasoningTokens, matchedStopString: pipeline.matchedStopString,
                                 completedToolCalls: completed, cutOffToolCall: cutOff)
    }

    /// protocol.md §7.6: `tool_calls` whenever a call was completely parsed — unless `max_tokens` cut off a call
    /// that had begun (its start was streamed), which is `length`; otherwise `length` when `max_tokens` (or the
    /// context) ended the output, else `stop`.
    static func finishReason(completedCalls: Int, cutOffCall: Bool, cutByLength: Bool) -> String {
        if completedCalls > 0 && !(cutByLength && cutOffCall) { return "tool_calls" }
        return cutByLength ? "length" : "stop"
    }

    /// The deltas of a whole (non-streaming) answer without the cut-off call: only completed calls are calls.
    static func completeCalls(_ deltas: [OutputDelta], summary: CompletionSummary) -> [OutputDelta] {
        guard let cut = summary.cutOffToolCall else { return deltas }
        return deltas.filter {
            switch $0 {
            case let .toolCallStart(index, _, _), let .toolCallArguments(index, _): return index != cut
            case .reasoning, .content: return true
            }
        }
    }

    /// Drops calls after the first when `parallel_tool_calls` is false (and stops generation there).
    private func filter(_ deltas: [OutputDelta]) -> [OutputDelta] {
        var kept: [OutputDelta] = []
        for delta in deltas {
            switch delta {
            case let .toolCallStart(index, _, _):
                if !parallelToolCalls && index >= 1 { droppingExtraToolCalls = true }
                if droppingExtraToolCalls { continue }
                kept.append(delta)
            case let .toolCallArguments(index, _):
                if !parallelToolCalls && index >= 1 { continue }
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
