import Foundation
import XCTest
@testable import Server

/// A model whose sessions record every `append` (session number and tokens) and always predict `next`.
final class RecordingLanguageModel: LanguageModel, @unchecked Sendable {
    let vocabularySize = 16
    let next: Int
    private let lock = NSLock()
    private var sessionsMade = 0
    private(set) var calls: [(session: Int, tokens: [Int])] = []

    init(next: Int = 5) { self.next = next }

    func makeSession(capacity: Int) throws -> InferenceSession {
        lock.lock(); defer { lock.unlock() }
        sessionsMade += 1
        return Session(model: self, number: sessionsMade, capacity: capacity)
    }

    func record(_ session: Int, _ tokens: [Int]) {
        lock.lock(); calls.append((session, tokens)); lock.unlock()
    }

    var recordedCalls: [(session: Int, tokens: [Int])] {
        lock.lock(); defer { lock.unlock() }
        return calls
    }

    final class Session: InferenceSession {
        let model: RecordingLanguageModel
        let number: Int
        let capacity: Int
        private(set) var count = 0

        init(model: RecordingLanguageModel, number: Int, capacity: Int) {
            self.model = model
            self.number = number
            self.capacity = capacity
        }

        func truncate(to count: Int) { self.count = min(self.count, count) }

        func append(_ tokens: [Int]) throws -> [Float] {
            count += tokens.count
            model.record(number, tokens)
            var logits = [Float](repeating: 0, count: model.vocabularySize)
            logits[model.next] = 10
            return logits
        }
    }
}

final class GenerationSchedulerTests: XCTestCase {
    private func job(_ prompt: [Int], max: Int = 3) -> GenerationJob {
        var greedy = SamplingParameters()
        greedy.temperature = 0
        return GenerationJob(promptTokens: prompt, sampling: greedy, maxNewTokens: max, stopTokenIDs: [15])
    }

    func testActiveJobsAreInterleavedTokenByToken() throws {
        let model = RecordingLanguageModel()
        let scheduler = GenerationScheduler(model: model, contextSize: 64, parallel: 2, maxQueue: 4)
        let a = job([1, 2], max: 4), b = job([3, 4], max: 4)
        try scheduler.submit(a)
        try scheduler.submit(b)
        scheduler.start()
        defer { scheduler.stop() }
        XCTAssertTrue(drain(a) == ([5, 5, 5, 5], .length))
        XCTAssertTrue(drain(b) == ([5, 5, 5, 5], .length))
        let order = model.recordedCalls.map(\.session)
        XCTAssertEqual(order, [1, 2, 1, 2, 1, 2, 1, 2], "one step per active job per round")
        XCTAssertEqual(model.recordedCalls[0].tokens, [1, 2])
        XCTAssertEqual(model.recordedCalls[1].tokens, [3, 4])
    }

    func testNewJobTakesTheSlotWithTheLongestCachedPrefix() throws {
        let model = RecordingLanguageModel()
        let scheduler = GenerationScheduler(model: model, contextSize: 64, parallel: 2, maxQueue: 4)
        scheduler.start()
        defer { scheduler.stop() }
        for prompt in [[1, 2, 3, 4], [7, 8, 9]] {
            let j = job(prompt, max: 1)
            try scheduler.submit(j)
            _ = drain(j)
        }
        // Slot 1 was used longer ago, but slot 2 holds [7, 8, 9].
        let c = job([7, 8, 9, 10, 11], max: 1)
        try scheduler.submit(c)
        _ = drain(c)
        XCTAssertEqual(c.cachedPromptTokens, 3)
        XCTAssertEqual(model.recordedCalls.last?.session, 2)
        XCTAssertEqual(model.recordedCalls.last?.tokens, [10, 11])
        // An identical prompt recomputes only its last token.
        let d = job([7, 8, 9, 10, 11], max: 1)
        try scheduler.submit(d)
        _ = drain(d)
        XCTAssertEqual(d.cachedPromptTokens, 4)
    }

    func testStopTokenEndsWithoutBeingEmitted() throws {
        let model = RecordingLanguageModel(next: 15)
        let scheduler = GenerationScheduler(model: model, contextSize: 64, maxQueue: 1)
        scheduler.start()
        defer { scheduler.stop() }
        let j = job([1], max: 10)
        try scheduler.submit(j)
        XCTAssertTrue(drain(j) == ([], .stopToken))
    }

    func testQueueIsBoundedAndCancelledWaitersLeaveIt() throws {
        let scheduler = GenerationScheduler(model: RecordingLanguageModel(), contextSize: 64, parallel: 1, maxQueue: 1)
        let first = job([1]), second = job([2])
        try scheduler.submit(first)
        try scheduler.submit(second)
        XCTAssertThrowsError(try scheduler.submit(job([3])))
        scheduler.cancel(second)
        XCTAssertEqual(scheduler.waitingJobs, 1)
        let third = job([3])
        try scheduler.submit(third)
        scheduler.start()
        defer { scheduler.stop() }
        XCTAssertTrue(drain(second) == ([], .cancelled))
        XCTAssertEqual(drain(first).1, .length)
        XCTAssertEqual(drain(third).1, .length)
    }

    func testContextFullEndsWithLength() throws {
        let scheduler = GenerationScheduler(model: RecordingLanguageModel(), contextSize: 6, maxQueue: 1)
        scheduler.start()
        defer { scheduler.stop() }
        let j = job([1, 2, 3], max: 100)
        try scheduler.submit(j)
        let (tokens, cause) = drain(j)
        XCTAssertEqual(cause, .length)
        XCTAssertEqual(tokens.count, 4, "3 prompt tokens + 3 cached generated + the last sampled one")
    }
}
