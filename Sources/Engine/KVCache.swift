import CKernels

/// How a KV cache stores its keys and values (`--kv-type`): f32 (exact), bf16 (half the bytes; attention with
/// `vdpbf16ps`) or q8 (a quarter plus one f32 scale per position and KV head; attention with VNNI).
public enum KVStorageType: String, CaseIterable, Sendable {
    case f32, bf16, q8

    /// The default for a numeric mode: f32 under `--exact`, bf16 otherwise.
    public static func `default`(for numerics: NumericMode) -> KVStorageType { numerics == .exact ? .f32 : .bf16 }

    /// Bytes of one position of one layer: K and V rows of `heads × headDim` elements (and Q8's scales).
    public func bytesPerLayerPosition(heads: Int, headDim: Int) -> Int {
        switch self {
        case .f32: return 2 * heads * headDim * 4
        case .bf16: return 2 * heads * headDim * 2
        case .q8: return 2 * heads * (headDim + 4)
        }
    }

    var kernelType: Int32 {
        switch self {
        case .f32: return Int32(CK_KV_F32.rawValue)
        case .bf16: return Int32(CK_KV_BF16.rawValue)
        case .q8: return Int32(CK_KV_Q8.rawValue)
        }
    }

    var bytesPerElement: Int { self == .f32 ? 4 : self == .bf16 ? 2 : 1 }

    /// The attention routine decode uses for this type on this CPU (e.g. "avx512bf16").
    public var kernelName: String { String(cString: ck_kv_kernel_name(kernelType)) }
}

/// Keys (after QK-norm and RoPE) and values (with bias) of every processed position, one block per layer
/// (`[capacity, num_key_value_heads · head_dim]` elements of `storage`, plus Q8's scales `[capacity, heads]`).
/// Made by `GLMModel.makeCache(capacity:)`. It may move between threads but must not be used by two at once (like
/// the model it belongs to).
public final class KVCache: @unchecked Sendable {
    /// Positions held: the next token runs at position `count`.
    public private(set) var count: Int = 0
    public let capacity: Int
    public let storage: KVStorageType
    let layers: Int
    let width: Int
    let heads: Int
    /// True for the one-layer cache of the MTP layer (`GLMModel.makeMTPCache`).
    let isMTP: Bool
    /// Per layer: the kernels' view of its K, V (and scales).
    let kernelLayers: [ck_kv_layer]

    init(layers: Int, heads: Int, headDim: Int, capacity: Int, storage: KVStorageType = .f32, isMTP: Bool = false) {
        self.isMTP = isMTP
        self.layers = layers
        self.heads = heads
        self.width = heads * headDim
        self.capacity = capacity
        self.storage = storage
        let elements = max(capacity * heads * headDim, 1) * storage.bytesPerElement
        // Uninitialised allocations: pages are only committed as positions are written.
        kernelLayers = (0..<layers).map { _ in
            ck_kv_layer(type: storage.kernelType,
                        k: UnsafeMutableRawPointer.allocate(byteCount: elements, alignment: 64),
                        v: UnsafeMutableRawPointer.allocate(byteCount: elements, alignment: 64),
                        k_scale: storage == .q8 ? .allocate(capacity: max(capacity * heads, 1)) : nil,
                        v_scale: storage == .q8 ? .allocate(capacity: max(capacity * heads, 1)) : nil)
        }
    }

    deinit {
        for layer in kernelLayers {
            layer.k.deallocate(); layer.v.deallocate()
            layer.k_scale?.deallocate(); layer.v_scale?.deallocate()
        }
    }

    /// Forgets every position from `count` on (e.g. to reuse a shared prompt prefix, or to drop rejected drafts).
    public func truncate(to count: Int) {
        self.count = min(self.count, max(0, count))
    }

