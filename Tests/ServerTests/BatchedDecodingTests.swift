import Engine
import Foundation
import XCTest
@testable import Server

/// Batched decoding: with `parallel` 4 the scheduler runs the decode tokens of all plain slots in one
/// `forward(batch:)` per step. Every request must end exactly as when requests run one at a time (tokens and
/// finish cause), and one request's cancellation or error must not touch the others.
final class BatchedDecodingTests: XCTestCase {
    private typealias Outcome = (tokens: [Int], cause: FinishCause?)

    private func model(_ directory: URL) throws -> EngineLanguageModel {
        EngineLanguageModel(model: try SpeculativeSchedulingTests.model(directory))
    }

    private var greedy: SamplingParameters {
        var p = SamplingParameters()
        p.temperature = 0
        return p
    }

    private func job(_ prompt: [Int], _ sampling: SamplingParameters, maxTokens: Int,
                     stops: Set<Int> = []) -> GenerationJob {
        GenerationJob(promptTokens: prompt, sampling: sampling, maxNewTokens: maxTokens, stopTokenIDs: stops)
    }

    /// Submits every job before the worker starts, so with enough slots they all decode side by side.
    private func run(_ language: LanguageModel, parallel: Int, _ jobs: [GenerationJob],
                     cancel: (index: Int, after: Int)? = nil) throws -> [Outcome] {
        let scheduler = GenerationScheduler(model: language, contextSize: 256, parallel: parallel, maxQueue: 8)
        for job in jobs { try scheduler.submit(job) }
        scheduler.start()
        defer { scheduler.stop() }
        var outcomes: [Outcome] = []
        for (index, job) in jobs.enumerated() {
            outcomes.append(drain(job, cancelAfter: cancel?.index == index ? cancel?.after : nil))
        }
        return outcomes
    }

    /// Four concurrent requests of different lengths, one ending on a stop token, one with penalties.
    private func mixedJobs(maxTokens: Int) -> [GenerationJob] {
        var penalised = greedy
        penalised.frequencyPenalty = 0.7
        penalised.logitBias = [12: 3]
        return [
            job([1, 5, 9, 200, 31, 7], greedy, maxTokens: maxTokens),
            job([42, 17, 300, 301, 302], greedy, maxTokens: maxTokens / 2),
            job([3, 3, 8, 250], penalised, maxTokens: maxTokens),
            job([100, 101, 102, 103, 104, 105, 106], greedy, maxTokens: maxTokens + 5),
        ]
    }

    private func assertBatchedMatchesOneAtATime(_ directory: URL, maxTokens: Int,
                                                file: StaticString = #filePath, line: UInt = #line) throws {
        let language = try model(directory)
        let alone = try run(language, parallel: 1, mixedJobs(maxTokens: maxTokens))
        let batched = try run(language, parallel: 4, mixedJobs(maxTokens: maxTokens))
        XCTAssertEqual(alone.count, batched.count, file: file, line: line)
        for (a, b) in zip(alone, batched) {
            XCTAssertEqual(a.tokens, b.tokens, file: file, line: line)
            XCTAssertEqual(a.cause, b.cause, file: file, line: line)
            XCTAssertFalse(a.tokens.isEmpty, file: file, line: line)
        }
    }

    func testConcurrentGreedyMatchesOneAtATimeOnFixture() throws {
        try assertBatchedMatchesOneAtATime(SpeculativeSchedulingTests.fixture, maxTokens: 24)
    }

    func testConcurrentGreedyMatchesOneAtATimeOnBundledModel() throws {
        try assertBatchedMatchesOneAtATime(SpeculativeSchedulingTests.bundled, maxTokens: 24)
    }

    func testStopTokenEndsOnlyItsOwnRequest() throws {
        let language = try model(SpeculativeSchedulingTests.fixture)
        let free = try run(language, parallel: 1, [job([1, 5, 9, 200, 31, 7], greedy, maxTokens: 20)])[0]
        let stop = try XCTUnwrap(free.tokens.dropFirst(4).first)
        let expectedLength = try XCTUnwrap(free.tokens.firstIndex(of: stop))
        let jobs = [job([1, 5, 9, 200, 31, 7], greedy, maxTokens: 20, stops: [stop]),
                    job([42, 17, 300, 301, 302], greedy, maxTokens: 20)]
        let alone = try run(language, parallel: 1, [jobs[1]].map { job($0.promptTokens, greedy, maxTokens: 20) })
        let batched = try run(language, parallel: 4, jobs)
        XCTAssertEqual(batched[0].cause, .stopToken)
        XCTAssertEqual(batched[0].tokens, Array(free.tokens.prefix(expectedLength)))
        XCTAssertEqual(batched[1].tokens, alone[0].tokens)
        XCTAssertEqual(batched[1].cause, .length)
    }

    func testSeededSamplingIsPerRequest() throws {
        let language = try model(SpeculativeSchedulingTests.bundled)
        func jobs() -> [GenerationJob] {
            (0..<4).map { index in
                var sampling = SamplingParameters()
                sampling.temperature = 0.9
                sampling.topP = 0.95
                sampling.seed = UInt64(7 + index)
                return job([1, 5, 9, 200, 31, 7], sampling, maxTokens: 20)
            }
        }
        let alone = try run(language, parallel: 1, jobs())
        let batched = try run(language, parallel: 4, jobs())
        XCTAssertEqual(alone.map(\.tokens), batched.map(\.tokens))
        XCTAssertEqual(Set(batched.map(\.tokens)).count, 4, "different seeds should give different samples")
    }

