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

    private let condition = NSCondition()
    private var events: [GenerationEvent] = []
    private var cancelled = false
    private var reusedPrefix = 0

    public init(promptTokens: [Int], sampling: SamplingParameters, maxNewTokens: Int, stopTokenIDs: Set<Int>,
                forcedToolCall: ForcedToolCall? = nil) {
        self.forcedToolCall = forcedToolCall
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

    func emit(_ event: GenerationEvent) {
        condition.lock()
        events.append(event)
        condition.broadcast()
        condition.unlock()
    }
}
