import Foundation

/// Keeps KV caches from outgrowing memory at run time. A job whose cache would have to commit more bytes than
/// the memory available (minus `reserve`) is refused with `memoryShort` (a 503 with `Retry-After`) unless the
/// prefix cache's RAM tier could give the difference back, in which case blocks are evicted before the job runs.
public struct KVMemoryGuard: Sendable {
    /// KV bytes per position of a slot (0 turns the guard off).
    public var bytesPerPosition: Int
    /// Bytes always left free.
    public var reserve: Int
    /// Memory that can be allocated now (nil: unknown, no limit).
    public var available: @Sendable () -> Int?

    public init(bytesPerPosition: Int = 0, reserve: Int = 256 << 20,
                available: @escaping @Sendable () -> Int? = { SystemMemory.availableBytes() }) {
        self.bytesPerPosition = bytesPerPosition
        self.reserve = reserve
        self.available = available
    }

    /// Throws `memoryShort` if `growth` bytes cannot be had even after evicting `evictable` bytes of blocks.
    func check(_ growth: Int, evictable: Int) throws {
        guard bytesPerPosition > 0, growth > 0, let free = available() else { return }
        if growth + reserve > free + evictable {
            throw GenerationScheduler.SubmitError.memoryShort(neededBytes: growth, availableBytes: max(0, free - reserve))
        }
    }

    /// Evicts prefix-cache blocks until `growth` bytes fit next to the reserve (as far as the cache can).
    func makeRoom(for growth: Int, in cache: PrefixCache) {
        guard bytesPerPosition > 0, growth > 0, let free = available() else { return }
        let short = growth + reserve - free
        guard short > 0 else { return }
        cache.evict(toFit: max(0, cache.statistics.ramBytes - short))
    }
}
