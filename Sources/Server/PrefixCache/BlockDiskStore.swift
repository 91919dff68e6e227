import Foundation

/// The prefix cache's disk tier (`--cache-dir`): one file per block, `<fingerprint>-<key>.kvblock`, written by a background
/// thread (`enqueue` only appends to a queue, so generation never waits for the disk) and read back when a request
/// needs a block that is no longer in RAM. Bounded by `budget` bytes: beyond it the least recently used files go.
///
/// File layout (little-endian), `headerSize = 88 + 4·B` bytes, then the block's KV bytes:
/// `"GLMSKVB1"`, version (u32), block tokens B (u32), model fingerprint (16 bytes), key (16), parent key (16),
/// depth (u64), KV byte count (u64), checksum of tokens + KV bytes (u64), the B tokens (i32).
///
/// A file with another fingerprint, block size or KV size is ignored (left in place). A file with ours that is
/// truncated, longer than it should be, or whose checksum or tokens do not match is discarded with a warning
/// and deleted, never loaded. Files are written under a temporary name and renamed, so a crash leaves no
/// half-written `.kvblock`.
final class BlockDiskStore: @unchecked Sendable {
    static let magic = Array("GLMSKVB1".utf8)
    static let version: UInt32 = 1
    static let suffix = ".kvblock"

    let directory: URL
    let budget: Int
    let fingerprint: ModelFingerprint
    let blockTokens: Int
    let blockBytes: Int
    private let log: @Sendable (String) -> Void

    private struct Entry { var bytes: Int; var lastUsed: UInt64 }
    private let lock = NSCondition()
    private var index: [BlockKey: Entry] = [:]
    private var clock: UInt64 = 0
    private var stored = 0
    private var pending: [KVBlock] = []
    private var pendingBytes = 0
    private var writing = false
    private var closing = false
    private var statistics = Statistics()
    private var writer: Thread?
    /// Blocks waiting to be written may hold at most this much memory; further writes are dropped (counted).
    let maxPendingBytes: Int

    struct Statistics {
        var discardedFiles = 0
        var droppedWrites = 0
        var writtenBlocks = 0
        var evictedFiles = 0
        var loadedBlocks = 0
    }

    var headerSize: Int { 88 + 4 * blockTokens }
    var fileSize: Int { headerSize + blockBytes }

    init(directory: URL, budget: Int, fingerprint: ModelFingerprint, blockTokens: Int, blockBytes: Int,
         maxPendingBytes: Int = 512 << 20, log: @escaping @Sendable (String) -> Void) throws {
        self.directory = directory
        self.budget = budget
        self.fingerprint = fingerprint
        self.blockTokens = blockTokens
        self.blockBytes = blockBytes
        self.maxPendingBytes = max(maxPendingBytes, blockBytes)
        self.log = log
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        scan()
        let thread = Thread { [self] in writerLoop() }
        thread.name = "glmserve-cache-writer"
        writer = thread
        thread.start()
    }

    // MARK: reading

