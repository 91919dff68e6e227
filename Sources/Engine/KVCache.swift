/// Keys (after QK-norm and RoPE) and values (with bias) of every processed position, one f32 block per layer
/// (`[capacity, num_key_value_heads · head_dim]`). Made by `GLMModel.makeCache(capacity:)`.
/// It may move between threads but must not be used by two at once (like the model it belongs to).
public final class KVCache: @unchecked Sendable {
    /// Positions held: the next token runs at position `count`.
    public private(set) var count: Int = 0
    public let capacity: Int
    let layers: Int
    let width: Int
    /// True for the one-layer cache of the MTP layer (`GLMModel.makeMTPCache`).
    let isMTP: Bool
    let keys: [UnsafeMutablePointer<Float>]
    let values: [UnsafeMutablePointer<Float>]

    init(layers: Int, width: Int, capacity: Int, isMTP: Bool = false) {
        self.isMTP = isMTP
        self.layers = layers
        self.width = width
        self.capacity = capacity
        // Uninitialised allocations: pages are only committed as positions are written.
        keys = (0..<layers).map { _ in .allocate(capacity: max(capacity * width, 1)) }
        values = (0..<layers).map { _ in .allocate(capacity: max(capacity * width, 1)) }
    }

    deinit {
        keys.forEach { $0.deallocate() }
        values.forEach { $0.deallocate() }
    }

    /// Forgets every position from `count` on (e.g. to reuse a shared prompt prefix, or to drop rejected drafts).
    public func truncate(to count: Int) {
        self.count = min(self.count, max(0, count))
    }

    /// Stores `tokens` rows of K and V for `layer` at positions `count ..< count + tokens`.
    func store(layer: Int, keys k: [Float], values v: [Float], tokens: Int) {
        let offset = count * width
        k.withUnsafeBufferPointer { keys[layer].advanced(by: offset).update(from: $0.baseAddress!, count: tokens * width) }
        v.withUnsafeBufferPointer { values[layer].advanced(by: offset).update(from: $0.baseAddress!, count: tokens * width) }
    }

    func advance(by tokens: Int) { count += tokens }
}

// MARK: moving positions in and out (the server's prefix cache)

extension KVCache {
    /// Name of the element type the cache stores (part of a prefix-cache file's fingerprint).
    public var storageName: String { "f32" }

    /// Bytes one position takes: its K and V rows in every layer.
    public var bytesPerPosition: Int { layers * 2 * width * MemoryLayout<Float>.stride }

    /// Copies positions `range` (all below `count`) into `destination` (`range.count · bytesPerPosition` bytes),
    /// layer by layer: that layer's K rows, then its V rows. `appendPositions` reads the same layout.
    public func copyPositions(_ range: Range<Int>, into destination: UnsafeMutableRawPointer) {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "copyPositions outside the cache")
        let rows = range.count * width
        var out = destination.assumingMemoryBound(to: Float.self)
        for layer in 0..<layers {
            out.update(from: keys[layer] + range.lowerBound * width, count: rows); out += rows
            out.update(from: values[layer] + range.lowerBound * width, count: rows); out += rows
        }
    }

    /// Appends `positions` positions from `source` (laid out as `copyPositions` writes them) at `count`.
    public func appendPositions(_ positions: Int, from source: UnsafeRawPointer) throws {
        guard positions >= 0, count + positions <= capacity else {
            throw EngineError.cacheFull(count: count, adding: positions, capacity: capacity)
        }
        let rows = positions * width
        var input = source.assumingMemoryBound(to: Float.self)
        for layer in 0..<layers {
            (keys[layer] + count * width).update(from: input, count: rows); input += rows
            (values[layer] + count * width).update(from: input, count: rows); input += rows
        }
        count += positions
    }
}

extension GLMModel {
    /// KV-cache bytes per position of the main model (`KVCache.bytesPerPosition` of `makeCache`).
    public var kvBytesPerPosition: Int { config.numHiddenLayers * 2 * config.numKeyValueHeads * config.headDim * MemoryLayout<Float>.stride }

    /// KV-cache bytes per position of the MTP layer's cache (0 without one).
    public var mtpKVBytesPerPosition: Int { hasMTP ? 2 * config.numKeyValueHeads * config.headDim * MemoryLayout<Float>.stride : 0 }
}
