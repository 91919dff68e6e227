import CKernels
import COpenBLAS
import Foundation
import SafeTensors

/// A loaded GLM-4.5 / 4.6 / 4.5-Air checkpoint, ready to score tokens.
/// Not reentrant: one caller at a time (the server serialises its calls).
public final class GLMModel: @unchecked Sendable {
    public let config: ModelConfig
    public let directory: URL
    let checkpoint: Checkpoint
    let model: Transformer
    /// Tensor bytes per dtype name of the weights the engine uses (e.g. ["BF16": …, "F32": …]).
    public let bytesByDType: [String: Int]
    /// Tensors the engine loaded and checked.
    public let tensorCount: Int
    /// How matrix products are computed (`--exact` or the fast default).
    public let numerics: NumericMode
    /// The GLMServe quantisation in use (`--quantize` at load, or a folder written by `glmserve quantize`).
    public let quantization: QuantizationType?
    /// Values of every tensor the engine loaded (weights, norms, biases).
    public let parameterCount: Int

    /// Bits per weight over every tensor loaded (16 for a BF16 checkpoint, ≈ 8.5 for `q8`).
    public var bitsPerWeight: Double { parameterCount > 0 ? Double(weightBytes) * 8 / Double(parameterCount) : 0 }

    /// The weights' format for logs and `/v1/models`: e.g. "q4 (GLMServe blocks v1)" or "BF16".
    public var weightFormat: String {
        if let quantization { return "\(quantization.rawValue) (GLMServe blocks v\(QuantizationFormat.version))" }
        return bytesByDType.max { $0.value < $1.value }?.key ?? "none"
    }
    /// How new KV caches store keys and values (`--kv-type`; default: `KVStorageType.default(for: numerics)`).
    public var kvStorage: KVStorageType
    /// The third-party quantized layout the weights were repacked from (compressed-tensors, AWQ, GPTQ, MLX), if any.
    public let quantizationSummary: String?
    /// When the folder has no MTP layer because its format's converter drops it (MLX), why; else nil.
    public let missingMTPReason: String?

    /// Threads of the engine's pool (the first `load` in a process fixes the count).
    public var threads: Int { Self.poolThreads }

    /// Threads the engine's pool runs in this process (1 before the first `load`): what `--threads`, the NUMA
    /// policy and the pool's own limit made of the count asked for.
    public static var poolThreads: Int { Int(ck_pool_threads()) }

    /// Bytes of weight data the engine uses (read in place from the mapped files).
    public var weightBytes: Int { bytesByDType.values.reduce(0, +) }

    /// Weight bytes one decoded token reads: every attention and dense matrix, the router, `num_experts_per_tok`
    /// routed experts and the shared expert of each MoE layer, `lm_head` and one embedding row (not the MTP layer).
    /// Decode speed is bounded by this divided by the memory bandwidth.
    public var activeWeightBytesPerToken: Int { model.activeWeightBytesPerToken }

    /// Multiply-adds of weight products in one forward pass of `tokens` tokens that asks for the logits of
    /// `logitRows` of them (prefill: 1): 2 FLOP per active weight and token, attention scores not counted.
    public func weightFLOPs(tokens: Int, logitRows: Int) -> Double {
        let elements = model.activeWeights { $0.rows * $0.cols }
        let embedding = config.hiddenSize          // the embedding row is a lookup, not a product
        return 2 * (Double(elements.trunk - embedding) * Double(tokens) + Double(elements.head) * Double(logitRows))
    }

    /// The machine's read bandwidth in GB/s (1e9 bytes/s) with the engine's pool threads: `repeats` passes over a
    /// fresh buffer of `bytes` bytes. Empty if the buffer cannot be allocated.
    public static func measureReadBandwidth(bytes: Int = 1 << 30, repeats: Int = 5) -> [Double] {
        var results = [Double](repeating: 0, count: max(repeats, 1))
        let status = results.withUnsafeMutableBufferPointer {
            ck_measure_read_bandwidth(Int64(bytes), Int32($0.count), $0.baseAddress)
        }
        return status == 0 ? results : []
    }

    public enum LogitsSelection: Sendable { case last, all }

