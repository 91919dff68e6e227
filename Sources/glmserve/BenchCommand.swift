import ArgumentParser
import Engine
import Foundation

/// `glmserve bench`: prefill and decode speed on deterministic pseudo-random token ids, and resident memory;
/// with `--roofline`, against this machine's read bandwidth measured with the same threads in the same run.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure prefill and decode tokens/s and resident memory.")

    @Option(name: .long, help: "Model folder (config.json + safetensors).")
    var model: String

    @Option(name: .customLong("prompt-tokens"), help: "Prompt length for the prefill measurement.")
    var promptTokens: Int = 128

    @Option(name: .customLong("new-tokens"), help: "Tokens decoded one at a time after the prompt.")
    var newTokens: Int = 32

    @Option(name: .long, help: "Prefill runs (each from an empty cache); the median is reported.")
    var repeats: Int = 3

    @OptionGroup var engine: EngineOptions

    @Option(name: .long, help: "Decode after this many positions of context: the prompt's K/V rows are repeated to fill them (not timed), so long contexts need no long prefill. Default: the prompt only.")
    var context: Int?

    @Option(name: .long, help: "Also decode this many sequences together (one token each per step) and report the total tokens/s.")
    var batch: Int = 1

    @Flag(name: .customLong("mtp"), help: "Also decode greedily with MTP speculative decoding (one draft per step) and compare with plain decoding.")
    var mtp = false

    @Flag(name: .long, help: "Measure the read bandwidth with the same threads (before and after the model runs) and report decode as GB/s of weights and % of it, prefill as GFLOP/s.")
    var roofline = false

    @Flag(name: .long, help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        guard promptTokens >= 1, newTokens >= 1 else { throw ValidationError("--prompt-tokens and --new-tokens must be ≥ 1") }
        if let context, context < 1 { throw ValidationError("--context must be ≥ 1") }
        guard batch >= 1, batch <= 64 else { throw ValidationError("--batch must be in 1 ... 64") }
        guard (1...100).contains(repeats) else { throw ValidationError("--repeats must be in 1 ... 100") }
    }

    func run() throws {
        let glm = try engine.load(model, populate: true, context: (promptTokens: max(promptTokens, context ?? 0), newTokens: newTokens))
        let vocab = glm.config.vocabSize
        var state: UInt64 = 12345
        let prompt: [Int32] = (0..<promptTokens).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int32((state >> 33) % UInt64(vocab))
        }
        var report = BenchReport(model: model, threads: glm.threads, numerics: glm.numerics.rawValue,
                                 weightBytes: glm.weightBytes, activeBytesPerToken: glm.activeWeightBytesPerToken,
                                 weightFormat: glm.weightFormat, bitsPerWeight: glm.bitsPerWeight)
        if roofline { report.bandwidth += GLMModel.measureReadBandwidth() }
        // Weights were faulted in at load (populate); one short warm-up pass starts the pool's threads.
        _ = try glm.forward([prompt[0]], cache: glm.makeCache(capacity: 2))

        let cache = glm.makeCache(capacity: max(promptTokens, context ?? 0) + newTokens)
        var logits: [Float] = []
        for _ in 0..<repeats {
            cache.truncate(to: 0)
            let start = Date()
            logits = try glm.forward(prompt, cache: cache)
            report.prefillSeconds.append(Date().timeIntervalSince(start))
        }
        report.prefillTokens = promptTokens
        report.prefillFLOPs = glm.weightFLOPs(tokens: promptTokens, logitRows: 1)
        if let context, context > promptTokens {          // repeat the prompt's rows up to `context` positions
            let rows = UnsafeMutableRawPointer.allocate(byteCount: promptTokens * cache.bytesPerPosition, alignment: 64)
            defer { rows.deallocate() }
            while cache.count < context {
                let n = min(promptTokens, context - cache.count)
                cache.copyPositions(0 ..< n, into: rows)
                try cache.appendPositions(n, from: rows)
            }
            FileHandle.standardError.write(Data(String(format: "context      %d positions (the prompt's K/V repeated), %@ cache, attention %@\n",
                                                       cache.count, cache.storage.rawValue, cache.storage.kernelName).utf8))
        }

        var decoded: [Int32] = []
        for _ in 0..<newTokens {
            let next = argmax(logits)
            decoded.append(next)
            let start = Date()
            logits = try glm.forward([next], cache: cache)
            report.decodeSeconds.append(Date().timeIntervalSince(start))
        }
        if batch > 1 {
            // Each sequence gets a short prompt of its own; then all decode together, one token each per step.
            let caches = (0..<batch).map { _ in glm.makeCache(capacity: 8 + newTokens) }
            var next = try glm.forward(batch: caches.enumerated().map { i, cache in
                .init(tokens: Array(prompt.prefix(8)).map { ($0 + Int32(i)) % Int32(vocab) }, cache: cache)
            })
            let start = Date()
            for _ in 0..<newTokens {
                next = try glm.forward(batch: zip(caches, next).map { cache, logits in
                    .init(tokens: [argmax(logits)], cache: cache)
                })
            }
            report.batch = (batch, Double(batch * newTokens) / Date().timeIntervalSince(start))
        }
        if mtp {
            report.mtp = try MTPBench(model: glm, prompt: prompt, plainTokens: decoded,
                                      plainSeconds: report.decodeSeconds.reduce(0, +)).run()
            report.mtpAsked = true
        }
        if roofline { report.bandwidth += GLMModel.measureReadBandwidth() }
        report.residentBytes = residentBytes()
        print(json ? report.json : report.text)
    }

    private func argmax(_ values: [Float]) -> Int32 {
        var best = 0
        for i in values.indices where values[i] > values[best] { best = i }
        return Int32(best)
    }

    /// VmRSS from /proc/self/status, in bytes (0 if unknown).
    private func residentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kB = Int(line.dropFirst("VmRSS:".count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
        else { return 0 }
        return kB * 1024
    }
}