    /// Indexes the folder's files of this model (header only); ignores foreign ones, deletes broken ones.
    private func scan() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        var entries: [(BlockKey, Date, Int)] = []
        for name in names where name.hasSuffix(Self.suffix) {
            let url = directory.appendingPathComponent(name)
            guard let handle = try? FileHandle(forReadingFrom: url) else { continue }
            defer { try? handle.close() }
            let head = (try? handle.read(upToCount: headerSize)) ?? Data()
            let size = Int((try? handle.seekToEnd()) ?? 0)
            guard let header = Header(head, blockTokens: blockTokens), header.fingerprint == fingerprint.key,
                  header.payloadBytes == blockBytes else { continue }     // another model, KV type or format
            guard size == fileSize, fileURL(header.key).lastPathComponent == name else {
                discard(url, "\(size < fileSize ? "truncated" : "wrong size or name") (\(size) bytes, expected \(fileSize))")
                continue
            }
            let modified = (try? url.resourceValues(forKeys: [.contentModificationDateKey]))?.contentModificationDate
            entries.append((header.key, modified ?? .distantPast, size))
        }
        lock.lock()
        for (key, _, size) in entries.sorted(by: { $0.1 < $1.1 }) {   // oldest first: least recently used
            clock += 1
            index[key] = Entry(bytes: size, lastUsed: clock)
            stored += size
        }
        lock.unlock()
        if !entries.isEmpty {
            log("prefix cache: \(entries.count) blocks (\(ByteCountText.text(stored))) found in \(directory.path)")
        }
        evictOverBudget(keeping: nil)
    }

    func contains(_ key: BlockKey) -> Bool {
        lock.lock(); defer { lock.unlock() }
        return index[key] != nil
    }

    /// The block stored under `key`, if its file is whole and holds exactly `tokens` after `parent`.
    func load(_ key: BlockKey, parent: BlockKey, depth: Int, prompt: [Int]) -> KVBlock? {
        lock.lock()
        guard index[key] != nil else { lock.unlock(); return nil }
        clock += 1
        index[key]?.lastUsed = clock
        lock.unlock()
        let url = fileURL(key)
        guard let data = try? Data(contentsOf: url) else {
            forget(key)
            return nil
        }
        guard data.count == fileSize, let header = Header(data.prefix(headerSize), blockTokens: blockTokens),
              header.fingerprint == fingerprint.key, header.key == key, header.payloadBytes == blockBytes else {
            discard(url, "truncated or damaged header (\(data.count) bytes, expected \(fileSize))")
            forget(key)
            return nil
        }
        let block = KVBlock(key: key, parent: header.parent, depth: header.depth, tokens: header.tokens,
                            byteCount: blockBytes)
        data.withUnsafeBytes { raw in
            block.bytes.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[headerSize ..< fileSize]))
        }
        guard block.checksum == header.checksum else {
            discard(url, "checksum mismatch")
            forget(key)
            return nil
        }
        guard block.depth == depth, block.holds(prompt, parent: parent) else { return nil }   // a hash collision
        lock.lock(); statistics.loadedBlocks += 1; lock.unlock()
        return block
    }

    private func forget(_ key: BlockKey) {
        lock.lock()
        if let entry = index.removeValue(forKey: key) { stored -= entry.bytes }
        lock.unlock()
    }

    private func discard(_ url: URL, _ why: String) {
        log("warning: prefix cache file \(url.lastPathComponent) discarded: \(why)")
        try? FileManager.default.removeItem(at: url)
        lock.lock(); statistics.discardedFiles += 1; lock.unlock()
    }

    /// `<fingerprint>-<key>.kvblock`: models and KV types sharing a folder never overwrite each other's files.
    func fileURL(_ key: BlockKey) -> URL { directory.appendingPathComponent("\(fingerprint)-\(key)\(Self.suffix)") }

    // MARK: writing

    /// Queues `block` for writing unless it is on disk already (returns at once).
    func enqueue(_ block: KVBlock) {
        lock.lock(); defer { lock.unlock() }
        guard !closing, index[block.key] == nil, !pending.contains(where: { $0.key == block.key }) else { return }
        guard pendingBytes + block.byteCount <= maxPendingBytes else {
            statistics.droppedWrites += 1
            return
        }
        pending.append(block)
        pendingBytes += block.byteCount
        lock.broadcast()
    }

    /// Waits until every queued block is written (or `timeout` passes), then stops the writer.
    func close(timeout: TimeInterval = 30) {
        lock.lock()
        closing = true
        lock.broadcast()
        let deadline = Date().addingTimeInterval(timeout)
        while (!pending.isEmpty || writing) && lock.wait(until: deadline) {}
        lock.unlock()
    }

    /// Waits until the queue is empty (for tests and benchmarks).
    func waitUntilWritten(timeout: TimeInterval = 30) {
        lock.lock()
        let deadline = Date().addingTimeInterval(timeout)
        while (!pending.isEmpty || writing) && lock.wait(until: deadline) {}
        lock.unlock()
    }

    private func writerLoop() {
        while true {
            lock.lock()
            while pending.isEmpty && !closing { lock.wait() }
            if pending.isEmpty { lock.unlock(); return }
            let block = pending.removeFirst()
            writing = true
            lock.unlock()
            let written = write(block)
            lock.lock()
            pendingBytes -= block.byteCount
            writing = false
            if written {
                clock += 1
                if index.updateValue(Entry(bytes: fileSize, lastUsed: clock), forKey: block.key) == nil { stored += fileSize }
                statistics.writtenBlocks += 1
            }
            lock.broadcast()
            lock.unlock()
            if written { evictOverBudget(keeping: block.key) }
        }
    }

    private func write(_ block: KVBlock) -> Bool {
        var data = Data(capacity: fileSize)
        data.append(contentsOf: Self.magic)
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) } }
        append(Self.version)
        append(UInt32(blockTokens))
        append(fingerprint.key.high); append(fingerprint.key.low)
        append(block.key.high); append(block.key.low)
        append(block.parent.high); append(block.parent.low)
        append(UInt64(block.depth))
        append(UInt64(block.byteCount))
        append(block.checksum)
        for token in block.tokens { append(token) }
        data.append(contentsOf: UnsafeRawBufferPointer(block.bytes))
        let url = fileURL(block.key)
        let temporary = directory.appendingPathComponent(".\(block.key).\(getpid()).tmp")
        do {
            try data.write(to: temporary)
            guard rename(temporary.path, url.path) == 0 else {
                throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
            }
            return true
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            log("warning: prefix cache could not write \(url.lastPathComponent): \(error.localizedDescription)")
            return false
        }
    }

    /// Deletes least recently used files until the folder's blocks fit `budget`.
    private func evictOverBudget(keeping kept: BlockKey?) {
        while true {
            lock.lock()
            guard stored > budget,
                  let victim = index.filter({ $0.key != kept }).min(by: { $0.value.lastUsed < $1.value.lastUsed }) else {
                lock.unlock()
                return
            }
            index.removeValue(forKey: victim.key)
            stored -= victim.value.bytes
            statistics.evictedFiles += 1
            lock.unlock()
            try? FileManager.default.removeItem(at: fileURL(victim.key))
        }
    }

    var bytesOnDisk: Int {
        lock.lock(); defer { lock.unlock() }
        return stored
    }

    var counters: Statistics {
        lock.lock(); defer { lock.unlock() }
        return statistics
    }

    /// A cache file's fixed header.
    struct Header {
        var fingerprint: BlockKey, key: BlockKey, parent: BlockKey
        var depth: Int, payloadBytes: Int, checksum: UInt64
        var tokens: [Int32]

        /// nil unless `data` starts with the magic and version and says `blockTokens`.
        init?(_ data: Data, blockTokens: Int) {
            let bytes = [UInt8](data)
            guard bytes.count >= 88 + 4 * blockTokens, Array(bytes[0..<8]) == BlockDiskStore.magic else { return nil }
            func u64(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[at + $1]) << (8 * UInt64($1)) } }
            func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * UInt32($1)) } }
            guard u32(8) == BlockDiskStore.version, Int(u32(12)) == blockTokens else { return nil }
            fingerprint = BlockKey(high: u64(16), low: u64(24))
            key = BlockKey(high: u64(32), low: u64(40))
            parent = BlockKey(high: u64(48), low: u64(56))
            guard u64(64) < 1 << 40, u64(72) < 1 << 50 else { return nil }
            depth = Int(u64(64))
            payloadBytes = Int(u64(72))
            checksum = u64(80)
            tokens = (0..<blockTokens).map { Int32(bitPattern: u32(88 + 4 * $0)) }
        }
    }
}