    /// Opens the checkpoint in `directory`, checks every tensor against `config.json` and starts the thread pool
    /// (`threads` in total, default one per CPU). With `populate`, every weight page is faulted in while loading
    /// (`MAP_POPULATE`) instead of during the first forward passes. `numa` (nil: `.distribute` on a machine with
    /// several nodes, else nothing) places the weights and pins the pool; it implies `populate` (see docs/NUMA.md).
    /// `numerics` picks the fast products (default) or f32-exact ones (`NumericMode`).
    public static func load(from directory: URL, threads: Int? = nil, populate: Bool = false, numa: NUMAPolicy? = nil,
                            numerics: NumericMode = .fast, quantize: QuantizationType? = nil,
                            progress: ((LoadProgress) -> Void)? = nil) throws -> GLMModel {
        let config = try ModelConfig.load(from: directory)
        let stored = try storedQuantization(config)
        if let quantize, let stored {
            throw EngineError.invalidArgument("\(directory.lastPathComponent) is already quantised (\(stored.rawValue), "
                + "written by glmserve quantize); --quantize \(quantize.rawValue) applies to BF16/F16/F32/FP8 checkpoints only")
        }
        let placement = try NUMAPlacement.prepare(numa, threads: threads)
        let checkpoint: Checkpoint
        do {
            checkpoint = try placement?.whilePopulating { try Checkpoint(directory: directory, populate: true) }
                ?? Checkpoint(directory: directory, populate: populate)
        } catch let error as SafeTensorsError {
            throw EngineError.checkpoint(error.description)
        }
        ck_pool_start(Int32(threads ?? 0))
        placement?.pinWorkers()
        placement?.log()
        openblas_set_num_threads(1)     // the pool drives the cores; each GEMM tile runs single-threaded
        keepActivationMemory()
        return try GLMModel(config: config, directory: directory, checkpoint: checkpoint, numerics: numerics,
                            quantize: quantize, stored: stored, progress: progress)
    }

    /// The quantisation of a folder written by `glmserve quantize` (nil for other checkpoints); refuses a format
    /// version or type this build does not read.
    static func storedQuantization(_ config: ModelConfig) throws -> QuantizationType? {
        guard config.quantMethod == QuantizationFormat.method else { return nil }
        guard config.quantVersion == QuantizationFormat.version else {
            throw EngineError.invalidConfig(file: "config.json", problem: "quantization_config.version "
                + "\(config.quantVersion.map(String.init) ?? "(missing)") of the glmserve format is not supported "
                + "(this build reads version \(QuantizationFormat.version))")
        }
        guard let name = config.quantType, let type = QuantizationType(rawValue: name) else {
            throw EngineError.invalidConfig(file: "config.json", problem: "quantization_config.type "
                + "'\(config.quantType ?? "(missing)")' is not q8 or q4")
        }
        return type
    }

    /// A prefill pass allocates activation arrays of tens of MB per operation. glibc serves those with fresh
    /// mmaps by default, so every operation paid page faults and page zeroing again (≈ 8 % of a 512-token prefill,
    /// measured with perf). Served from the heap and not trimmed, they reuse the same pages; blocks of 256 MiB and
    /// more (KV caches) are still mapped on their own and returned when freed.
    private static func keepActivationMemory() {
        ck_keep_heap_memory(256 << 20, 1 << 30)
    }