    /// Stores `tokens` rows of f32 K and V (`[tokens, width]`, from row `firstRow` of `k` and `v`) for `layer` at
    /// positions `count ..< count + tokens`, converted to `storage`.
    func store(layer: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, tokens: Int) {
        withUnsafePointer(to: kernelLayers[layer]) { view in
            ck_kv_store(view, Int64(count), Int64(tokens), Int64(heads), Int64(width / heads), k, v)
        }
    }

    func advance(by tokens: Int) { count += tokens }
}

// MARK: moving positions in and out (the server's prefix cache)

extension KVCache {
    /// Name of the element type the cache stores (part of a prefix-cache file's fingerprint).
    public var storageName: String { storage.rawValue }

    /// Bytes one position takes: its K and V rows (and Q8 scales) in every layer.
    public var bytesPerPosition: Int { layers * storage.bytesPerLayerPosition(heads: heads, headDim: width / heads) }

    /// Copies positions `range` (all below `count`) into `destination` (`range.count · bytesPerPosition` bytes),
    /// layer by layer: that layer's K rows, its V rows, then (Q8) the K and V scales. `appendPositions` reads the
    /// same layout.
    public func copyPositions(_ range: Range<Int>, into destination: UnsafeMutableRawPointer) {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "copyPositions outside the cache")
        var out = destination
        forEachRowArray { base, rowBytes in
            let bytes = range.count * rowBytes
            out.copyMemory(from: base + range.lowerBound * rowBytes, byteCount: bytes)
            out += bytes
        }
    }

    /// Appends `positions` positions from `source` (laid out as `copyPositions` writes them) at `count`.
    public func appendPositions(_ positions: Int, from source: UnsafeRawPointer) throws {
        guard positions >= 0, count + positions <= capacity else {
            throw EngineError.cacheFull(count: count, adding: positions, capacity: capacity)
        }
        var input = source
        forEachRowArray { base, rowBytes in
            let bytes = positions * rowBytes
            (base + count * rowBytes).copyMemory(from: input, byteCount: bytes)
            input += bytes
        }
        count += positions
    }

    /// Every per-position array in the order `copyPositions` lays them out (per layer: K rows, V rows, then Q8's
    /// K and V scales), with the bytes one position takes in it.
    private func forEachRowArray(_ body: (UnsafeMutableRawPointer, Int) -> Void) {
        let rowBytes = width * storage.bytesPerElement
        for layer in kernelLayers {
            body(layer.k, rowBytes)
            body(layer.v, rowBytes)
            if let ks = layer.k_scale, let vs = layer.v_scale {
                body(UnsafeMutableRawPointer(ks), heads * MemoryLayout<Float>.size)
                body(UnsafeMutableRawPointer(vs), heads * MemoryLayout<Float>.size)
            }
        }
    }
}

extension GLMModel {
    /// KV-cache bytes per position of the main model (`KVCache.bytesPerPosition` of `makeCache`).
    public var kvBytesPerPosition: Int {
        config.numHiddenLayers * kvStorage.bytesPerLayerPosition(heads: config.numKeyValueHeads, headDim: config.headDim)
    }

    /// KV-cache bytes per position of the MTP layer's cache (0 without one).
    public var mtpKVBytesPerPosition: Int {
        hasMTP ? kvStorage.bytesPerLayerPosition(heads: config.numKeyValueHeads, headDim: config.headDim) : 0
    }
}

extension KVCache {
    /// Causal GQA attention of `tokens` new queries (`[tokens, heads · headDim]`, at positions
    /// `count ..< count + tokens`, their own K/V already stored) over this layer's cache, softmax scale
    /// 1/√headDim, into `context`. The storage type's kernel runs (`ck_attention_kv`).
    func attend(layer: Int, queries: UnsafePointer<Float>, tokens: Int, heads: Int, headDim: Int,
                into context: UnsafeMutablePointer<Float>) {
        withUnsafePointer(to: kernelLayers[layer]) { view in
            ck_attention_kv(queries, Int64(tokens), Int64(count), Int64(heads), Int64(self.heads), Int64(headDim),
                            view, context, 1 / Float(headDim).squareRoot())
        }
    }
}
