import Foundation

/// A 128-bit hash that is the same in every process and on every run (Swift's `Hasher` is seeded per process),
/// for block keys, model fingerprints and cache-file checksums. Not cryptographic: the prefix cache also compares
/// every block's own tokens, so a collision would need two chains with equal keys *and* equal last blocks.
struct StableHasher {
    private var a: UInt64 = 0x243F_6A88_85A3_08D3
    private var b: UInt64 = 0x1319_8A2E_0370_7344

    static func mix(_ x: UInt64) -> UInt64 {       // SplitMix64's finaliser
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func combine(_ value: UInt64) {
        a = Self.mix(a ^ value)
        b = Self.mix(b ^ (value &* 0xFF51_AFD7_ED55_8CCD) ^ (a >> 17))
    }

    mutating func combine(_ key: BlockKey) {
        combine(key.high)
        combine(key.low)
    }

    mutating func combine(_ text: String) { combine(bytes: Array(text.utf8)) }

    mutating func combine(bytes: [UInt8]) { bytes.withUnsafeBytes { combine(bytes: $0) } }

    /// Eight bytes at a time, then the tail and the length (so "ab"+"c" and "a"+"bc" differ).
    mutating func combine(bytes: UnsafeRawBufferPointer) {
        let words = bytes.count / 8
        for i in 0..<words { combine(bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) }
        var tail: UInt64 = 0
        for i in (words * 8)..<bytes.count { tail = tail << 8 | UInt64(bytes[i]) }
        combine(tail)
        combine(UInt64(bytes.count))
    }

    var key: BlockKey { BlockKey(high: a, low: b) }
}

/// A prefix-cache block's identity: a hash chained over every token from position 0 to the block's end (the key of
/// block `i` is the hash of block `i - 1`'s key and block `i`'s tokens), so equal keys mean equal whole prefixes.
public struct BlockKey: Hashable, Sendable, CustomStringConvertible {
    public let high: UInt64
    public let low: UInt64

    /// The "parent" of block 0.
    public static let root = BlockKey(high: 0, low: 0)

    /// The key of the block holding `tokens` right after the block whose key is `self`.
    func chained(with tokens: ArraySlice<Int>) -> BlockKey {
        var hasher = StableHasher()
        hasher.combine(self)
        for token in tokens { hasher.combine(UInt64(bitPattern: Int64(token))) }
        hasher.combine(UInt64(tokens.count))
        return hasher.key
    }

    /// Keys of the whole blocks of `tokens` (a trailing partial block has none).
    static func chain(_ tokens: [Int], blockTokens: Int) -> [BlockKey] {
        var keys: [BlockKey] = []
        var parent = BlockKey.root
        for i in 0 ..< tokens.count / blockTokens {
            parent = parent.chained(with: tokens[i * blockTokens ..< (i + 1) * blockTokens])
            keys.append(parent)
        }
        return keys
    }

    /// 32 lowercase hex digits (a cache file's name).
    public var description: String { String(format: "%016llx%016llx", high, low) }
}

/// One block of KV positions: its key, its parent's key, its tokens and its bytes (`blockTokens` positions in the
/// layout of `PositionTransferSession.copyPositions`). Immutable once filled, so the RAM tier, a slot being filled
/// and the disk writer can hold it at once; ARC is its reference count and frees it after the last holder.
final class KVBlock: @unchecked Sendable {
    let key: BlockKey
    let parent: BlockKey
    /// Index of the block in its chain (block `depth` covers positions `depth·B ..< (depth+1)·B`).
    let depth: Int
    let tokens: [Int32]
    let bytes: UnsafeMutableRawBufferPointer

    init(key: BlockKey, parent: BlockKey, depth: Int, tokens: [Int32], byteCount: Int) {
        self.key = key
        self.parent = parent
        self.depth = depth
        self.tokens = tokens
        bytes = .allocate(byteCount: max(byteCount, 1), alignment: 64)
    }

    deinit { bytes.deallocate() }

    var byteCount: Int { bytes.count }

    /// Hash of the tokens and the bytes, stored in a cache file to catch corruption.
    var checksum: UInt64 {
        var hasher = StableHasher()
        tokens.withUnsafeBytes { hasher.combine(bytes: $0) }
        hasher.combine(bytes: UnsafeRawBufferPointer(bytes))
        return hasher.key.high
    }

    func holds(_ prompt: [Int], parent expected: BlockKey) -> Bool {
        guard parent == expected, (depth + 1) * tokens.count <= prompt.count else { return false }
        let start = depth * tokens.count
        for (i, token) in tokens.enumerated() where Int(token) != prompt[start + i] { return false }
        return true
    }
}
