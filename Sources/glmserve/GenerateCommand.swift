import ArgumentParser
import Engine
import Foundation
import Server

/// `glmserve generate`: greedy (or temperature) decoding from token ids with the KV cache.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "Generate token ids after --token-ids (greedy at temperature 0).")

    @Option(name: .long, help: "Model folder (config.json + safetensors).")
    var model: String

    @Option(name: .customLong("token-ids"), help: "Comma-separated prompt token ids, e.g. 1,2,3.")
    var tokenIDs: String

    @Option(name: .customLong("max-tokens"), help: "Tokens to generate at most.")
    var maxTokens: Int = 16

    @Option(name: .long, help: "Sampling temperature; 0 is greedy.")
    var temperature: Double = 0

    @Option(name: .long, help: "Random seed for temperature > 0.")
    var seed: UInt64 = 0

    @Flag(name: .customLong("ignore-eos"), help: "Do not stop at the config's eos ids.")
    var ignoreEOS = false

    @Flag(name: .long, help: "Greedy speculative decoding with the checkpoint's MTP layer (one draft per step; same tokens).")
    var mtp = false

    @Flag(name: .long, help: "Print one JSON object instead of text.")
    var json = false

    @OptionGroup var engine: EngineOptions

    func validate() throws {
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must not be negative") }
        guard temperature >= 0, temperature.isFinite else { throw ValidationError("--temperature must be ≥ 0") }
        guard !mtp || temperature == 0 else { throw ValidationError("--mtp supports greedy decoding only (--temperature 0)") }
    }

    func run() throws {
        let prompt = try parseTokenIDs(tokenIDs)
        // The MTP loop keeps one more position for its draft.
        let glm = try engine.load(model, context: (promptTokens: prompt.count, newTokens: maxTokens + (mtp ? 1 : 0)))
        let cache = glm.makeCache(capacity: prompt.count + maxTokens)
        var parameters = SamplingParameters()          // the server's sampler: same seed, same draws
        parameters.temperature = temperature
        parameters.seed = seed
        var sampler = Sampler(parameters: parameters)
        let eos = Set(glm.config.eosTokenIds.map(Int32.init))

        var generated: [Int32] = []
        var finish = "length"
        var extra: [String: Any] = [:]
        let prefillStart = Date()
        var prefillSeconds = 0.0, decodeSeconds = 0.0
        if mtp {
            // Prefill and decode are interleaved inside the speculative loop: report the whole as decode time.
            let result = try glm.generateGreedyWithMTP(
                prompt: prompt, maxTokens: maxTokens, stopTokens: ignoreEOS ? [] : eos,
                cache: glm.makeCache(capacity: prompt.count + maxTokens + 1),
                mtpCache: glm.makeMTPCache(capacity: prompt.count + maxTokens + 1))
            decodeSeconds = Date().timeIntervalSince(prefillStart)
            generated = result.tokens
            if let last = generated.last, !ignoreEOS, eos.contains(last) { finish = "stop" }
            extra = ["mtp_drafted": result.drafted, "mtp_accepted": result.accepted]
        } else {
            var logits = try glm.forward(prompt, cache: cache)
            prefillSeconds = Date().timeIntervalSince(prefillStart)
            let decodeStart = Date()
            while generated.count < maxTokens {
                let next = Int32(sampler.sample(logits))
                sampler.accept(Int(next))
                generated.append(next)
                if !ignoreEOS && eos.contains(next) { finish = "stop"; break }
                if generated.count == maxTokens { break }
                logits = try glm.forward([next], cache: cache)
            }
            decodeSeconds = Date().timeIntervalSince(decodeStart)
        }
        let decodeSteps = mtp ? generated.count : max(generated.count - 1, 0)
        if json {
            var object: [String: Any] = [
                "token_ids": generated.map(Int.init), "prompt_tokens": prompt.count, "finish_reason": finish,
                "prefill_seconds": prefillSeconds, "decode_seconds": decodeSeconds,
                "prefill_tokens_per_second": prefillSeconds > 0 ? Double(prompt.count) / prefillSeconds : 0,
                "decode_tokens_per_second": decodeSteps > 0 ? Double(decodeSteps) / max(decodeSeconds, 1e-9) : 0,
            ]
            object.merge(extra) { $1 }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(generated.map(String.init).joined(separator: ","))
            FileHandle.standardError.write(Data(String(format: "%d tokens (%@); prefill %.1f tok/s, decode %.1f tok/s\n",
                generated.count, finish, prefillSeconds > 0 ? Double(prompt.count) / prefillSeconds : 0,
                decodeSteps > 0 ? Double(decodeSteps) / max(decodeSeconds, 1e-9) : 0).utf8))
        }
    }
}
