import Foundation

/// KV blocks shared by all requests: the prefix cache (`--cache-ram`, `--cache-dir`).
///
/// Invariants. A block holds the K/V of `blockTokens` consecutive positions `d·B ..< (d+1)·B` of some token
/// sequence, and its key is a hash chained over *every* token from position 0 to the block's end, so a block is
/// only ever used for a prompt whose whole prefix up to the block's end is the same (its own tokens and its parent
/// key are compared too). Blocks are immutable once published; a slot that reuses them copies them into its own
/// contiguous cache (the attention kernels read one contiguous cache per sequence — the copy is a memcpy, measured
/// negligible next to computing the block) and a slot publishes each block of its sequence once it is complete
/// (prompt or generated), so every later request, in any slot, can start from the longest chain of cached blocks.
/// Holders share a block by reference (ARC counts them: the RAM tier, the disk writer's queue); the RAM tier keeps
/// at most `ramBudget` bytes and evicts the least recently used block first (deepest first among equals, so a
/// chain is cut from its end). With a disk tier every published block is also written in the background and read
/// back on a RAM miss; disk files are checked against the model's fingerprint and a checksum before use.
///
/// Used only by the scheduler's worker thread, except `statistics` (any thread).
public final class PrefixCache: @unchecked Sendable {
    public let blockTokens: Int
    public let blockBytes: Int
    public let ramBudget: Int
    let disk: BlockDiskStore?

    private struct Entry { let block: KVBlock; var lastUsed: UInt64 }
    private var blocks: [BlockKey: Entry] = [:]
    private var clock: UInt64 = 0
    private let lock = NSLock()
    private var counters = PrefixCacheStatistics()

    /// - Parameters:
    ///   - bytesPerPosition: KV bytes per position of the sessions that will use the cache.
    ///   - ramBudget: bytes of blocks kept in memory.
    ///   - directory, diskBudget, fingerprint: the disk tier (nil directory: none).
    public init(blockTokens: Int = 256, bytesPerPosition: Int, ramBudget: Int, directory: URL? = nil,
                diskBudget: Int = 0, fingerprint: ModelFingerprint? = nil,
                log: @escaping @Sendable (String) -> Void = { _ in }) throws {
        precondition(blockTokens > 0 && bytesPerPosition > 0)
        self.blockTokens = blockTokens
        self.blockBytes = blockTokens * bytesPerPosition
        self.ramBudget = max(0, ramBudget)
        if let directory {
            disk = try BlockDiskStore(directory: directory, budget: diskBudget,
                                      fingerprint: fingerprint ?? ModelFingerprint(key: .root),
                                      blockTokens: blockTokens, blockBytes: blockBytes, log: log)
        } else {
            disk = nil
        }
    }

    /// Keys of the whole blocks of `tokens`.
    func keys(for tokens: [Int]) -> [BlockKey] { BlockKey.chain(tokens, blockTokens: blockTokens) }

    /// The cached blocks `first, first+1, …` of `prompt` (whose block keys are `keys`), as far as they go without a
    /// gap, from RAM or else from disk (a block read from disk joins the RAM tier). Blocks `0 ..< first` (which the
    /// caller already holds) are only marked as used. Counts hits and misses.
    func blocks(of prompt: [Int], keys: [BlockKey], from first: Int, limit: Int) -> [KVBlock] {
        clock += 1
        for key in keys.prefix(first) { blocks[key]?.lastUsed = clock }
        var found: [KVBlock] = []
        var fromDisk = 0
        let end = min(keys.count, limit)
        var index = first
        while index < end {
            let key = keys[index], parent = index == 0 ? BlockKey.root : keys[index - 1]
            if let entry = blocks[key], entry.block.depth == index, entry.block.holds(prompt, parent: parent) {
                blocks[key]?.lastUsed = clock
                found.append(entry.block)
            } else if let block = disk?.load(key, parent: parent, depth: index, prompt: prompt) {
                store(block)
                found.append(block)
                fromDisk += 1
            } else {
                break
            }
            index += 1
        }
        lock.lock()
        counters.hits += found.count - fromDisk
        counters.diskHits += fromDisk
        counters.misses += max(0, end - first - found.count)
        lock.unlock()
        return found
    }

