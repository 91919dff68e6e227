import ArgumentParser
import Engine
import Foundation
import Server

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
/// With `context`, first reads config.json alone and refuses (`EngineError.contextTooLong`) a prompt + new
/// tokens the model cannot hold, before any weight is read.
func loadModel(_ path: String, threads: Int?, populate: Bool = false, numa: NUMAPolicy? = nil,
               numerics: NumericMode, quantize: QuantizationType? = nil, context: (promptTokens: Int, newTokens: Int)? = nil) throws -> GLMModel {
    if let threads, threads < 1 { throw CommandInputError("--threads must be at least 1 (got \(threads))") }
    let directory = URL(fileURLWithPath: path)
    if let context {
        try ModelConfig.load(from: directory).checkContext(promptTokens: context.promptTokens, newTokens: context.newTokens)
    }
    let interactive = isatty(STDERR_FILENO) != 0
    let start = Date()
    var lastDraw = Date.distantPast
    let model = try GLMModel.load(from: directory, threads: threads, populate: populate, numa: numa,
                                    numerics: numerics, quantize: quantize) { progress in
        guard interactive, Date().timeIntervalSince(lastDraw) > 0.1 || progress.tensorsLoaded == progress.tensorsTotal else { return }
        lastDraw = Date()
        FileHandle.standardError.write(Data(("\r" + loadProgressText(progress)).utf8))
    }
    if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
    let summary = loadSummaryText(path: path, model: model, seconds: Date().timeIntervalSince(start))
    FileHandle.standardError.write(Data((summary + "\n").utf8))
    return model
}

/// One progress line, e.g. `loading  42%  120/283 tensors  1.20 of 3.50 GB` (units by `ByteCountText`).
func loadProgressText(_ progress: LoadProgress) -> String {
    let percent = progress.tensorsTotal > 0 ? 100 * progress.tensorsLoaded / progress.tensorsTotal : 100
    return String(format: "loading %3d%%  %d/%d tensors  ", percent, progress.tensorsLoaded, progress.tensorsTotal)
        + ByteCountText.progress(progress.bytesLoaded, of: progress.bytesTotal)
}

/// The line after loading, e.g. `loaded M: 283 tensors, 24.60 MB (BF16 24.10 MB, F32 0.50 MB) in 0.12 s, 2 threads`.
func loadSummaryText(path: String, model: GLMModel, seconds: Double) -> String {
    let dtypes = model.bytesByDType.sorted { $0.value > $1.value }
        .map { "\($0.key) \(ByteCountText.text($0.value))" }.joined(separator: ", ")
    return "loaded \(path): \(model.tensorCount) tensors, \(ByteCountText.text(model.weightBytes)) (\(dtypes)) in "
        + String(format: "%.2f s, %d threads, %@ products, weights %@, %.2f bits per weight", seconds, model.threads,
                 model.numerics.rawValue, model.weightFormat, model.bitsPerWeight)
}
