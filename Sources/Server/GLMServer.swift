import Engine
import Foundation
import HTTP
import Tokenizer

/// Settings of `glmserve serve`.
public struct ServerOptions: Sendable {
    public var modelDirectory: URL
    /// Model id clients send and `/v1/models` lists; defaults to the folder name.
    public var modelID: String?
    public var http = HTTPServerConfiguration()
    public var apiKey: String?
    /// Engine threads (nil: one per CPU).
    public var threads: Int?
    /// NUMA placement (nil: the engine's automatic choice).
    public var numa: NUMAPolicy?
    /// Fast (default) or f32-exact matrix products (`--exact`).
    public var numerics: NumericMode = .fast
    /// Quantise the weights while loading (`--quantize q8|q4`); nil: as stored.
    public var quantize: QuantizationType?
    /// KV cache storage (`--kv-type`); nil: `KVStorageType.default(for: numerics)`.
    public var kvStorage: KVStorageType?
    /// Generations interleaved token by token, each with its own KV cache.
    public var parallel = 1
    /// Requests that may wait while all `parallel` slots are busy.
    public var maxQueue = 64
    /// Tokens per sequence; nil: the model's maximum, capped at 32768.
    public var contextSize: Int?
    /// Speculative decoding with the model's MTP layer (`--speculative mtp`): each decode step drafts one token
    /// and verifies it together with the current one; the output distribution is unchanged.
    public var speculativeMTP = false
    /// Prefix cache (`--cache-ram`): bytes of KV blocks kept in memory for any later request; nil: a quarter of the
    /// memory available at start-up once the slots' KV caches are set aside; 0: no prefix cache (each slot still
    /// reuses its own last sequence).
    public var cacheRAMBytes: Int?
    /// Prefix cache disk tier (`--cache-dir`, `--cache-disk`): blocks are also written there and survive restarts.
    public var cacheDirectory: URL?
    public var cacheDiskBytes = 20 << 30
    /// Positions per prefix-cache block.
    public var cacheBlockTokens = 256
    /// Where the memory checks read the memory available (nil: `/proc/meminfo`'s `MemAvailable`); for tests.
    public var availableMemory: (@Sendable () -> Int?)?

    public init(modelDirectory: URL) { self.modelDirectory = modelDirectory }
}

/// Errors starting the server.
public enum ServerStartError: Error, CustomStringConvertible {
    case modelNotFound(String)
    /// An option the model cannot serve (e.g. `--speculative mtp` without an MTP layer).
    case unsupportedOption(String)

    public var description: String {
        switch self {
        case let .modelNotFound(message), let .unsupportedOption(message): return message
        }
    }
}

/// The whole server: the model, its generation worker, and the HTTP listener.
public final class GLMServer: @unchecked Sendable {
    public let model: ServedModel
    public let options: ServerOptions
    private let http: HTTPServer
    /// Bytes of weights the engine maps.
    public let weightBytes: Int
    /// The weights' format, e.g. "BF16" or "q4 (GLMServe blocks v1)" (`GLMModel.weightFormat`).
    public let weightFormat: String
    public let bitsPerWeight: Double
    /// KV cache bytes per token of one sequence (main model, in the `--kv-type`).
    public let kvBytesPerPosition: Int
    /// KV blocks shared by all requests (nil with `--cache-ram 0`).
    public let prefixCache: PrefixCache?

    /// Binds the listening socket (first, so a busy port fails before a long load), reads the tokenizer and
    /// generation_config.json (so a broken one fails in milliseconds), then loads the model's weights in
    /// `options.modelDirectory`. Connections made meanwhile wait in the backlog until `run()`.
    public init(options: ServerOptions, loadProgress: ((LoadProgress) -> Void)? = nil) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: options.modelDirectory.path, isDirectory: &isDirectory),
              isDirectory.boolValue else {
            throw ServerStartError.modelNotFound("no model folder at \(options.modelDirectory.path)")
        }
        let handler = LateBoundHandler()
        self.http = try HTTPServer(configuration: options.http, handler: handler)
        // The small files first: a broken tokenizer.json or generation_config.json fails in milliseconds, not
        // after the weights are loaded.
        let tokenizer = try Tokenizer(directory: options.modelDirectory)
        let defaults = try GenerationDefaults.load(from: options.modelDirectory)
        let glm = try GLMModel.load(from: options.modelDirectory, threads: options.threads, numa: options.numa,
                                    numerics: options.numerics, quantize: options.quantize,
                                    progress: loadProgress)
        glm.kvStorage = options.kvStorage ?? .default(for: options.numerics)
        if options.speculativeMTP && !glm.hasMTP {
            throw ServerStartError.unsupportedOption("--speculative mtp needs a model with an MTP layer "
                + "(model.layers.\(glm.config.numHiddenLayers).*, num_nextn_predict_layers ≥ 1); "
                + "\(options.modelDirectory.lastPathComponent) has none" + (glm.missingMTPReason.map { " (\($0))" } ?? ""))
        }
        let maximum = glm.config.maxPositionEmbeddings
        let contextSize = min(max(options.contextSize ?? min(maximum, 32768), 2), maximum)
        let id = options.modelID ?? options.modelDirectory.standardizedFileURL.lastPathComponent
        let prefixCache = try Self.makePrefixCache(options, model: glm, contextSize: contextSize)
        self.prefixCache = prefixCache
        self.model = ServedModel(id: id, tokenizer: tokenizer, defaults: defaults,
                                 modelEOSTokenIDs: glm.config.eosTokenIds,
                                 languageModel: try EngineLanguageModel(model: glm, speculative: options.speculativeMTP), contextSize: contextSize,
                                 parallel: options.parallel, maxQueue: options.maxQueue, prefixCache: prefixCache,
                                 memory: KVMemoryGuard(bytesPerPosition: Self.slotBytesPerPosition(options, model: glm),
                                                       available: options.availableMemory ?? { SystemMemory.availableBytes() }),
                                 log: options.http.log)
        self.options = options
        self.weightBytes = glm.weightBytes
        self.weightFormat = glm.weightFormat
        self.bitsPerWeight = glm.bitsPerWeight
        model.weightFormat = glm.weightFormat
        self.kvBytesPerPosition = glm.kvBytesPerPosition
        handler.set(APIRouter(model: model, apiKey: options.apiKey))
    }

    /// The bound port (useful with port 0).
    public var port: Int { http.port }
    /// `host:port` as bound.
    public var address: String { http.address }

    /// Serves until `shutdown()` (or SIGINT/SIGTERM after `shutDownOnSignals()`), then stops generation.
    public func run() {
        http.run()
        model.stop()
    }

    public func shutdown() { http.shutdown() }

    public func shutDownOnSignals() { http.shutDownOnSignals() }
}

/// Forwards to a handler set once the model is loaded; answers 503 before that.
final class LateBoundHandler: HTTPHandler, @unchecked Sendable {
    private let lock = NSLock()
    private var target: HTTPHandler?

    func set(_ handler: HTTPHandler) {
        lock.lock(); target = handler; lock.unlock()
    }

    func reply(to request: HTTPRequest, context: RequestContext) -> HTTPReply {
        lock.lock()
        let handler = target
        lock.unlock()
        guard let handler else {
            return .response(APIError(status: 503, message: "The model is loading.", code: "loading").response)
        }
        return handler.reply(to: request, context: context)
    }
}