    func testCancellingOneLeavesTheOthersIntact() throws {
        let language = try model(SpeculativeSchedulingTests.fixture)
        let alone = try run(language, parallel: 1, mixedJobs(maxTokens: 24))
        let batched = try run(language, parallel: 4, mixedJobs(maxTokens: 24), cancel: (index: 0, after: 3))
        XCTAssertEqual(batched[0].cause, .cancelled)
        XCTAssertEqual(Array(batched[0].tokens.prefix(3)), Array(alone[0].tokens.prefix(3)))
        for index in 1..<4 {
            XCTAssertEqual(batched[index].tokens, alone[index].tokens)
            XCTAssertEqual(batched[index].cause, alone[index].cause)
        }
    }

    func testFailingStepEndsOnlyItsRequestAndStepsAreBatched() throws {
        let language = FailingStepModel(try model(SpeculativeSchedulingTests.fixture), failingSession: 2, afterTokens: 9)
        let jobs = mixedJobs(maxTokens: 24)
        let batched = try run(language, parallel: 4, jobs)
        let alone = try run(try model(SpeculativeSchedulingTests.fixture), parallel: 1, mixedJobs(maxTokens: 24))
        XCTAssertNil(batched[1].cause, "the request whose step failed ends with .failed")
        XCTAssertLessThan(batched[1].tokens.count, alone[1].tokens.count)
        for index in [0, 2, 3] {
            XCTAssertEqual(batched[index].tokens, alone[index].tokens)
            XCTAssertEqual(batched[index].cause, alone[index].cause)
        }
        XCTAssertEqual(language.largestBatch, 4, "the four decode steps should run in one call")
    }

    /// `appendEach` gives each session the logits separate appends give, and an invalid step fails alone,
    /// leaving every cache as it was except for the valid steps.
    func testAppendEachMatchesSeparateAppendsAndIsolatesAnInvalidStep() throws {
        let language = try model(SpeculativeSchedulingTests.fixture)
        let prompts = [[1, 5, 9], [42, 17, 300, 301], [7, 8]]
        func sessions() throws -> [InferenceSession] {
            try prompts.map { prompt in
                let session = try language.makeSession(capacity: 32)
                _ = try session.append(prompt)
                return session
            }
        }
        let separate = try sessions()
        let expected = try [11, 12].enumerated().map { try separate[$0.offset].append([$0.element]) }

        let batched = try sessions()
        let invalid = language.vocabularySize
        let results = language.appendEach([DecodeStep(session: batched[0], token: 11),
                                           DecodeStep(session: batched[1], token: 12),
                                           DecodeStep(session: batched[2], token: invalid)])
        XCTAssertEqual(results.count, 3)
        for index in 0..<2 {
            let logits = try results[index].get()
            XCTAssertEqual(logits.count, expected[index].count)
            for (a, b) in zip(logits, expected[index]) { XCTAssertEqual(a, b, accuracy: 1e-4) }
            XCTAssertEqual(batched[index].count, prompts[index].count + 1)
        }
        XCTAssertThrowsError(try results[2].get())
        XCTAssertEqual(batched[2].count, prompts[2].count)

        let valid = try sessions()
        let together = language.appendEach([DecodeStep(session: valid[0], token: 11),
                                            DecodeStep(session: valid[1], token: 12)])
        for index in 0..<2 {
            let logits = try together[index].get()
            for (a, b) in zip(logits, expected[index]) { XCTAssertEqual(a, b, accuracy: 1e-4) }
        }
    }
}

/// An engine model whose `failingSession`-th session fails its decode steps once it holds `afterTokens` tokens;
/// records the largest `appendEach` batch.
private final class FailingStepModel: LanguageModel {
    struct Injected: Error {}
    private let inner: EngineLanguageModel
    private let failingSession: Int
    private let afterTokens: Int
    private var made: [ObjectIdentifier] = []
    private(set) var largestBatch = 0

    init(_ inner: EngineLanguageModel, failingSession: Int, afterTokens: Int) {
        self.inner = inner
        self.failingSession = failingSession
        self.afterTokens = afterTokens
    }

    var vocabularySize: Int { inner.vocabularySize }

    func makeSession(capacity: Int) throws -> InferenceSession {
        let session = try inner.makeSession(capacity: capacity)
        made.append(ObjectIdentifier(session))
        return session
    }

    func appendEach(_ steps: [DecodeStep]) -> [Result<[Float], Error>] {
        largestBatch = max(largestBatch, steps.count)
        let failing = made.count >= failingSession ? made[failingSession - 1] : nil
        let fails = steps.map { ObjectIdentifier($0.session) == failing && $0.session.count >= afterTokens }
        var passed = inner.appendEach(zip(steps, fails).filter { !$0.1 }.map(\.0)).makeIterator()
        return fails.map { $0 ? .failure(Injected()) : passed.next() ?? .failure(Injected()) }
    }
}
