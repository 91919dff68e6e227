import Foundation

/// Runs generations one at a time on a single worker thread that owns the model (the engine is not
/// reentrant). Jobs wait in a bounded FIFO queue. The KV cache of the previous job is kept; a new job
/// truncates it to the longest common prefix with its prompt and computes only the rest.
public final class GenerationScheduler: @unchecked Sendable {
    public enum SubmitError: Error { case queueFull, shuttingDown }

    private let model: LanguageModel
    private let contextSize: Int
    private let maxQueue: Int
    private let prefillChunk: Int
    private let log: @Sendable (String) -> Void
    private let condition = NSCondition()
    private var queue: [GenerationJob] = []
    private var stopping = false
    private var busy = false
    private var worker: Thread?
    private let finished = DispatchSemaphore(value: 0)

    // Owned by the worker thread.
    private var finishCounts: [FinishCause: Int] = [:]
    private var session: InferenceSession?
    private var sessionTokens: [Int] = []

    /// - Parameters:
    ///   - contextSize: tokens per sequence (prompt + generated).
    ///   - maxQueue: jobs that may wait while one runs; more are refused with `queueFull`.
    ///   - prefillChunk: prompt tokens computed per step, between which cancellation is checked.
    ///   - log: receives one line per finished generation (token counts, cause, speed).
    public init(model: LanguageModel, contextSize: Int, maxQueue: Int, prefillChunk: Int = 256,
                log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.log = log
        self.model = model
        self.contextSize = contextSize
        self.maxQueue = maxQueue
        self.prefillChunk = max(1, prefillChunk)
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
        if queue.count + (busy ? 1 : 0) > maxQueue { throw SubmitError.queueFull }
        queue.append(job)
        condition.broadcast()
    }

    /// Jobs waiting (not counting the running one).
    public var waitingJobs: Int {
        condition.lock(); defer { condition.unlock() }
        return queue.count
    }

    /// How many jobs ended with each cause so far (for tests and logs).
    public func finishedJobs(_ cause: FinishCause) -> Int {
        condition.lock(); defer { condition.unlock() }
        return finishCounts[cause, default: 0]
    }

    private func record(_ cause: FinishCause) {
        condition.lock(); finishCounts[cause, default: 0] += 1; condition.unlock()
    }

    /// Cancels waiting jobs, lets the running one see cancellation, and waits for the worker to end.
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

    private func workerLoop() {
        while let job = nextJob() {
            run(job)
            condition.lock(); busy = false; condition.unlock()
        }
        finished.signal()
    }

    private func nextJob() -> GenerationJob? {
        condition.lock(); defer { condition.unlock() }
        while queue.isEmpty && !stopping { condition.wait() }
        if stopping { return nil }
        busy = true
        return queue.removeFirst()
    }

    private func run(_ job: GenerationJob) {
        if job.isCancelled || isStopping {
            record(.cancelled)
            log("generation cancelled before it started")
            job.emit(.finished(.cancelled))
            return
        }
        var stats = GenerationStatistics()
        do {
            let cause = try generate(job, &stats)
            record(cause)
            log(stats.summary(cause))
            job.emit(.finished(cause))
        } catch {
            // The cache may hold a partial step; start clean next time.
            session = nil
            sessionTokens = []
            log("generation failed: \(error)")
            job.emit(.failed("generation failed: \(error)"))
        }
    }

    private var isStopping: Bool {
        condition.lock(); defer { condition.unlock() }
        return stopping
    }

    private func generate(_ job: GenerationJob, _ stats: inout GenerationStatistics) throws -> FinishCause {
        let prompt = job.promptTokens
        guard !prompt.isEmpty, prompt.count < contextSize else { return .length }

        // Reuse the cached prefix; at least one prompt token is recomputed to get fresh logits.
        if session == nil {
            session = try model.makeSession(capacity: contextSize)
            sessionTokens = []
        }
        guard let session else { return .length }
        var common = 0
        let limit = min(sessionTokens.count, prompt.count - 1, session.count)
        while common < limit && sessionTokens[common] == prompt[common] { common += 1 }
        session.truncate(to: common)
        sessionTokens.removeLast(sessionTokens.count - common)
        job.setCachedPromptTokens(common)
        stats.promptTokens = prompt.count
        stats.cachedTokens = common

        // Prefill in chunks, checking for cancellation between them.
        var logits: [Float] = []
        var position = common
        let prefillStart = Date()
        defer { stats.prefillSeconds = Date().timeIntervalSince(prefillStart) - stats.decodeSeconds }
        while position < prompt.count {
            if job.isCancelled || isStopping { return .cancelled }
            let end = min(prompt.count, position + prefillChunk)
            let chunk = Array(prompt[position..<end])
            logits = try session.append(chunk)
            sessionTokens.append(contentsOf: chunk)
            position = end
        }

        // Decode.
        var sampler = Sampler(parameters: job.sampling)
        var generated = 0
        let decodeStart = Date()
        defer {
            stats.decodeSeconds = Date().timeIntervalSince(decodeStart)
            stats.generatedTokens = generated
        }
        while true {
            if job.isCancelled || isStopping { return .cancelled }
            let token = sampler.sample(logits)
            if job.stopTokenIDs.contains(token) { return .stopToken }
            sampler.accept(token)
            job.emit(.token(token))
            generated += 1
            if generated >= job.maxNewTokens || session.count >= session.capacity { return .length }
            logits = try session.append([token])
            sessionTokens.append(token)
        }
    }
}

/// Counts and timings of one generation, for the log.
struct GenerationStatistics {
    var promptTokens = 0
    var cachedTokens = 0
    var prefillSeconds = 0.0
    var generatedTokens = 0
    var decodeSeconds = 0.0

    func summary(_ cause: FinishCause) -> String {
        let computed = promptTokens - cachedTokens
        let prefillRate = prefillSeconds > 0 ? Double(computed) / prefillSeconds : 0
        let decodeRate = decodeSeconds > 0 ? Double(generatedTokens) / decodeSeconds : 0
        return String(format: "generation %@: prompt %d tokens (%d cached), prefill %.1f tok/s; completion %d tokens, %.1f tok/s",
                      "\(cause)", promptTokens, cachedTokens, prefillRate, generatedTokens, decodeRate)
    }
}
