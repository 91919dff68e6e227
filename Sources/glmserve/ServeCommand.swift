import ArgumentParser
import Engine
import Foundation
import Server

/// `glmserve serve`: the OpenAI-compatible HTTP server.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a GLM-4.x model over an OpenAI-compatible HTTP API (/v1/chat/completions).")

    @Option(help: "Model folder (config.json, safetensors, tokenizer.json).")
    var model: String = "Models/GLM-Tiny"

    @Option(help: "Address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "Port to listen on (0 picks a free one; the log says which).")
    var port: Int = 8080

    @Option(name: .customLong("api-key"), help: "Require this key (Authorization: Bearer or x-api-key). Default: $GLMSERVE_API_KEY.")
    var apiKey: String?

    @OptionGroup var engine: EngineOptions

    @Option(name: .customLong("max-queue"), help: "Requests that may wait while every --parallel slot is busy; more get 503.")
    var maxQueue: Int = 64

    @Option(help: "Requests generated at once, interleaved token by token (each keeps its own KV cache).")
    var parallel: Int = 1

    @Option(name: .customLong("ctx-size"), help: "Tokens per request, prompt + completion (default: the model's maximum, at most 32768).")
    var ctxSize: Int?

    @Option(help: "Speculative decoding: 'mtp' drafts one token per step with the model's MTP layer (default: off).")
    var speculative: String?

    @Option(name: .customLong("cache-ram"), help: "Prefix cache: memory for KV blocks shared by all requests, e.g. 8G, 512M; 0 turns it off (default: a quarter of the memory available at start once the --parallel KV caches are set aside).")
    var cacheRAM: String?

    @Option(name: .customLong("cache-dir"), help: "Prefix cache disk tier: blocks are also written to this folder (in the background) and reused after a restart with the same model.")
    var cacheDir: String?

    @Option(name: .customLong("cache-disk"), help: "Most bytes of blocks kept in --cache-dir (least recently used go first), e.g. 50G.")
    var cacheDisk: String = "20G"

    @Option(help: "Model id for /v1/models and the 'model' field (default: the folder name).")
    var alias: String?

    @Option(name: .customLong("request-timeout"), help: "Seconds a client may take to send a whole request (408 beyond).")
    var requestTimeout: Double = 30

    @Option(name: .customLong("idle-timeout"), help: "Seconds an idle connection is kept open.")
    var idleTimeout: Double = 30

    @Option(name: .customLong("max-body-bytes"), help: "Largest request body (413 beyond).")
    var maxBodyBytes: Int = 8 * 1024 * 1024

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard parallel >= 1 else { throw ValidationError("--parallel must be at least 1") }
        guard maxQueue >= 0 else { throw ValidationError("--max-queue must be 0 or more") }
        if let ctxSize, ctxSize < 2 { throw ValidationError("--ctx-size must be at least 2") }
        guard requestTimeout > 0, idleTimeout > 0 else { throw ValidationError("timeouts must be positive") }
        guard maxBodyBytes > 0 else { throw ValidationError("--max-body-bytes must be positive") }
        if let cacheRAM, ByteCountText.parseSize(cacheRAM) == nil {
            throw ValidationError("--cache-ram must be a size such as 8G, 512M or 0 (got '\(cacheRAM)')")
        }
        guard ByteCountText.parseSize(cacheDisk) != nil else {
            throw ValidationError("--cache-disk must be a size such as 50G or 512M (got '\(cacheDisk)')")
        }
        if let speculative, !["mtp", "off", "none"].contains(speculative) {
            throw ValidationError("--speculative must be 'mtp' (or 'off')")
        }
    }

    func run() throws {
        let directory = URL(fileURLWithPath: model)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            // Not a ValidationError: ArgumentParser prints those with the whole usage text.
            throw ServerStartError.modelNotFound("no model folder at '\(model)'. Pass --model DIR (a folder with "
                + "config.json, *.safetensors and tokenizer.json).")
        }
        var options = ServerOptions(modelDirectory: directory)
        options.modelID = alias
        options.apiKey = apiKey ?? ProcessInfo.processInfo.environment["GLMSERVE_API_KEY"]
        options.threads = engine.threads
        options.numa = engine.numa.policy
        options.numerics = engine.numerics.mode
        options.quantize = engine.numerics.quantize
        options.kvStorage = engine.kvStorage
        options.maxQueue = maxQueue
        options.parallel = parallel
        options.contextSize = ctxSize
        options.speculativeMTP = speculative == "mtp"
        options.cacheRAMBytes = cacheRAM.flatMap(ByteCountText.parseSize)
        options.cacheDirectory = cacheDir.map { URL(fileURLWithPath: $0) }
        options.cacheDiskBytes = ByteCountText.parseSize(cacheDisk) ?? options.cacheDiskBytes
        options.http.host = host
        options.http.port = port
        options.http.requestTimeout = requestTimeout
        options.http.idleTimeout = idleTimeout
        options.http.maxBodyBytes = maxBodyBytes
        options.http.log = { ServeCommand.log($0) }

        ServeCommand.log("loading \(directory.path) ...")
        let started = Date()
        let reported = ProgressMark()
        let server = try GLMServer(options: options) { progress in
            guard progress.bytesTotal > 0 else { return }
            let tenth = progress.bytesLoaded * 10 / progress.bytesTotal
            if tenth > reported.value {
                reported.value = tenth
                ServeCommand.log("loaded \(tenth * 10)% ("
                    + ByteCountText.progress(progress.bytesLoaded, of: progress.bytesTotal) + ")")
            }
        }
        let threadCount = GLMModel.poolThreads     // as started: --numa isolate and the pool's limit change it
        ServeCommand.log(String(format: "model '%@' loaded in %.1f s: %@ of weights (%@, %.2f bits per weight), context %d tokens, %d threads, %d parallel%@",
                                server.model.id, Date().timeIntervalSince(started),
                                ByteCountText.text(server.weightBytes), server.weightFormat, server.bitsPerWeight, server.model.contextSize, threadCount, parallel,
                                options.speculativeMTP ? ", speculative decoding: mtp" : ""))
        let storage = engine.kvStorage
        ServeCommand.log("KV cache: \(storage.rawValue), \(server.kvBytesPerPosition) bytes per token "
            + "(decode attention: \(storage.kernelName))")
        ServeCommand.log("memory: \(ServeCommand.residentMemory()) resident; API key \(options.apiKey?.isEmpty == false ? "required" : "not required")")
        let shownHost = server.address.hasPrefix("[") || !host.contains(":") ? server.address : "[\(host)]:\(server.port)"
        ServeCommand.log("listening on http://\(shownHost) (port \(server.port))")
        server.shutDownOnSignals()
        server.run()
        ServeCommand.log("stopped")
    }

    static func log(_ line: String) {
        FileHandle.standardError.write(Data("glmserve: \(line)\n".utf8))
    }

    /// `VmRSS` from /proc/self/status, e.g. "412.3 MiB".
    static func residentMemory() -> String {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return "unknown" }
        return String(format: "%.1f MiB", kib / 1024)
    }
}

/// The last tenth of the load reported.
private final class ProgressMark: @unchecked Sendable {
    var value = 0
}
