import Engine
import Foundation
import XCTest
@testable import Server

/// `--speculative mtp` in the scheduler: with the MTP draft session every generation ends exactly as plain
/// decoding does at temperature 0 (tokens and finish cause), seeded sampling repeats, prefix reuse stays exact.
final class SpeculativeSchedulingTests: XCTestCase {
    static let fixture = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models/tiny-chat-bf16")
    static let bundled = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Models/GLM-Tiny")

    private static let lock = NSLock()
    nonisolated(unsafe) private static var loaded: [URL: GLMModel] = [:]

    static func model(_ directory: URL) throws -> GLMModel {
        lock.lock(); defer { lock.unlock() }
        if let model = loaded[directory] { return model }
        let model = try GLMModel.load(from: directory, threads: 1)
        loaded[directory] = model
        return model
    }

    struct Request {
        var prompt: [Int]
        var sampling = SamplingParameters()
        var maxTokens = 24
        var stops: Set<Int> = []
        var forced: ForcedToolCall?
    }

    /// Runs `requests` one after another on one scheduler (so later ones may reuse earlier caches).
    private func run(_ directory: URL, speculative: Bool, contextSize: Int = 256, parallel: Int = 1,
                     _ requests: [Request]) throws -> [(tokens: [Int], cause: FinishCause?)] {
        let language = try EngineLanguageModel(model: Self.model(directory), speculative: speculative)
        let scheduler = GenerationScheduler(model: language, contextSize: contextSize, parallel: parallel, maxQueue: 8)
        scheduler.start()
        defer { scheduler.stop() }
        return try requests.map { request in
            let job = GenerationJob(promptTokens: request.prompt, sampling: request.sampling,
                                    maxNewTokens: request.maxTokens, stopTokenIDs: request.stops,
                                    forcedToolCall: request.forced)
            try scheduler.submit(job)
            return drain(job)
        }
    }

    private var greedy: SamplingParameters {
        var p = SamplingParameters()
        p.temperature = 0
        return p
    }

    private func assertSameAsPlain(_ directory: URL, contextSize: Int = 256, _ requests: [Request],
                                   file: StaticString = #filePath, line: UInt = #line) throws {
        let plain = try run(directory, speculative: false, contextSize: contextSize, requests)
        let speculative = try run(directory, speculative: true, contextSize: contextSize, requests)
        for (p, s) in zip(plain, speculative) {
            XCTAssertEqual(p.tokens, s.tokens, file: file, line: line)
            XCTAssertEqual(p.cause, s.cause, file: file, line: line)
        }
        XCTAssertGreaterThan(plain.map(\.tokens.count).reduce(0, +), 0, file: file, line: line)
    }

    func testGreedyIsIdenticalOnFixture() throws {
        var penalised = Request(prompt: [1, 5, 9, 200, 31, 7], sampling: greedy, maxTokens: 30)
        penalised.sampling.frequencyPenalty = 0.7
        penalised.sampling.presencePenalty = 0.3
        penalised.sampling.logitBias = [12: 3, 40: -5]
        try assertSameAsPlain(Self.fixture, [
            Request(prompt: [1, 5, 9, 200, 31, 7], sampling: greedy, maxTokens: 30),
            Request(prompt: [42, 17, 300, 301, 302], sampling: greedy, maxTokens: 17),
            penalised,
        ])
    }

    func testGreedyIsIdenticalOnBundledModel() throws {
        let reference = try JSONSerialization.jsonObject(
            with: Data(contentsOf: Self.bundled.appendingPathComponent("reference_greedy.json"))) as? [String: Any]
        let prompt = try XCTUnwrap(reference?["prompt_ids"] as? [Int])
        try assertSameAsPlain(Self.bundled, [
            Request(prompt: prompt, sampling: greedy, maxTokens: 48),
            Request(prompt: Array(prompt.prefix(6)) + [100, 200, 300], sampling: greedy, maxTokens: 20),
        ])
        // The trained head gets drafts accepted (observability of the counters is checked in the HTTP test).
        let language = try EngineLanguageModel(model: Self.model(Self.bundled), speculative: true)
        let log = LogLines()
        let scheduler = GenerationScheduler(model: language, contextSize: 256, maxQueue: 1) { log.append($0) }
        scheduler.start()
        let job = GenerationJob(promptTokens: prompt, sampling: greedy, maxNewTokens: 40, stopTokenIDs: [])
        try scheduler.submit(job)
        XCTAssertEqual(drain(job).tokens.count, 40)
        let totals = scheduler.metrics.totals
        scheduler.stop()
        XCTAssertGreaterThan(totals.draftedTokens, 0)
        XCTAssertGreaterThan(Double(totals.acceptedDrafts) / Double(totals.draftedTokens), 0.3)
        XCTAssertEqual(totals.completionTokens, 40)
        let lines = log.lines
        XCTAssertTrue(lines.contains { $0.contains("drafts \(totals.draftedTokens), accepted \(totals.acceptedDrafts)") }, "\(lines)")
    }

