import ArgumentParser
import Engine

/// What every command that runs the model takes (`serve`, `generate`, `score`, `bench`, `perplexity`): threads,
/// NUMA placement, the numeric mode with load-time quantisation (`--exact`, `--quantize`) and the KV cache type.
struct EngineOptions: ParsableArguments {
    @Option(name: .long, help: "Engine threads (default: one per CPU).")
    var threads: Int?

    @OptionGroup var numa: NUMAOption

    @OptionGroup var numerics: NumericsOption

    @OptionGroup var kv: KVTypeOption

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    /// The KV cache type asked for, or the default of the numeric mode.
    var kvStorage: KVStorageType { kv.storage(for: numerics.mode) }

    /// Loads `path` with these options (see `loadModel`) and sets its KV cache type.
    func load(_ path: String, populate: Bool = false,
              context: (promptTokens: Int, newTokens: Int)? = nil) throws -> GLMModel {
        let glm = try loadModel(path, threads: threads, populate: populate, numa: numa.policy, numerics: numerics.mode,
                                quantize: numerics.quantize, context: context)
        glm.kvStorage = kvStorage
        return glm
    }
}