    /// Whether block `key` is cached in RAM.
    func contains(_ key: BlockKey) -> Bool { blocks[key] != nil }

    /// Publishes block `depth` of a sequence (`tokens` are its B tokens): `fill` writes its bytes. Does nothing if
    /// the block is cached already (it is only marked as used).
    func publish(key: BlockKey, parent: BlockKey, depth: Int, tokens: ArraySlice<Int>,
                 fill: (UnsafeMutableRawPointer) -> Void) {
        clock += 1
        if blocks[key] != nil {
            blocks[key]?.lastUsed = clock
            touchAncestors(from: parent)
            return
        }
        guard ramBudget >= blockBytes || disk != nil else { return }
        let block = KVBlock(key: key, parent: parent, depth: depth, tokens: tokens.map { Int32(truncatingIfNeeded: $0) },
                            byteCount: blockBytes)
        fill(block.bytes.baseAddress!)
        disk?.enqueue(block)
        store(block)
    }

    private func store(_ block: KVBlock) {
        guard ramBudget >= blockBytes else { return }
        blocks[block.key] = Entry(block: block, lastUsed: clock)
        touchAncestors(from: block.parent)
        lock.lock(); counters.ramBytes += blockBytes; counters.ramBlocks += 1; lock.unlock()
        evict(toFit: ramBudget, keeping: block.key)
    }

    /// Marks `key` and its ancestors in RAM as used now: a parent is never older than its child, so eviction cuts a
    /// chain from its end and never leaves blocks that no lookup can reach.
    private func touchAncestors(from key: BlockKey) {
        var key = key
        while let entry = blocks[key], entry.lastUsed < clock {
            blocks[key]?.lastUsed = clock
            key = entry.block.parent
        }
    }

    /// Drops least recently used blocks (deepest first among equals) until the RAM tier holds at most `limit` bytes.
    /// Returns the bytes freed.
    @discardableResult
    func evict(toFit limit: Int, keeping kept: BlockKey? = nil) -> Int {
        var freed = 0
        while ramBytes > limit {
            guard let victim = blocks.filter({ $0.key != kept }).min(by: { a, b in
                a.value.lastUsed != b.value.lastUsed ? a.value.lastUsed < b.value.lastUsed
                    : a.value.block.depth > b.value.block.depth
            }) else { break }
            blocks.removeValue(forKey: victim.key)
            freed += blockBytes
            lock.lock(); counters.ramBytes -= blockBytes; counters.ramBlocks -= 1; counters.evictions += 1; lock.unlock()
        }
        return freed
    }

    private var ramBytes: Int {
        lock.lock(); defer { lock.unlock() }
        return counters.ramBytes
    }

    /// Waits for the disk writer to finish the queued blocks (tests, benchmarks).
    public func waitUntilWritten(timeout: TimeInterval = 30) { disk?.waitUntilWritten(timeout: timeout) }

    /// Writes what is queued (at most `timeout`) and stops the disk writer.
    public func close(timeout: TimeInterval = 30) { disk?.close(timeout: timeout) }

    /// Counters and sizes for `/metrics`.
    public var statistics: PrefixCacheStatistics {
        lock.lock()
        var s = counters
        lock.unlock()
        if let disk {
            s.diskBytes = disk.bytesOnDisk
            let c = disk.counters
            s.diskWrites = c.writtenBlocks
            s.diskWritesDropped = c.droppedWrites
            s.diskEvictions = c.evictedFiles
            s.diskFilesDiscarded = c.discardedFiles
        }
        return s
    }
}

/// What the prefix cache did since start (blocks), and what it holds (bytes).
public struct PrefixCacheStatistics: Sendable {
    /// Blocks found in RAM / read back from disk for a new request.
    public var hits = 0
    public var diskHits = 0
    /// Whole prompt blocks looked up and not found.
    public var misses = 0
    /// Blocks dropped from RAM to stay under `--cache-ram`.
    public var evictions = 0
    public var ramBytes = 0
    public var ramBlocks = 0
    public var diskBytes = 0
    public var diskWrites = 0
    public var diskWritesDropped = 0
    public var diskEvictions = 0
    public var diskFilesDiscarded = 0
}
