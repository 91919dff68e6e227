import ArgumentParser
import Engine

/// `--kv-type`, shared by every command that runs the model (`KVStorageType`).
struct KVTypeOption: ParsableArguments {
    @Option(name: .customLong("kv-type"), help: ArgumentHelp(
        "KV cache storage: f32, bf16 (half the memory) or q8 (int8 with a scale per token and head, about a quarter). "
            + "Default: bf16, or f32 with --exact.", valueName: "type"))
    var kvType: String?

    func validate() throws {
        if let kvType, KVStorageType(rawValue: kvType) == nil {
            throw ValidationError("--kv-type must be f32, bf16 or q8 (got '\(kvType)')")
        }
    }

    /// The type asked for, or the default for `numerics`.
    func storage(for numerics: NumericMode) -> KVStorageType {
        kvType.flatMap(KVStorageType.init(rawValue:)) ?? .default(for: numerics)
    }
}