    private init(config: ModelConfig, directory: URL, checkpoint: Checkpoint, numerics: NumericMode,
                 quantize: QuantizationType?, stored: QuantizationType?,
                 progress: ((LoadProgress) -> Void)?) throws {
        self.config = config
        self.numerics = numerics
        self.quantization = quantize ?? stored
        self.kvStorage = .default(for: numerics)
        self.directory = directory
        self.checkpoint = checkpoint
        let hasMTP = config.numNextnPredictLayers > 0
            && checkpoint.tensorNames.contains { $0.hasPrefix("model.layers.\(config.numHiddenLayers).") }
        let quantization = try QuantizedFormatDetection.detect(directory: directory)
        if let quantize, let quantization {
            throw EngineError.invalidArgument("\(directory.lastPathComponent) is already quantised (\(quantization.summary)); "
                + "--quantize \(quantize.rawValue) applies to BF16/F16/F32/FP8 checkpoints only")
        }
        let loader = try WeightLoader(checkpoint: checkpoint,
                                      tensorsTotal: Self.expectedTensorCount(config, checkpoint: checkpoint, mtp: hasMTP),
                                      numerics: numerics, quantization: quantization, quantizeTo: quantize, progress: progress)
        if let quantize, loader.isQuantizedFolder {
            throw EngineError.invalidArgument("\(directory.lastPathComponent) is already quantised (its safetensors files hold "
                + "glmserve blocks); --quantize \(quantize.rawValue) applies to BF16/F16/F32/FP8 checkpoints only")
        }
        if stored != nil, !loader.isQuantizedFolder {
            throw EngineError.invalidConfig(file: "config.json", problem: "quantization_config names the glmserve format "
                + "but no safetensors file has glmserve block metadata")
        }
        model = try Self.build(config, loader: loader, mtp: hasMTP)
        try quantization?.finish(file: directory.lastPathComponent + "/config.json", tensorNames: checkpoint.tensorNames)
        quantizationSummary = quantization?.summary
        missingMTPReason = hasMTP ? nil : quantization?.missingMTPReason
        bytesByDType = loader.bytesByDType
        tensorCount = loader.tensorsLoaded
        parameterCount = loader.parameterCount
    }

    /// Starts the engine's thread pool without loading a model (`glmserve quantize`); nil: one thread per CPU.
    public static func startPool(threads: Int?) { ck_pool_start(Int32(threads ?? 0)) }

    /// A KV cache for up to `capacity` positions (clamped to `1 ... max_position_embeddings`).
    public func makeCache(capacity: Int) -> KVCache {
        KVCache(layers: config.numHiddenLayers, heads: config.numKeyValueHeads, headDim: config.headDim,
                capacity: min(max(capacity, 1), config.maxPositionEmbeddings), storage: kvStorage)
    }

    /// Runs `tokens` at positions `cache.count ..< cache.count + tokens.count`, appends their K/V to `cache` and
    /// returns row-major logits: 1×vocab for `.last`, tokens.count×vocab for `.all`.
    /// Throws if the cache is full, the cache belongs to another model shape, or an id is out of range.
    public func forward(_ tokens: [Int32], cache: KVCache, logits: LogitsSelection = .last) throws -> [Float] {
        try forward(batch: [ForwardRequest(tokens: tokens, cache: cache, logits: logits)])[0]
    }

    /// One sequence of a batched forward: new tokens for one cache.
    public struct ForwardRequest {
        public let tokens: [Int32]
        public let cache: KVCache
        public let logits: LogitsSelection
        public init(tokens: [Int32], cache: KVCache, logits: LogitsSelection = .last) {
            self.tokens = tokens
            self.cache = cache
            self.logits = logits
        }
    }

    /// Several sequences (each with its own cache) in one pass: every weight matrix is streamed once for all of
    /// them, so e.g. one decode token for each of 4 concurrent requests costs little more than one. Results are
    /// in request order and equal (to float rounding) what separate `forward` calls give. Nothing is run and no
    /// cache changes if any request is invalid; every request needs its own cache.
    public func forward(batch: [ForwardRequest]) throws -> [[Float]] {
        try forward(batch: batch, trace: nil).map(\.logits)
    }

    /// `forward` that also returns the post-final-norm hidden states of the rows whose logits it returns
    /// (`[rows, hidden_size]`): what `lm_head` and the MTP layer consume.
    public func forwardWithHidden(_ tokens: [Int32], cache: KVCache,
                                  logits: LogitsSelection = .last) throws -> (logits: [Float], hidden: [Float]) {
        try forward(batch: [ForwardRequest(tokens: tokens, cache: cache, logits: logits)], trace: nil)[0]
    }

