import Foundation
import JSON

/// Sampling defaults and stop ids from a model folder's `generation_config.json` (all optional).
public struct GenerationDefaults: Sendable, Equatable {
    public var temperature: Double?
    public var topP: Double?
    public var topK: Int?
    public var eosTokenIDs: [Int] = []

    public init() {}

    /// Reads `generation_config.json` in `directory`; a missing file gives empty defaults.
    public static func load(from directory: URL) throws -> GenerationDefaults {
        let url = directory.appendingPathComponent("generation_config.json")
        guard FileManager.default.fileExists(atPath: url.path) else { return GenerationDefaults() }
        let value = try JSONValue.parse(try Data(contentsOf: url))
        var defaults = GenerationDefaults()
        defaults.temperature = value["temperature"]?.double
        defaults.topP = value["top_p"]?.double
        defaults.topK = value["top_k"]?.int
        if let single = value["eos_token_id"]?.int {
            defaults.eosTokenIDs = [single]
        } else if let list = value["eos_token_id"]?.array {
            defaults.eosTokenIDs = list.compactMap(\.int)
        }
        return defaults
    }
}
