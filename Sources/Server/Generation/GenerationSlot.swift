import Foundation

/// One KV cache and the tokens it holds.
final class Slot {
    var session: InferenceSession?
    var tokens: [Int] = []
    var lastUsed = 0
    /// Prefix cache: keys of the whole blocks of `tokens` computed so far, and how many of those blocks were
    /// handed to the cache (both shrink with `tokens`).
    var blockKeys: [BlockKey] = []
    var publishedBlocks = 0
    let blockTokens: Int
    /// Most positions the session has held (their memory stays committed); read by `submit` on other threads.
    var highWater: Int {
        mark.lock(); defer { mark.unlock() }
        return highWaterValue
    }
    private var highWaterValue = 0
    private let mark = NSLock()

    func noteHighWater() {
        let count = session?.count ?? 0
        mark.lock(); highWaterValue = max(highWaterValue, count); mark.unlock()
    }

    init(blockTokens: Int = 256) { self.blockTokens = max(1, blockTokens) }

    func commonPrefix(with prompt: [Int]) -> Int {
        var n = 0
        let limit = min(tokens.count, prompt.count)
        while n < limit && tokens[n] == prompt[n] { n += 1 }
        return n
    }

    /// Keeps the first `count` tokens (and the block keys that only cover them).
    func truncateTokens(to count: Int) {
        tokens.removeLast(max(0, tokens.count - count))
        let blocks = min(blockKeys.count, tokens.count / blockTokens)
        blockKeys.removeLast(blockKeys.count - blocks)
        publishedBlocks = min(publishedBlocks, blocks)
    }

    func reset() {
        session = nil
        tokens = []
        blockKeys = []
        publishedBlocks = 0
    }
}

/// A job in a slot: where its prefill is, its logits and its sampler.
final class ActiveGeneration {
    let job: GenerationJob
    let slot: Slot
    var position = 0
    var logits: [Float] = []
    var sampler: Sampler
    var forcer: ToolCallForcer
    /// Where the answer is in its `response_format` grammar.
    var constraintState: AnswerConstraintState?
    /// The next token when a rejected draft's verification already chose it (speculative decoding).
    var pendingToken: Int?
    var stats = GenerationStatistics()
    var isDone = false

    init(job: GenerationJob, slot: Slot) {
        self.job = job
        self.slot = slot
        self.sampler = Sampler(parameters: job.sampling)
        self.forcer = ToolCallForcer(job.forcedToolCall)
        self.constraintState = job.constraint.map(AnswerConstraintState.init)
    }

    /// The sampler's choice from the current logits, with the tokens the answer's grammar forbids masked out.
    func sampleNext() -> Int {
        guard var state = constraintState else { return sampler.sample(logits) }
        var masked = logits
        state.mask(&masked, stopTokens: job.stopTokenIDs)
        constraintState = state
        return sampler.sample(masked)
    }
}

/// Counts and timings of one generation, for the log.
struct GenerationStatistics {
    var promptTokens = 0
    var cachedTokens = 0
    var prefillSeconds = 0.0
    var generatedTokens = 0
    var decodeSeconds = 0.0
    var draftedTokens = 0
    var acceptedDrafts = 0
    /// The request's `user`, when it sent one.
    var user: String?

    func summary(_ cause: FinishCause) -> String {
        let computed = promptTokens - cachedTokens
        let prefillRate = prefillSeconds > 0 ? Double(computed) / prefillSeconds : 0
        let decodeRate = decodeSeconds > 0 ? Double(generatedTokens) / decodeSeconds : 0
        let line = String(format: "generation %@: prompt %d tokens (%d cached), prefill %.1f tok/s; completion %d tokens, %.1f tok/s",
                          "\(cause)", promptTokens, cachedTokens, prefillRate, generatedTokens, decodeRate)
        let userPart = user.map { "; user \(String(reflecting: $0))" } ?? ""
        guard draftedTokens > 0 else { return line + userPart }
        return line + String(format: "; drafts %d, accepted %d (%.0f%%)", draftedTokens, acceptedDrafts,
                             100 * Double(acceptedDrafts) / Double(draftedTokens)) + userPart
    }
}
