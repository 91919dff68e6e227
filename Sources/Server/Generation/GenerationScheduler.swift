import Foundation

/// Runs generations on a single worker thread that owns the model (the engine is not reentrant).
///
/// - Up to `parallel` generations are active at once, each in its own slot with its own KV cache; the worker
///   interleaves them one step at a time (a prefill chunk or one token), so a long answer does not hold up
///   the others. The single-token decode steps of all plain (non-speculative) generations in a round run as
///   one batched model call (`LanguageModel.appendEach`), which streams the weights once for all of them.
///   With `parallel` 1 requests run strictly one after another.
/// - Further jobs wait in a bounded FIFO queue (`maxQueue`); beyond it `submit` refuses with `queueFull`.
/// - A slot keeps its cache after a job ends. A new job takes the free slot whose cached tokens share the longest
///   prefix with its prompt, truncates the cache there and computes only the rest (`cachedPromptTokens`).
///   With a `PrefixCache`, the slot's prefix is extended by the longest chain of cached blocks of the prompt from
///   any earlier sequence, and every slot publishes its completed blocks after each round.
/// - Cancellation (`GenerationJob.cancel`, or `stop()`) is checked before every step.
public final class GenerationScheduler: @unchecked Sendable {
    public enum SubmitError: Error {
        case queueFull, shuttingDown
        /// The job's KV cache could not grow without exceeding the memory available (even after emptying the
        /// prefix cache's RAM tier): answered 503 with `Retry-After`, never an out-of-memory kill.
        case memoryShort(neededBytes: Int, availableBytes: Int)
    }

    private let model: LanguageModel
    private let contextSize: Int
    private let maxQueue: Int
    private let prefillChunk: Int
    private let log: @Sendable (String) -> Void
    /// KV blocks shared by all slots (nil: each slot only reuses its own last sequence).
    private let prefixCache: PrefixCache?
    /// The run-time memory guard: KV bytes per position (0: no guard), and how much memory is available.
    private let memory: KVMemoryGuard
    private let condition = NSCondition()
    private var queue: [GenerationJob] = []
    private var activeCount = 0
    private var stopping = false
    private var finishCounts: [FinishCause: Int] = [:]
    private var totals = SchedulerTotals()
    private var worker: Thread?
    private let finished = DispatchSemaphore(value: 0)

    // Owned by the worker thread.
    private let slots: [Slot]
    private var active: [ActiveGeneration] = []
    private var useClock = 0

    /// - Parameters:
    ///   - contextSize: tokens per sequence (prompt + generated).
    ///   - parallel: generations interleaved at once (each slot holds one KV cache).
    ///   - maxQueue: jobs that may wait while the slots are busy.
    ///   - prefillChunk: prompt tokens computed per step, between which cancellation is checked.
    ///   - log: receives one line per finished generation (token counts, cause, speed).
    ///   - prefixCache: blocks of earlier sequences any job may start from (see `PrefixCache`).
    public init(model: LanguageModel, contextSize: Int, parallel: Int = 1, maxQueue: Int, prefillChunk: Int = 256,
                prefixCache: PrefixCache? = nil, memory: KVMemoryGuard = KVMemoryGuard(),
                log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.model = model
        self.contextSize = contextSize
        self.prefixCache = prefixCache
        self.memory = memory
        self.slots = (0..<max(1, parallel)).map { _ in Slot(blockTokens: prefixCache?.blockTokens ?? 256) }
        self.maxQueue = max(0, maxQueue)
        self.prefillChunk = max(1, prefillChunk)
        self.log = log
    }

    public func start() {
        let thread = Thread { [self] in workerLoop() }
        thread.name = "glmserve-generation"
        thread.stackSize = 8 << 20
        worker = thread
        thread.start()
    }

    /// Queues `job`; its events then arrive through `job.nextEvent`.
    public func submit(_ job: GenerationJob) throws {
        condition.lock(); defer { condition.unlock() }
        if stopping { throw SubmitError.shuttingDown }
        if queue.count + activeCount >= slots.count + maxQueue { throw SubmitError.queueFull }
        try memory.check(growthBytes(for: job), evictable: prefixCache?.statistics.ramBytes ?? 0)
        queue.append(job)
        condition.broadcast()
    }

