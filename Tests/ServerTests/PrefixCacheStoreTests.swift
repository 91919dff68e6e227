import Foundation
import XCTest
@testable import Server

/// The prefix cache's store on its own: LRU eviction, and the disk tier's handling of files that are truncated,
/// corrupt or belong to another model.
final class PrefixCacheStoreTests: XCTestCase {
    private let blockTokens = 4, bytesPerPosition = 8
    private var directory: URL!

    override func setUp() {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("glmserve-store-\(UUID().uuidString)")
    }

    override func tearDown() { try? FileManager.default.removeItem(at: directory) }

    private func cache(ramBlocks: Int, disk: Bool = false, fingerprint: UInt64 = 1, log: @escaping @Sendable (String) -> Void = { _ in }) throws -> PrefixCache {
        try PrefixCache(blockTokens: blockTokens, bytesPerPosition: bytesPerPosition,
                        ramBudget: ramBlocks * blockTokens * bytesPerPosition, directory: disk ? directory : nil,
                        diskBudget: 1 << 20, fingerprint: ModelFingerprint(key: BlockKey(high: fingerprint, low: 7)), log: log)
    }

    /// Publishes every whole block of `tokens` with bytes derived from the position and token.
    private func publish(_ tokens: [Int], into cache: PrefixCache) {
        let keys = cache.keys(for: tokens)
        for (i, key) in keys.enumerated() {
            let range = i * blockTokens ..< (i + 1) * blockTokens
            cache.publish(key: key, parent: i == 0 ? .root : keys[i - 1], depth: i, tokens: tokens[range]) { out in
                let bytes = out.assumingMemoryBound(to: UInt8.self)
                for b in 0 ..< blockTokens * bytesPerPosition { bytes[b] = UInt8(truncatingIfNeeded: tokens[range.lowerBound + b / bytesPerPosition] &+ b) }
            }
        }
    }

    private func found(_ tokens: [Int], in cache: PrefixCache) -> [KVBlock] {
        cache.blocks(of: tokens, keys: cache.keys(for: tokens), from: 0, limit: .max)
    }

    func testLeastRecentlyUsedBlocksAreEvictedFirstDeepestFirst() throws {
        let store = try cache(ramBlocks: 3)
        let a = Array(1...8), b = Array(101...108)
        publish(a, into: store)                  // 2 blocks
        publish(b, into: store)                  // 2 more: one of A's goes, its deeper block first
        XCTAssertEqual(store.statistics.evictions, 1)
        XCTAssertEqual(found(a, in: store).count, 1, "A keeps its first block, so a lookup still gets it")
        XCTAssertEqual(found(b, in: store).count, 2)
        XCTAssertEqual(store.statistics.ramBytes, 3 * blockTokens * bytesPerPosition)
    }

    func testAPromptThatDiffersInsideABlockDoesNotGetIt() throws {
        let store = try cache(ramBlocks: 8)
        publish(Array(1...8), into: store)
        XCTAssertEqual(found([1, 2, 3, 4, 5, 6, 0, 8], in: store).count, 1)
        XCTAssertEqual(found([9, 2, 3, 4, 5, 6, 7, 8], in: store).count, 0, "the chain starts at position 0")
    }

    func testDiskBlocksSurviveAndBrokenOrForeignFilesAreNeverLoaded() throws {
        let prompts = [Array(1...8), Array(11...18), Array(21...28)]
        let writer = try cache(ramBlocks: 16, disk: true)
        prompts.forEach { publish($0, into: writer) }
        writer.close()
        let original = prompts.map { found($0, in: writer).map { Array(UnsafeRawBufferPointer($0.bytes)) } }
        let files = { try FileManager.default.contentsOfDirectory(atPath: self.directory.path).filter { $0.hasSuffix(".kvblock") } }
        XCTAssertEqual(try files().count, 6)

        // Damage prompt 1's first block (truncated) and prompt 2's second (one KV byte flipped).
        let keys = prompts.map { writer.keys(for: $0) }
        let truncated = try XCTUnwrap(writer.disk).fileURL(keys[1][0])
        let data = try Data(contentsOf: truncated)
        try data.prefix(data.count - 3).write(to: truncated)
        let corrupt = try XCTUnwrap(writer.disk).fileURL(keys[2][1])
        var bytes = try Data(contentsOf: corrupt)
        bytes[bytes.count - 1] ^= 0x40
        try bytes.write(to: corrupt)

        let warnings = Lines()
        let reader = try cache(ramBlocks: 16, disk: true, log: { warnings.append($0) })
        XCTAssertEqual(found(prompts[0], in: reader).map { Array(UnsafeRawBufferPointer($0.bytes)) }, original[0])
        XCTAssertEqual(found(prompts[1], in: reader).count, 0, "truncated first block: nothing")
        XCTAssertEqual(found(prompts[2], in: reader).count, 1, "corrupt second block: only the first")
        XCTAssertEqual(reader.statistics.diskFilesDiscarded, 2)
        XCTAssertEqual(reader.statistics.diskHits, 3)
        XCTAssertTrue(warnings.all.contains { $0.contains("truncated") }, "\(warnings.all)")
        XCTAssertTrue(warnings.all.contains { $0.contains("checksum") }, "\(warnings.all)")
        XCTAssertEqual(try files().count, 4, "broken files are deleted")
        reader.close()

        // Another model's cache (other fingerprint) sees none of the blocks and leaves the files alone.
        let foreign = try cache(ramBlocks: 16, disk: true, fingerprint: 2)
        XCTAssertEqual(found(prompts[0], in: foreign).count, 0)
        XCTAssertEqual(foreign.statistics.diskBytes, 0)
        foreign.close()
        XCTAssertEqual(try files().count, 4)
    }

    func testSizesParse() {
        XCTAssertEqual(ByteCountText.parseSize("0"), 0)
        XCTAssertEqual(ByteCountText.parseSize("512M"), 512 << 20)
        XCTAssertEqual(ByteCountText.parseSize("1.5GiB"), 3 << 29)
        XCTAssertEqual(ByteCountText.parseSize("8g"), 8 << 30)
        XCTAssertEqual(ByteCountText.parseSize("2KB"), 2048)
        XCTAssertNil(ByteCountText.parseSize("lots"))
        XCTAssertNil(ByteCountText.parseSize("5X"))
    }
}

private final class Lines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}