    func forward(batch: [ForwardRequest], trace: Trace?) throws -> [(logits: [Float], hidden: [Float])] {
        guard !batch.isEmpty else { throw EngineError.invalidArgument("forward needs at least one request") }
        var seen = Set<ObjectIdentifier>()
        for request in batch {
            let cache = request.cache
            guard !request.tokens.isEmpty else { throw EngineError.invalidArgument("forward needs at least one token") }
            guard seen.insert(ObjectIdentifier(cache)).inserted else {
                throw EngineError.invalidArgument("a batched forward got the same KV cache twice")
            }
            guard !cache.isMTP, cache.layers == config.numHiddenLayers, cache.width == config.numKeyValueHeads * config.headDim else {
                throw EngineError.invalidArgument("the KV cache was made for a different model")
            }
            for id in request.tokens where id < 0 || Int(id) >= config.vocabSize {
                throw EngineError.tokenOutOfRange(id: id, vocabSize: config.vocabSize)
            }
            guard cache.count + request.tokens.count <= cache.capacity else {
                throw EngineError.cacheFull(count: cache.count, adding: request.tokens.count, capacity: cache.capacity)
            }
        }
        let hidden = model.hiddenStates(batch.map { ($0.tokens, $0.cache) }, trace: trace)
        // lm_head only on the rows whose logits were asked for, all in one pass.
        let H = config.hiddenSize
        var selected: [Float] = []
        var counts: [Int] = []
        var row = 0
        for request in batch {
            let n = request.tokens.count
            let first = request.logits == .last ? row + n - 1 : row
            selected += hidden[first * H ..< (row + n) * H]
            counts.append(row + n - first)
            row += n
        }
        let logits = linear(model.lmHead, selected, tokens: counts.reduce(0, +))
        let V = config.vocabSize
        var results: [(logits: [Float], hidden: [Float])] = []
        var start = 0
        for count in counts {
            results.append((Array(logits[start * V ..< (start + count) * V]), Array(selected[start * H ..< (start + count) * H])))
            start += count
        }
        return results
    }

    // MARK: multi-token prediction

    /// Whether the checkpoint has the MTP layer (`model.layers.{num_hidden_layers}`).
    public var hasMTP: Bool { model.mtp != nil }

    /// A one-layer KV cache for the MTP layer.
    public func makeMTPCache(capacity: Int) -> KVCache {
        KVCache(layers: 1, heads: config.numKeyValueHeads, headDim: config.headDim,
                capacity: min(max(capacity, 1), config.maxPositionEmbeddings), storage: kvStorage, isMTP: true)
    }

    /// Runs the MTP layer (model-spec §4.4) on rows `i = 0 ..< tokens.count` at positions `cache.count + i` of the
    /// MTP cache: row `i` pairs token `tokens[i]` with `hidden[i]`, the main model's post-norm hidden state of the
    /// token before it (from `forwardWithHidden`), and its logits predict the token after `tokens[i]`.
    /// `zeroEmbeddingAtPositionZero` selects vLLM's variant (the embedding at position 0 is zero); the default is
    /// SGLang's / transformers' / llama.cpp's. Returns logits `[T, V]` and the layer output before
    /// `shared_head.norm` `[T, H]`.
    public func mtpForward(_ tokens: [Int32], hidden: [Float], cache: KVCache,
                           zeroEmbeddingAtPositionZero: Bool = false) throws -> (logits: [Float], output: [Float]) {
        guard let mtp = model.mtp else {
            throw EngineError.invalidArgument("\(directory.lastPathComponent) has no MTP layer (model.layers.\(config.numHiddenLayers))")
        }
        guard !tokens.isEmpty, hidden.count == tokens.count * config.hiddenSize else {
            throw EngineError.invalidArgument("mtpForward needs one hidden row of \(config.hiddenSize) values per token")
        }
        guard cache.isMTP, cache.width == config.numKeyValueHeads * config.headDim else {
            throw EngineError.invalidArgument("mtpForward needs a cache from makeMTPCache")
        }
        for id in tokens where id < 0 || Int(id) >= config.vocabSize {
            throw EngineError.tokenOutOfRange(id: id, vocabSize: config.vocabSize)
        }
        guard cache.count + tokens.count <= cache.capacity else {
            throw EngineError.cacheFull(count: cache.count, adding: tokens.count, capacity: cache.capacity)
        }
        return model.mtp(mtp, tokens: tokens, hidden: hidden, cache: cache,
                         zeroEmbeddingAtPositionZero: zeroEmbeddingAtPositionZero)
    }
}