    /// Cancels `job`; if it is still waiting it leaves the queue at once (freeing its place).
    public func cancel(_ job: GenerationJob) {
        job.cancel()
        condition.lock()
        let index = queue.firstIndex { $0 === job }
        if let index {
            queue.remove(at: index)
            finishCounts[.cancelled, default: 0] += 1
        }
        condition.unlock()
        if index != nil { job.emit(.finished(.cancelled)) }
    }

    /// Jobs waiting for a slot.
    public var waitingJobs: Int {
        condition.lock(); defer { condition.unlock() }
        return queue.count
    }

    /// How many jobs ended with each cause so far (for tests and logs).
    public func finishedJobs(_ cause: FinishCause) -> Int {
        condition.lock(); defer { condition.unlock() }
        return finishCounts[cause, default: 0]
    }

    /// Counters since start, for `/metrics`.
    public var metrics: SchedulerMetrics {
        condition.lock(); defer { condition.unlock() }
        return SchedulerMetrics(waiting: queue.count, active: activeCount, slots: slots.count, totals: totals,
                                finished: finishCounts, cache: prefixCache?.statistics)
    }

    /// Cancels waiting and active jobs and waits for the worker to end.
    public func stop() {
        condition.lock()
        stopping = true
        let waiting = queue
        queue.removeAll()
        condition.broadcast()
        condition.unlock()
        for job in waiting {
            job.cancel()
            job.emit(.finished(.cancelled))
        }
        if worker != nil { finished.wait() }
        worker = nil
    }

    private var isStopping: Bool {
        condition.lock(); defer { condition.unlock() }
        return stopping
    }

    // MARK: worker

    private func workerLoop() {
        while admitJobs() {
            // One round: every active generation advances by one step. Plain decode steps (one token into a
            // non-speculative session) are collected and run together in one `appendEach` call.
            var decodes: [(generation: ActiveGeneration, step: DecodeStep)] = []
            for generation in active {
                switch Result(catching: { try step(generation) }) {
                case .success(.running):
                    continue
                case let .success(.decode(decodeStep)):
                    decodes.append((generation, decodeStep))
                case let .success(.finished(cause)):
                    end(generation, .finished(cause), cause: cause)
                case let .failure(error):
                    fail(generation, error)
                }
            }
            if !decodes.isEmpty { decode(decodes) }
            for generation in active {
                prefixCache?.publish(from: generation.slot)
                generation.slot.noteHighWater()
            }
            active.removeAll { $0.isDone }
        }
        for generation in active { end(generation, .finished(.cancelled), cause: .cancelled) }
        active.removeAll()
        prefixCache?.close()
        finished.signal()
    }

    /// Appends each generation's chosen token to its cache, all in one model call, and keeps the logits.
    private func decode(_ decodes: [(generation: ActiveGeneration, step: DecodeStep)]) {
        let started = Date()
        let results = model.appendEach(decodes.map(\.step))
        let seconds = Date().timeIntervalSince(started)
        for ((generation, step), result) in zip(decodes, results) {
            generation.stats.decodeSeconds += seconds
            switch result {
            case let .success(logits):
                generation.logits = logits
                generation.slot.tokens.append(step.token)
            case let .failure(error):
                fail(generation, error)
            }
        }
    }

    /// Ends `generation` with `error`; its cache may hold a partial step, so the slot starts clean next time.
    private func fail(_ generation: ActiveGeneration, _ error: Error) {
        generation.slot.reset()
        log("generation failed: \(error)")
        end(generation, .failed("generation failed: \(error)"), cause: nil)
    }

