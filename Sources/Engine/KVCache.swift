/// Keys (after QK-norm and RoPE) and values (with bias) of every processed position, one f32 block per layer
/// (`[capacity, num_key_value_heads · head_dim]`). Made by `GLMModel.makeCache(capacity:)`.
public final class KVCache {
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