    /// Stop ids hit by a plain token or by an accepted draft, max_tokens at every parity, and a full context end
    /// the generation at the same token with the same cause.
    func testStopTokensMaxTokensAndFullContextEndAsPlain() throws {
        let prompt = [1, 5, 9, 200, 31, 7]
        let plain = try run(Self.fixture, speculative: false, [Request(prompt: prompt, sampling: greedy, maxTokens: 30)])[0]
        var requests: [Request] = []
        for index in [0, 1, 2, 5, 9] where index < plain.tokens.count {
            requests.append(Request(prompt: prompt, sampling: greedy, maxTokens: 30, stops: [plain.tokens[index]]))
        }
        for max in 1...6 { requests.append(Request(prompt: prompt, sampling: greedy, maxTokens: max)) }
        try assertSameAsPlain(Self.fixture, requests)
        // Context of prompt + 9: the last positions leave no room for a two-token verify.
        for context in [prompt.count + 2, prompt.count + 3, prompt.count + 9] {
            try assertSameAsPlain(Self.fixture, contextSize: context, [Request(prompt: prompt, sampling: greedy, maxTokens: 40)])
        }
    }

    func testForcedToolCallTokensAreKept() throws {
        try assertSameAsPlain(Self.fixture, [
            Request(prompt: [3, 4, 5], sampling: greedy, maxTokens: 12, forced: ForcedToolCall(tokens: [77, 78, 79])),
        ])
        // With reasoning: the model's own first token opens it, a later one closes it, then the call is placed;
        // speculation pauses while the forcer may still replace tokens and resumes after the call.
        let prompt = [1, 5, 9, 200, 31, 7]
        let free = try run(Self.fixture, speculative: false, [Request(prompt: prompt, sampling: greedy, maxTokens: 12)])[0].tokens
        let markers = ForcedToolCall.ReasoningTokens(open: free[0], close: free[5], toolCallOpen: 639, leading: [])
        try assertSameAsPlain(Self.fixture, [
            Request(prompt: prompt, sampling: greedy, maxTokens: 24,
                    forced: ForcedToolCall(tokens: [77, 78, 79], reasoning: markers)),
            Request(prompt: prompt, sampling: greedy, maxTokens: 24, stops: [free[3]],
                    forced: ForcedToolCall(tokens: [77, 78, 79], reasoning: markers)),
        ])
    }

    /// Requests sharing prefixes with what the slot holds (including drafted positions) reuse the caches and
    /// still decode exactly like plain decoding.
    func testPrefixReuseStaysExact() throws {
        let base = [1, 5, 9, 200, 31, 7]
        let first = try run(Self.fixture, speculative: false, [Request(prompt: base, sampling: greedy, maxTokens: 10)])[0]
        try assertSameAsPlain(Self.fixture, [
            Request(prompt: base, sampling: greedy, maxTokens: 10),
            Request(prompt: base + first.tokens.prefix(5) + [33], sampling: greedy, maxTokens: 12),
            Request(prompt: base + first.tokens.prefix(8), sampling: greedy, maxTokens: 12),
            Request(prompt: Array(base.prefix(3)) + [44, 45], sampling: greedy, maxTokens: 12),
            Request(prompt: base, sampling: greedy, maxTokens: 10),
        ])
    }

    func testParallelSlotsMatchPlain() throws {
        let language = try EngineLanguageModel(model: Self.model(Self.fixture), speculative: true)
        let scheduler = GenerationScheduler(model: language, contextSize: 128, parallel: 2, maxQueue: 4)
        scheduler.start()
        defer { scheduler.stop() }
        let prompts = [[1, 5, 9, 200], [42, 17, 300, 301, 302]]
        let jobs = prompts.map { GenerationJob(promptTokens: $0, sampling: greedy, maxNewTokens: 15, stopTokenIDs: []) }
        for job in jobs { try scheduler.submit(job) }
        let outputs = jobs.map { drain($0).tokens }
        let plain = try run(Self.fixture, speculative: false, prompts.map { Request(prompt: $0, sampling: greedy, maxTokens: 15) })
        XCTAssertEqual(outputs, plain.map(\.tokens))
    }

    func testSeededSamplingRepeats() throws {
        var sampling = SamplingParameters()
        sampling.temperature = 0.9
        sampling.topP = 0.95
        sampling.topK = 40
        sampling.seed = 99
        let request = Request(prompt: [1, 5, 9, 200, 31, 7], sampling: sampling, maxTokens: 30)
        let a = try run(Self.bundled, speculative: true, [request, request])
        XCTAssertEqual(a[0].tokens, a[1].tokens)
        XCTAssertEqual(a[0].tokens.count, 30)
        var other = request
        other.sampling.seed = 100
        let b = try run(Self.bundled, speculative: true, [other])
        XCTAssertNotEqual(a[0].tokens, b[0].tokens, "a different seed should change a 30-token sample")
    }

    func testCancellationEndsASpeculativeGeneration() throws {
        let language = try EngineLanguageModel(model: Self.model(Self.fixture), speculative: true)
        let scheduler = GenerationScheduler(model: language, contextSize: 4096, maxQueue: 1)
        scheduler.start()
        defer { scheduler.stop() }
        let job = GenerationJob(promptTokens: [1, 2, 3], sampling: greedy, maxNewTokens: 4000, stopTokenIDs: [])
        try scheduler.submit(job)
        let (tokens, cause) = drain(job, cancelAfter: 3)
        XCTAssertEqual(cause, .cancelled)
        XCTAssertLessThan(tokens.count, 4000)
        XCTAssertEqual(scheduler.finishedJobs(.cancelled), 1)
    }
}

/// Log lines collected from the worker thread.
final class LogLines: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []

    func append(_ line: String) { lock.lock(); stored.append(line); lock.unlock() }

    var lines: [String] {
        lock.lock(); defer { lock.unlock() }
        return stored
    }
}