    /// Moves queued jobs into free slots, waiting while there is nothing to do; false once stopping.
    private func admitJobs() -> Bool {
        condition.lock()
        while queue.isEmpty && active.isEmpty && !stopping { condition.wait() }
        if stopping { condition.unlock(); return false }
        var admitted: [GenerationJob] = []
        while !queue.isEmpty && active.count + admitted.count < slots.count {
            admitted.append(queue.removeFirst())
        }
        activeCount += admitted.count
        condition.unlock()

        for job in admitted {
            if job.isCancelled {
                finish(job, .finished(.cancelled), cause: .cancelled)
                log("generation cancelled before it started")
                continue
            }
            let generation = ActiveGeneration(job: job, slot: chooseSlot(for: job.promptTokens))
            do {
                if let prefixCache { memory.makeRoom(for: growthBytes(for: job, in: generation.slot), in: prefixCache) }
                try prepare(generation)
                active.append(generation)
            } catch {
                generation.slot.reset()
                log("generation failed: \(error)")
                finish(job, .failed("generation failed: \(error)"), cause: nil)
            }
        }
        return true
    }

    /// Bytes of KV memory `job` may newly commit: positions beyond the high-water mark of the slot it gets (the
    /// lowest mark of all slots when that is not known yet). A cache's pages, once written, stay committed.
    private func growthBytes(for job: GenerationJob, in slot: Slot? = nil) -> Int {
        let positions = min(contextSize, job.promptTokens.count + job.maxNewTokens)
        let mark = slot?.highWater ?? slots.map(\.highWater).min() ?? 0
        return max(0, positions - mark) * memory.bytesPerPosition
    }

    /// The free slot whose cache shares the longest prefix with `prompt` (the least recently used among equals).
    private func chooseSlot(for prompt: [Int]) -> Slot {
        let busy = Set(active.map { ObjectIdentifier($0.slot) })
        let free = slots.filter { !busy.contains(ObjectIdentifier($0)) }
        useClock += 1
        let chosen = free.max { a, b in
            let (pa, pb) = (a.commonPrefix(with: prompt), b.commonPrefix(with: prompt))
            return pa != pb ? pa < pb : a.lastUsed > b.lastUsed
        } ?? slots[0]
        chosen.lastUsed = useClock
        return chosen
    }

    /// Reuses the slot's cached prefix (at least one prompt token is recomputed to get fresh logits).
    private func prepare(_ generation: ActiveGeneration) throws {
        let slot = generation.slot
        let prompt = generation.job.promptTokens
        if slot.session == nil {
            slot.session = try model.makeSession(capacity: contextSize)
            slot.tokens = []
        }
        let started = Date()
        var held = min(slot.commonPrefix(with: prompt), slot.session?.count ?? 0)
        if let prefixCache { held = try prefixCache.reuse(in: slot, prompt: prompt, common: held) }
        let common = min(held, max(0, prompt.count - 1))
        slot.session?.truncate(to: common)
        slot.truncateTokens(to: common)
        generation.stats.prefillSeconds += Date().timeIntervalSince(started)
        generation.position = common
        generation.job.setCachedPromptTokens(common)
        generation.stats.promptTokens = prompt.count
        generation.stats.user = generation.job.user
        generation.stats.cachedTokens = common
    }

    /// What one step of a generation leaves to do.
    private enum StepOutcome {
        /// The step is complete.
        case running
        /// A token was emitted and must still be appended to the session (batched with other generations').
        case decode(DecodeStep)
        case finished(FinishCause)
    }

