import Foundation

/// Why generation ended.
public enum FinishCause: Sendable, Hashable {
    /// The model produced a stop token.
    case stopToken
    /// `max_tokens` reached, or the context is full.
    case length
    /// The consumer asked to stop (stop string, client gone, shutdown).
    case cancelled
}

/// What a job produces, in order.
public enum GenerationEvent: Sendable {
    case token(Int)
    case finished(FinishCause)
    case failed(String)
}

/// One request's generation: the input, and a channel from the worker thread to the request's thread.
public final class GenerationJob: @unchecked Sendable {
    public let promptTokens: [Int]
    public let sampling: SamplingParameters
    /// Upper bound on generated tokens (the worker also stops when the context is full).
    public let maxNewTokens: Int
    public let stopTokenIDs: Set<Int>
    /// A tool call the answer must contain (`tool_choice` `"required"` or named), placed by `ToolCallForcer`;
    /// its tokens are emitted as generated tokens.
    public let forcedToolCall: ForcedToolCall?
    /// The grammar the answer must follow (`response_format`), if any.
    public let constraint: AnswerConstraint?
    /// Log-probabilities wanted: nil for none, else the number of alternatives per token (0…20).
    public let logprobs: Int?
    /// The client's `user`/`user_id`, for the log line.
    public let user: String?

    private let condition = NSCondition()
    private var events: [GenerationEvent] = []
    private var logprobEntries: [TokenLogprob] = []
    private var cancelled = false
    private var reusedPrefix = 0

    public init(promptTokens: [Int], sampling: SamplingParameters, maxNewTokens: Int, stopTokenIDs: Set<Int>,
                forcedToolCall: ForcedToolCall? = nil, constraint: AnswerConstraint? = nil, logprobs: Int? = nil,
                user: String? = nil) {
        self.forcedToolCall = forcedToolCall
        self.constraint = constraint
        self.logprobs = logprobs
        self.user = user
        self.promptTokens = promptTokens
        self.sampling = sampling
        self.maxNewTokens = maxNewTokens
        self.stopTokenIDs = stopTokenIDs
    }

    // MARK: consumer side

    /// Asks the worker to stop at its next check (between tokens or prefill chunks).
    public func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }

    /// The next event, or nil if none arrived within `timeout` (so the caller can check its client).
    public func nextEvent(timeout: TimeInterval) -> GenerationEvent? {
        condition.lock(); defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(timeout)
        while events.isEmpty {
            if !condition.wait(until: deadline) { break }
        }
        return events.isEmpty ? nil : events.removeFirst()
    }

    /// The log-probabilities of the tokens delivered so far and not yet taken (in order; with `logprobs` only).
    public func takeLogprobs() -> [TokenLogprob] {
        condition.lock(); defer { condition.unlock() }
        defer { logprobEntries.removeAll() }
        return logprobEntries
    }

    /// Prompt tokens whose KV entries were reused from the previous request.
    public var cachedPromptTokens: Int {
        condition.lock(); defer { condition.unlock() }
        return reusedPrefix
    }

    // MARK: worker side

    var isCancelled: Bool {
        condition.lock(); defer { condition.unlock() }
        return cancelled
    }

    func setCachedPromptTokens(_ count: Int) {
        condition.lock(); reusedPrefix = count; condition.unlock()
    }

    func emit(_ event: GenerationEvent, logprob: TokenLogprob? = nil) {
        condition.lock()
        if let logprob { logprobEntries.append(logprob) }
        events.append(event)
        condition.broadcast()
        condition.unlock()
    }
}

/// A chosen token's log-probability under the model (log-softmax of its raw logits) and the most likely
/// alternatives, most likely first.
public struct TokenLogprob: Sendable, Equatable {
    public var token: Int
    public var logprob: Float
    public var top: [(token: Int, logprob: Float)]

    public static func == (a: TokenLogprob, b: TokenLogprob) -> Bool {
        a.token == b.token && a.logprob == b.logprob && a.top.map(\.token) == b.top.map(\.token)
            && a.top.map(\.logprob) == b.top.map(\.logprob)
    }

    /// Log-softmax of `logits` at `token`, with the `count` most likely tokens (ties: lower id first).
    public init(token: Int, logits: [Float], count: Int) {
        self.token = token
        var maximum = -Float.infinity
        for v in logits where v > maximum { maximum = v }
        var sum = 0.0
        for v in logits { sum += exp(Double(v - maximum)) }
        let logSum = Float(log(sum)) + maximum
        logprob = logits.indices.contains(token) ? logits[token] - logSum : -.infinity
        // The `count` largest, by insertion into a small sorted list.
        var best: [(token: Int, logprob: Float)] = []
        if count > 0 {
            for (id, v) in logits.enumerated() {
                if best.count == count, let last = best.last, v <= last.logprob { continue }
                let position = best.firstIndex { v > $0.logprob } ?? best.count
                best.insert((id, v), at: position)
                if best.count > count { best.removeLast() }
            }
        }
        top = best.map { ($0.token, $0.logprob - logSum) }
    }
}
