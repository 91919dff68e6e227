import Engine
import Foundation

extension GLMServer {
    /// Checks that `--parallel` KV caches of `contextSize` positions (and an explicit `--cache-ram`) fit in the
    /// memory available now, and makes the prefix cache (nil with `--cache-ram 0` or a model too big for a block).
    /// KV bytes one position of a slot takes (main cache, plus the MTP cache with `--speculative mtp`).
    static func slotBytesPerPosition(_ options: ServerOptions, model: GLMModel) -> Int {
        model.kvBytesPerPosition + (options.speculativeMTP ? model.mtpKVBytesPerPosition : 0)
    }

    static func makePrefixCache(_ options: ServerOptions, model: GLMModel, contextSize: Int) throws -> PrefixCache? {
        let perPosition = slotBytesPerPosition(options, model: model)
        let slotBytes = options.parallel * contextSize * perPosition
        let available = options.availableMemory.map { $0() } ?? SystemMemory.availableBytes()
        if let available, slotBytes + (options.cacheRAMBytes ?? 0) > available {
            let cacheText = options.cacheRAMBytes.map { " plus --cache-ram \(ByteCountText.text($0))" } ?? ""
            throw ServerStartError.unsupportedOption(
                "--ctx-size \(contextSize) × --parallel \(options.parallel) needs \(ByteCountText.text(slotBytes)) of KV cache "
                + "(\(perPosition) bytes per token)\(cacheText), but only \(ByteCountText.text(available)) of memory is "
                + "available; lower --ctx-size, --parallel or --cache-ram")
        }
        let ramBudget = options.cacheRAMBytes ?? max(0, ((available ?? 0) - slotBytes) / 4)
        guard ramBudget > 0 || options.cacheDirectory != nil else { return nil }
        var fingerprint: ModelFingerprint?
        let blockTokens = max(1, options.cacheBlockTokens)
        let layout = "\(model.makeCache(capacity: 1).storageName) bytes/position=\(model.kvBytesPerPosition) block=\(blockTokens)"
        if options.cacheDirectory != nil {
            fingerprint = try ModelFingerprint.of(modelDirectory: options.modelDirectory, kvLayout: layout)
        }
        let log = options.http.log
        let cache = try PrefixCache(blockTokens: blockTokens, bytesPerPosition: model.kvBytesPerPosition,
                                    ramBudget: ramBudget, directory: options.cacheDirectory,
                                    diskBudget: options.cacheDiskBytes, fingerprint: fingerprint, log: log)
        log("prefix cache: \(ByteCountText.text(ramBudget)) in RAM, blocks of \(blockTokens) tokens "
            + "(\(ByteCountText.text(cache.blockBytes)) each)"
            + (options.cacheDirectory.map { ", disk tier \($0.path) up to \(ByteCountText.text(options.cacheDiskBytes))" } ?? ""))
        return cache
    }
}
