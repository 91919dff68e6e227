import ArgumentParser
import Engine
import Foundation
import SafeTensors

/// `glmserve score`: the logits of every position of a token sequence, written as an F32 safetensors tensor.
struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Write the logits of every position of --token-ids to a safetensors file (F32 'logits' [T, vocab]).")

    @Option(name: .long, help: "Model folder (config.json + safetensors).")
    var model: String

    @Option(name: .customLong("token-ids"), help: "Comma-separated token ids, e.g. 1,2,3.")
    var tokenIDs: String

    @Option(name: .long, help: "Output .safetensors file.")
    var output: String

    @OptionGroup var engine: EngineOptions

    func run() throws {
        let ids = try parseTokenIDs(tokenIDs)
        let glm = try engine.load(model, context: (promptTokens: ids.count, newTokens: 0))
        let cache = glm.makeCache(capacity: ids.count)
        let logits = try glm.forward(ids, cache: cache, logits: .all)
        var writer = SafeTensorsWriter()
        try writer.add(name: "logits", floats: logits, shape: [ids.count, glm.config.vocabSize])
        try writer.write(to: URL(fileURLWithPath: output))
    }
}