    /// Advances `generation` by one prefill chunk or one token (a plain decode token's forward is left to the
    /// caller).
    private func step(_ generation: ActiveGeneration) throws -> StepOutcome {
        let job = generation.job
        if job.isCancelled || isStopping { return .finished(.cancelled) }
        guard let session = generation.slot.session, !job.promptTokens.isEmpty,
              job.promptTokens.count < session.capacity else { return .finished(.length) }
        let prompt = job.promptTokens
        let started = Date()

        if generation.position < prompt.count {
            let end = min(prompt.count, generation.position + prefillChunk)
            let chunk = Array(prompt[generation.position..<end])
            generation.logits = try session.append(chunk)
            generation.slot.tokens.append(contentsOf: chunk)
            generation.position = end
            generation.stats.prefillSeconds += Date().timeIntervalSince(started)
            return .running
        }

        defer { generation.stats.decodeSeconds += Date().timeIntervalSince(started) }
        let token: Int, forced: Bool
        if let pending = generation.pendingToken {     // chosen by the previous step's draft verification
            (token, forced) = (pending, false)
            generation.pendingToken = nil
        } else {
            (token, forced) = generation.forcer.next(sample: { generation.sampleNext() },
                                                     isStop: { job.stopTokenIDs.contains($0) })
        }
        if let cause = emit(token, forced: forced, generation) { return .finished(cause) }
        if session.count >= session.capacity { return .finished(.length) }
        // Constrained answers and logprobs need the logits of every token: no drafts for them.
        if let drafting = session as? SpeculativeInferenceSession, generation.forcer.isSettled,
           job.constraint == nil, job.logprobs == nil, session.count + 2 <= session.capacity {
            return try speculate(after: token, drafting, generation).map(StepOutcome.finished) ?? .running
        }
        return .decode(DecodeStep(session: session, token: token))
    }

    /// Emits a chosen token unless it is a stop token; returns the cause when the generation ends with it.
    private func emit(_ token: Int, forced: Bool, _ generation: ActiveGeneration) -> FinishCause? {
        let job = generation.job
        if !forced && job.stopTokenIDs.contains(token) { return .stopToken }
        generation.sampler.accept(token)
        generation.constraintState?.advance(token)
        job.emit(.token(token), logprob: job.logprobs.map { TokenLogprob(token: token, logits: generation.logits, count: $0) })
        generation.stats.generatedTokens += 1
        return generation.stats.generatedTokens >= job.maxNewTokens ? .length : nil
    }

    /// One speculative step after `token` (already emitted): the session drafts the next token and verifies it
    /// with `token` in one forward; the sampler accepts the draft with its probability under the request's
    /// sampling, or picks a replacement (kept for the next step). An accepted draft is emitted like a sampled
    /// token, and the logits after it are the next step's. Runs only while the tool-call forcer is settled, so
    /// every token here is one the sampler chose, as in plain decoding.
    private func speculate(after token: Int, _ session: SpeculativeInferenceSession,
                           _ generation: ActiveGeneration) throws -> FinishCause? {
        let proposal = try session.speculate(after: token)
        let judged = generation.sampler.judgeDraft(proposal.draft, logits: proposal.logitsAfterToken)
        session.resolveDraft(accepted: judged.accepted)
        generation.slot.tokens.append(token)
        generation.stats.draftedTokens += 1
        guard judged.accepted else {
            generation.pendingToken = judged.token
            return nil
        }
        generation.stats.acceptedDrafts += 1
        generation.slot.tokens.append(proposal.draft)
        if let cause = emit(proposal.draft, forced: false, generation) { return cause }
        generation.logits = proposal.logitsAfterDraft
        return nil
    }

    private func end(_ generation: ActiveGeneration, _ event: GenerationEvent, cause: FinishCause?) {
        guard !generation.isDone else { return }
        generation.isDone = true
        if let cause { log(generation.stats.summary(cause)) }
        condition.lock()
        totals.promptTokens += generation.stats.promptTokens
        totals.cachedPromptTokens += generation.stats.cachedTokens
        totals.completionTokens += generation.stats.generatedTokens
        totals.prefillSeconds += generation.stats.prefillSeconds
        totals.decodeSeconds += generation.stats.decodeSeconds
        totals.draftedTokens += generation.stats.draftedTokens
        totals.acceptedDrafts += generation.stats.acceptedDrafts
        condition.unlock()
        finish(generation.job, event, cause: cause)
    }

    private func finish(_ job: GenerationJob, _ event: GenerationEvent, cause: FinishCause?) {
        condition.lock()
        activeCount -= 1
        if let cause { finishCounts[cause, default: 0] += 1 }
        condition.unlock()
        job.emit(event)
    }
}

