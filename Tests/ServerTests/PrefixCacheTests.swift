import Foundation
import JSON
import TestSupport
import XCTest
@testable import Server
import Engine

/// The prefix cache through the real server (HTTP, the tiny fixture model) with small blocks so prompts stay short:
/// reuse across requests and slots, across a restart from `--cache-dir`, whole blocks of a misaligned shared
/// prefix, identical greedy output with the cache on and off (also under concurrent interleaved prefixes), and the
/// start-up memory check.
final class PrefixCacheTests: XCTestCase {
    static let block = 32
    private var servers: [ServerHarness] = []
    private var directories: [URL] = []

    override func tearDown() {
        servers.forEach { $0.stop() }
        directories.forEach { try? FileManager.default.removeItem(at: $0) }
    }

    private func start(parallel: Int = 1, cacheRAM: Int? = 64 << 20, directory: URL? = nil,
                       kvStorage: KVStorageType? = nil) throws -> ServerHarness {
        let server = try ServerHarness { options in
            options.kvStorage = kvStorage
            options.parallel = parallel
            options.cacheRAMBytes = cacheRAM
            options.cacheDirectory = directory
            options.cacheBlockTokens = Self.block
        }
        servers.append(server)
        return server
    }

    private func temporaryDirectory() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("glmserve-prefix-\(UUID().uuidString)")
        directories.append(url)
        return url
    }

    /// Pseudo-random token ids (seeded).
    private func tokens(_ count: Int, seed: UInt64) -> [Int] {
        var rng = SplitMix64(state: seed)
        return (0..<count).map { _ in 100 + Int(rng.next() % 4000) }
    }

    /// A greedy text completion of token ids: (text, cached_tokens).
    private func complete(_ server: ServerHarness, _ prompt: [Int], maxTokens: Int = 6) throws -> (text: String, cached: Int) {
        let (status, json) = try server.post("/v1/completions", [
            "prompt": .array(prompt.map { JSONValue($0) }), "max_tokens": JSONValue(maxTokens), "temperature": 0,
        ])
        XCTAssertEqual(status, 200, json.serialized())
        let cached = json["usage"]?["prompt_tokens_details"]?["cached_tokens"]?.int ?? -1
        return (json["choices"]?[0]?["text"]?.string ?? "", cached)
    }

    private func metric(_ server: ServerHarness, _ name: String) throws -> Double {
        let response = try server.client().request("GET", "/metrics")
        let line = response.text.split(separator: "\n").first { $0.hasPrefix(name + " ") }
        return Double(line?.split(separator: " ").last ?? "") ?? -1
    }

    func testABAReusesTheFirstPromptAfterAnotherWithOneSlot() throws {
        let server = try start()
        let a = tokens(400, seed: 1), b = tokens(400, seed: 2)
        let first = try complete(server, a)
        XCTAssertEqual(first.cached, 0)
        XCTAssertEqual(try complete(server, b).cached, 0)
        let again = try complete(server, a)
        XCTAssertGreaterThanOrEqual(Double(again.cached), 0.95 * Double(a.count))
        XCTAssertEqual(again.cached, 384, "every whole block of A")
        XCTAssertEqual(again.text, first.text)
        XCTAssertEqual(try metric(server, "glmserve_prefix_cache_misses_total"), 2 * 12)
        XCTAssertEqual(try metric(server, "glmserve_prefix_cache_blocks"), 2 * 12 + 0, "A's and B's whole blocks (the 6 generated tokens complete none)")
    }

    func testMisalignedSharedPrefixReusesEveryWholeBlock() throws {
        let server = try start()
        let shared = tokens(100, seed: 3)
        _ = try complete(server, shared + tokens(50, seed: 4))
        _ = try complete(server, tokens(150, seed: 5))            // the slot moves on
        XCTAssertEqual(try complete(server, shared + tokens(70, seed: 6)).cached, 96, "3 whole blocks of 32 within 100")
    }

    func testRestartFromCacheDirectoryReusesThePrompt() throws {
        let directory = temporaryDirectory()
        let a = tokens(400, seed: 7)
        let first = try start(directory: directory)
        let cold = try complete(first, a)
        first.stop()                                               // flushes the disk writer
        servers.removeAll()
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".kvblock") }
        XCTAssertEqual(files.count, 12)
        let second = try start(directory: directory)
        let warm = try complete(second, a)
        XCTAssertGreaterThanOrEqual(Double(warm.cached), 0.95 * Double(a.count))
        XCTAssertEqual(warm.text, cold.text)
        XCTAssertEqual(try metric(second, "glmserve_prefix_cache_hits_total{tier=\"disk\"}"), 12)
    }

    /// Blocks written with one KV type are another layout: a server with another `--kv-type` ignores them (and
    /// leaves them in place), and the first type still finds them.
    func testBlocksOfAnotherKVTypeAreIgnored() throws {
        let directory = temporaryDirectory()
        let a = tokens(200, seed: 13)
        let files = { try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".kvblock") }.count }
        let q8 = try start(directory: directory, kvStorage: .q8)
        _ = try complete(q8, a)
        q8.stop()
        servers.removeAll()
        XCTAssertEqual(try files(), 6)
        let bf16 = try start(directory: directory, kvStorage: .bf16)
        XCTAssertEqual(try complete(bf16, a).cached, 0)
        bf16.stop()
        servers.removeAll()
        XCTAssertEqual(try files(), 12, "both types' blocks")
        let again = try start(directory: directory, kvStorage: .q8)
        XCTAssertEqual(try complete(again, a).cached, 192)
    }

    func testGreedyOutputIsTheSameWithTheCacheOnAndOff() throws {
        let system = tokens(150, seed: 8)
        let prompts = [system + tokens(40, seed: 9), tokens(90, seed: 10), system + tokens(60, seed: 11),
                       system + tokens(40, seed: 9) + tokens(30, seed: 12)]
        let off = try start(cacheRAM: 0)
        let expected = try prompts.map { try complete(off, $0, maxTokens: 12).text }
        let on = try start()
        let got = try prompts.map { try complete(on, $0, maxTokens: 12) }
        XCTAssertEqual(got.map(\.text), expected)
        XCTAssertEqual(got[2].cached, 128, "the system prompt's whole blocks")
    }

    /// Many requests over a few shared prefixes, sent from several threads at once to 3 slots: every answer
    /// equals the cache-off server's (blocks are never corrupted by another slot's writes).
    func testConcurrentInterleavedPrefixesMatchACacheOffRun() throws {
        let prefixes = (0..<3).map { tokens(70 + 25 * $0, seed: 20 + UInt64($0)) }
        let prompts = (0..<12).map { i in prefixes[i % 3] + tokens(10 + 13 * (i % 4), seed: 40 + UInt64(i)) }
        let off = try start(parallel: 1, cacheRAM: 0)
        let expected = try prompts.map { try complete(off, $0, maxTokens: 8).text }
        let on = try start(parallel: 3, cacheRAM: 40 * Self.block * 2 * 2 * 2 * 16 * 4)   // room for 40 blocks
        for round in 0..<2 {
            let results = ResultBox(count: prompts.count)
            DispatchQueue.concurrentPerform(iterations: 4) { worker in
                for i in stride(from: worker, to: prompts.count, by: 4) {
                    results.set(i, try? self.complete(on, prompts[(i + round * 5) % prompts.count], maxTokens: 8).text)
                }
            }
            for i in prompts.indices {
                XCTAssertEqual(results.values[i], expected[(i + round * 5) % prompts.count], "round \(round), request \(i)")
            }
        }
        XCTAssertGreaterThan(try metric(on, "glmserve_prefix_cache_hits_total{tier=\"ram\"}"), 0)
    }

    /// When the memory available shrinks at run time, a job first takes the prefix cache's RAM, and one that
    /// still cannot fit gets a 503 with Retry-After instead of growing its cache.
    func testRunTimeShortageEvictsBlocksThenAnswers503() throws {
        let free = MemoryBox(1 << 30)
        let server = try ServerHarness { options in
            options.parallel = 3
            options.cacheRAMBytes = 1 << 20
            options.cacheBlockTokens = Self.block
            options.availableMemory = { free.value }
        }
        servers.append(server)
        _ = try complete(server, tokens(400, seed: 60))               // 12 blocks of 16 KiB in the cache
        XCTAssertEqual(try metric(server, "glmserve_prefix_cache_blocks"), 12)
        let reserve = 256 << 20
        free.value = reserve + 100_000                                  // 406 positions × 512 bytes do not fit ...
        let admitted = try complete(server, tokens(400, seed: 61))      // ... until blocks are evicted
        XCTAssertGreaterThan(try metric(server, "glmserve_prefix_cache_evictions_total{tier=\"ram\"}"), 0)
        XCTAssertEqual(admitted.cached, 0)
        free.value = reserve
        let response = try server.client().request("POST", "/v1/completions", body: JSONValue([
            "prompt": .array(tokens(1500, seed: 62).map { JSONValue($0) }), "max_tokens": 6,
        ]).serialized(), headers: ["Content-Type": "application/json"])
        XCTAssertEqual(response.status, 503, response.text)
        XCTAssertEqual(response.headers["retry-after"], "1")
        XCTAssertTrue(response.text.contains("kv_memory_exhausted"), response.text)
    }

    func testStartRefusesKVCachesThatCannotFit() throws {
        XCTAssertThrowsError(try ServerHarness { options in
            options.parallel = 100_000
            options.contextSize = 100_000
        }) { error in
            XCTAssertTrue("\(error)".contains("--ctx-size 100000 × --parallel 100000"), "\(error)")
        }
    }
}

private final class MemoryBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Int
    init(_ value: Int) { stored = value }
    var value: Int {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}

private final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String?]
    init(count: Int) { stored = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ value: String?) { lock.lock(); stored[index] = value; lock.unlock() }
    var values: [String?] { lock.lock(); defer { lock.unlock() }; return stored }
}