/// What `bench` measured, printed as text or JSON.
struct BenchReport {
    let model: String
    let threads: Int
    let numerics: String
    let weightBytes: Int
    let activeBytesPerToken: Int
    /// `GLMModel.weightFormat` and `bitsPerWeight` (e.g. "q4 (GLMServe blocks v1)", 4.52).
    let weightFormat: String
    let bitsPerWeight: Double
    var bandwidth: [Double] = []
    var prefillTokens = 0
    var prefillFLOPs = 0.0
    var prefillSeconds: [Double] = []
    var decodeSeconds: [Double] = []
    var batch: (sequences: Int, tokensPerSecond: Double)?
    var mtpAsked = false
    var mtp: MTPBench.Result?
    var residentBytes = 0

    private func median(_ values: [Double]) -> Double {
        values.isEmpty ? 0 : values.sorted()[values.count / 2]
    }

    var prefillMedian: Double { median(prefillSeconds) }
    var decodeMedian: Double { median(decodeSeconds) }
    var bandwidthMedian: Double { median(bandwidth) }
    /// Weight bytes per second at the median decode step, in GB/s.
    var decodeGBps: Double { Double(activeBytesPerToken) / decodeMedian / 1e9 }

    var text: String {
        var lines: [String] = []
        lines.append(String(format: "model        %@ (%.3f GB of weights, %d threads, %@ products)", model,
                            Double(weightBytes) / 1e9, threads, numerics))
        lines.append(String(format: "format       %@, %.2f bits per weight, %.1f MB of active weights per token", weightFormat,
                            bitsPerWeight, Double(activeBytesPerToken) / 1e6))
        if !bandwidth.isEmpty {
            lines.append(String(format: "bandwidth    %.1f GB/s read (median of %d passes over 1 GiB, before and after; min %.1f, max %.1f)",
                                bandwidthMedian, bandwidth.count, bandwidth.min()!, bandwidth.max()!))
        }
        lines.append(String(format: "prefill      %d tokens in %.3f s = %.1f tokens/s (median of %d), %.1f GFLOP/s of weight products",
                            prefillTokens, prefillMedian, Double(prefillTokens) / prefillMedian, prefillSeconds.count,
                            prefillFLOPs / prefillMedian / 1e9))
        lines.append(String(format: "decode       %d tokens, median step %.2f ms = %.2f tokens/s (mean %.2f tokens/s)",
                            decodeSeconds.count, decodeMedian * 1000, 1 / decodeMedian,
                            Double(decodeSeconds.count) / decodeSeconds.reduce(0, +)))
        var weights = String(format: "weights/token %.1f MB read per decoded token = %.1f GB/s at the median step",
                             Double(activeBytesPerToken) / 1e6, decodeGBps)
        if !bandwidth.isEmpty { weights += String(format: " = %.1f%% of the measured bandwidth", 100 * decodeGBps / bandwidthMedian) }
        lines.append(weights)
        if let batch {
            lines.append(String(format: "batch decode %d sequences: %.2f tokens/s in total", batch.sequences, batch.tokensPerSecond))
        }
        if mtpAsked {
            lines.append(mtp?.text ?? "mtp          the model has no MTP layer (num_nextn_predict_layers = 0)")
        }
        lines.append(String(format: "resident     %.2f GB", Double(residentBytes) / 1e9))
        return lines.joined(separator: "\n")
    }

    var json: String {
        var fields: [String] = [
            "\"model\": \"\(model.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))\"",
            "\"threads\": \(threads)", "\"numerics\": \"\(numerics)\"",
            "\"weight_bytes\": \(weightBytes)", "\"active_bytes_per_token\": \(activeBytesPerToken)",
            "\"weight_format\": \"\(weightFormat)\"", String(format: "\"bits_per_weight\": %.4f", bitsPerWeight),
            "\"prefill_tokens\": \(prefillTokens)",
            String(format: "\"prefill_seconds\": %.6f", prefillMedian),
            String(format: "\"prefill_tokens_per_second\": %.3f", Double(prefillTokens) / prefillMedian),
            String(format: "\"prefill_gflops\": %.3f", prefillFLOPs / prefillMedian / 1e9),
            "\"decode_tokens\": \(decodeSeconds.count)",
            String(format: "\"decode_median_step_seconds\": %.6f", decodeMedian),
            String(format: "\"decode_tokens_per_second\": %.3f", 1 / decodeMedian),
            String(format: "\"decode_weight_gbps\": %.3f", decodeGBps),
            "\"resident_bytes\": \(residentBytes)",
        ]
        if !bandwidth.isEmpty {
            fields.append(String(format: "\"bandwidth_gbps\": %.3f", bandwidthMedian))
            fields.append("\"bandwidth_passes_gbps\": [" + bandwidth.map { String(format: "%.3f", $0) }.joined(separator: ", ") + "]")
            fields.append(String(format: "\"decode_bandwidth_fraction\": %.4f", decodeGBps / bandwidthMedian))
        }
        if let batch {
            fields.append("\"batch_sequences\": \(batch.sequences)")
            fields.append(String(format: "\"batch_tokens_per_second\": %.3f", batch.tokensPerSecond))
        }
        if let mtp { fields += mtp.jsonFields }
        return "{" + fields.joined(separator: ", ") + "}"
    }
}
