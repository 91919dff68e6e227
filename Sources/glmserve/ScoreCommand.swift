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

    @Option(name: .long, help: "Threads (default: one per CPU).")
    var threads: Int?

    func run() throws {
        let ids = try parseTokenIDs(tokenIDs)
        let glm = try loadModel(model, threads: threads)
        let cache = glm.makeCache(capacity: ids.count)
        let logits = try glm.forward(ids, cache: cache, logits: .all)
        var writer = SafeTensorsWriter()
        try writer.add(name: "logits", floats: logits, shape: [ids.count, glm.config.vocabSize])
        try writer.write(to: URL(fileURLWithPath: output))
    }
}

/// Parses "1, 2,3" into token ids.
func parseTokenIDs(_ text: String) throws -> [Int32] {
    let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    let ids = parts.compactMap { Int32($0) }
    guard !parts.isEmpty, ids.count == parts.count else {
        throw ValidationError("--token-ids must be a comma-separated list of integers, got '\(text)'")
    }
    return ids
}

/// Loads a model, drawing progress on stderr when it is a terminal, then one summary line on stderr.
func loadModel(_ path: String, threads: Int?, populate: Bool = false) throws -> GLMModel {
    let interactive = isatty(STDERR_FILENO) != 0
    let start = Date()
    var lastDraw = Date.distantPast
    let model = try GLMModel.load(from: URL(fileURLWithPath: path), threads: threads, populate: populate) { progress in
        guard interactive, Date().timeIntervalSince(lastDraw) > 0.1 || progress.tensorsLoaded == progress.tensorsTotal else { return }
        lastDraw = Date()
        let percent = progress.tensorsTotal > 0 ? 100 * progress.tensorsLoaded / progress.tensorsTotal : 100
        FileHandle.standardError.write(Data(String(format: "\rloading %3d%%  %d/%d tensors  %.2f GB",
            percent, progress.tensorsLoaded, progress.tensorsTotal, Double(progress.bytesLoaded) / 1e9).utf8))
    }
    if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
    let dtypes = model.bytesByDType.sorted { $0.value > $1.value }
        .map { String(format: "%@ %.3f GB", $0.key, Double($0.value) / 1e9) }.joined(separator: ", ")
    let summary = String(format: "loaded %@: %d tensors, %.3f GB (%@) in %.2f s, %d threads\n",
                         path, model.tensorCount, Double(model.weightBytes) / 1e9, dtypes,
                         Date().timeIntervalSince(start), model.threads)
    FileHandle.standardError.write(Data(summary.utf8))
    return model
}