/// Token and time totals over all finished generations.
public struct SchedulerTotals: Sendable {
    public var promptTokens = 0
    public var cachedPromptTokens = 0
    public var completionTokens = 0
    public var prefillSeconds = 0.0
    public var decodeSeconds = 0.0
    /// Speculative decoding: tokens drafted, and drafts the main model's sampling accepted.
    public var draftedTokens = 0
    public var acceptedDrafts = 0
}

/// A snapshot of the scheduler's state and counters.
public struct SchedulerMetrics: Sendable {
    public var waiting: Int
    public var active: Int
    public var slots: Int
    public var totals: SchedulerTotals
    public var finished: [FinishCause: Int]
    /// The prefix cache's counters (nil without one).
    public var cache: PrefixCacheStatistics?

    /// Prometheus text exposition format.
    public var prometheusText: String {
        var lines: [String] = []
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, String)]) {
            lines.append("# HELP glmserve_\(name) \(help)")
            lines.append("# TYPE glmserve_\(name) \(type)")
            for (labels, value) in samples { lines.append("glmserve_\(name)\(labels) \(value)") }
        }
        metric("requests_waiting", "gauge", "Generations waiting for a slot.", [("", "\(waiting)")])
        metric("requests_active", "gauge", "Generations running.", [("", "\(active)")])
        metric("slots", "gauge", "Generations that can run at once (--parallel).", [("", "\(slots)")])
        metric("prompt_tokens_total", "counter", "Prompt tokens of finished generations.",
               [("", "\(totals.promptTokens)")])
        metric("cached_prompt_tokens_total", "counter", "Prompt tokens reused from the KV cache.",
               [("", "\(totals.cachedPromptTokens)")])
        metric("completion_tokens_total", "counter", "Generated tokens.", [("", "\(totals.completionTokens)")])
        metric("prefill_seconds_total", "counter", "Time spent computing prompts.",
               [("", String(format: "%.6f", totals.prefillSeconds))])
        metric("decode_seconds_total", "counter", "Time spent generating tokens.",
               [("", String(format: "%.6f", totals.decodeSeconds))])
        metric("draft_tokens_total", "counter", "Tokens drafted by speculative decoding (--speculative).",
               [("", "\(totals.draftedTokens)")])
        metric("draft_tokens_accepted_total", "counter", "Drafted tokens accepted.",
               [("", "\(totals.acceptedDrafts)")])
        let causes: [(FinishCause, String)] = [(.stopToken, "stop"), (.length, "length"), (.cancelled, "cancelled")]
        metric("generations_total", "counter", "Finished generations by how they ended.",
               causes.map { ("{finish=\"\($0.1)\"}", "\(finished[$0.0, default: 0])") })
        if let cache {
            metric("prefix_cache_hits_total", "counter", "Prompt blocks reused from the prefix cache, by tier.",
                   [("{tier=\"ram\"}", "\(cache.hits)"), ("{tier=\"disk\"}", "\(cache.diskHits)")])
            metric("prefix_cache_misses_total", "counter", "Whole prompt blocks looked up and not found.",
                   [("", "\(cache.misses)")])
            metric("prefix_cache_evictions_total", "counter", "Blocks dropped, by tier (RAM: --cache-ram, disk: --cache-disk).",
                   [("{tier=\"ram\"}", "\(cache.evictions)"), ("{tier=\"disk\"}", "\(cache.diskEvictions)")])
            metric("prefix_cache_bytes", "gauge", "Bytes of KV blocks held, by tier.",
                   [("{tier=\"ram\"}", "\(cache.ramBytes)"), ("{tier=\"disk\"}", "\(cache.diskBytes)")])
            metric("prefix_cache_blocks", "gauge", "KV blocks held in RAM.", [("", "\(cache.ramBlocks)")])
            metric("prefix_cache_disk_writes_total", "counter", "Blocks written to --cache-dir, and writes dropped because the writer was behind.",
                   [("{result=\"written\"}", "\(cache.diskWrites)"), ("{result=\"dropped\"}", "\(cache.diskWritesDropped)")])
            metric("prefix_cache_files_discarded_total", "counter", "Cache files of this model found truncated or corrupt and deleted.",
                   [("", "\(cache.diskFilesDiscarded)")])
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
