import ArgumentParser
import Engine
import Foundation

/// `glmserve bench`: prefill and decode speed on deterministic pseudo-random token ids, and resident memory.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure prefill and decode tokens/s and resident memory.")

    @Option(name: .long, help: "Model folder (config.json + safetensors).")
    var model: String

    @Option(name: .customLong("prompt-tokens"), help: "Prompt length for the prefill measurement.")
    var promptTokens: Int = 128

    @Option(name: .customLong("new-tokens"), help: "Tokens decoded one at a time after the prompt.")
    var newTokens: Int = 32

    @Option(name: .long, help: "Threads (default: one per CPU).")
    var threads: Int?

    @OptionGroup var numa: NUMAOption

    @OptionGroup var numerics: NumericsOption

    @Option(name: .long, help: "Also decode this many sequences together (one token each per step) and report the total tokens/s.")
    var batch: Int = 1

    @Flag(name: .customLong("mtp"), help: "Also decode greedily with MTP speculative decoding (one draft per step) and compare with plain decoding.")
    var mtp = false

    func validate() throws {
        guard promptTokens >= 1, newTokens >= 1 else { throw ValidationError("--prompt-tokens and --new-tokens must be ≥ 1") }
        guard batch >= 1, batch <= 64 else { throw ValidationError("--batch must be in 1 ... 64") }
    }

    func run() throws {
        let glm = try loadModel(model, threads: threads, populate: true, numa: numa.policy, numerics: numerics.mode, quantize: numerics.quantize,
                                context: (promptTokens: promptTokens, newTokens: newTokens))
        let vocab = glm.config.vocabSize
        var state: UInt64 = 12345
        let prompt: [Int32] = (0..<promptTokens).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int32((state >> 33) % UInt64(vocab))
        }
        // Weights were faulted in at load (populate); one short warm-up pass starts the pool's threads.
        _ = try glm.forward([prompt[0]], cache: glm.makeCache(capacity: 2))

        let cache = glm.makeCache(capacity: promptTokens + newTokens)
        let prefillStart = Date()
        var logits = try glm.forward(prompt, cache: cache)
        let prefillSeconds = Date().timeIntervalSince(prefillStart)

        var times: [Double] = []
        var decoded: [Int32] = []
        for _ in 0..<newTokens {
            var best = 0
            for i in logits.indices where logits[i] > logits[best] { best = i }
            decoded.append(Int32(best))
            let start = Date()
            logits = try glm.forward([Int32(best)], cache: cache)
            times.append(Date().timeIntervalSince(start))
        }
        let decodeSeconds = times.reduce(0, +)
        let median = times.sorted()[times.count / 2]
        print(String(format: "model        %@ (%.3f GB of weights, %d threads)", model, Double(glm.weightBytes) / 1e9, glm.threads))
        print(String(format: "format       %@, %.2f bits per weight, %.1f MB of active weights per token", glm.weightFormat,
                     glm.bitsPerWeight, Double(glm.activeWeightBytesPerToken) / 1e6))
        print(String(format: "prefill      %d tokens in %.3f s = %.1f tokens/s", promptTokens, prefillSeconds,
                     Double(promptTokens) / prefillSeconds))
        print(String(format: "decode       %d tokens in %.3f s = %.2f tokens/s (median step %.1f ms)", newTokens,
                     decodeSeconds, Double(newTokens) / decodeSeconds, median * 1000))
        let active = Double(glm.activeWeightBytesPerToken)
        print(String(format: "weights/token %.1f MB read per decoded token = %.1f GB/s effective at the median step",
                     active / 1e6, active / median / 1e9))
        if batch > 1 {
            // Each sequence gets a short prompt of its own; then all decode together, one token each per step.
            let caches = (0..<batch).map { _ in glm.makeCache(capacity: 8 + newTokens) }
            var next = try glm.forward(batch: caches.enumerated().map { i, cache in
                .init(tokens: Array(prompt.prefix(8)).map { ($0 + Int32(i)) % Int32(vocab) }, cache: cache)
            })
            let start = Date()
            for _ in 0..<newTokens {
                next = try glm.forward(batch: zip(caches, next).map { cache, logits in
                    var best = 0
                    for i in logits.indices where logits[i] > logits[best] { best = i }
                    return .init(tokens: [Int32(best)], cache: cache)
                })
            }
            let seconds = Date().timeIntervalSince(start)
            print(String(format: "batch decode %d sequences x %d tokens in %.3f s = %.2f tokens/s in total", batch, newTokens,
                         seconds, Double(batch * newTokens) / seconds))
        }
        if mtp {
            try MTPBench(model: glm, prompt: prompt, plainTokens: decoded, plainSeconds: decodeSeconds).run()
        }
        print("resident     \(residentMemory())")
    }

    /// VmRSS from /proc/self/status.
    private func residentMemory() -> String {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return "unknown" }
        return line.dropFirst("VmRSS:".count).trimmingCharacters(in: .whitespaces)
    }
}
