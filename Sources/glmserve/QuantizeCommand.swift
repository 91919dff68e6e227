import ArgumentParser
import Engine
import Foundation

/// `glmserve quantize`: writes a q8 / q4 copy of a model folder that every command loads with no flag.
struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Write a quantised (q8 or q4) copy of a model folder (see docs/QUANTIZATION.md).")

    @Option(name: .long, help: "Model folder to quantise (BF16, F16, F32 or FP8 safetensors).")
    var model: String

    @Option(name: .long, help: "q8 (every matrix 8-bit) or q4 (matrices 4-bit, embeddings and output heads 8-bit).")
    var type: QuantizationType

    @Option(name: .long, help: "New folder to write (must not exist or be empty).")
    var output: String

    @Option(name: .customLong("shard-size"), help: "Approximate bytes per safetensors shard.")
    var shardSize: Int = 1 << 30

    @Option(name: .long, help: "Threads (default: one per CPU).")
    var threads: Int?

    func validate() throws {
        guard shardSize >= 1 << 20 else { throw ValidationError("--shard-size must be at least 1 MiB") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        GLMModel.startPool(threads: threads)
        let interactive = isatty(STDERR_FILENO) != 0
        var lastDraw = Date.distantPast
        let start = Date()
        let summary = try QuantizedCheckpointWriter.write(
            from: URL(fileURLWithPath: model), to: URL(fileURLWithPath: output), type: type, shardBytes: shardSize
        ) { p in
            guard interactive, Date().timeIntervalSince(lastDraw) > 0.1 || p.tensorsDone == p.tensorsTotal else { return }
            lastDraw = Date()
            let percent = p.bytesTotal > 0 ? 100 * p.bytesRead / p.bytesTotal : 100
            FileHandle.standardError.write(Data(String(format: "\rquantizing %3d%%  %d/%d tensors", percent,
                                                       p.tensorsDone, p.tensorsTotal).utf8))
        }
        if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
        let seconds = Date().timeIntervalSince(start)
        print(String(format: "wrote %@ (%@): %d tensors (%d quantised) in %d shards, %.3f GB read, %.3f GB written, "
                     + "%.1f s (%.2f s per GB read)", output, type.rawValue, summary.tensors, summary.quantizedTensors,
                     summary.shards, Double(summary.bytesRead) / 1e9, Double(summary.bytesWritten) / 1e9, seconds,
                     seconds / max(Double(summary.bytesRead) / 1e9, 1e-9)))
    }
}
