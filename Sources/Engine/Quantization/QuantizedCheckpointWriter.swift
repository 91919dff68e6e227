import CKernels
import Foundation
import SafeTensors

/// Progress of `QuantizedCheckpointWriter.write`, reported after each tensor.
public struct QuantizeProgress: Sendable {
    public let tensorsDone: Int
    public let tensorsTotal: Int
    public let bytesRead: Int
    public let bytesTotal: Int
}

/// What `QuantizedCheckpointWriter.write` produced.
public struct QuantizeSummary: Sendable {
    public let tensors: Int
    public let quantizedTensors: Int
    public let shards: Int
    public let bytesRead: Int
    public let bytesWritten: Int
}

/// Writes a self-contained quantised model folder (`glmserve quantize`): every weight matrix the recipe of
/// `type` names is quantised exactly as `--quantize` does at load (same code, same bytes), stored as a U8 tensor
/// `[rows, row_bytes]` with its block type and logical shape in the file's `__metadata__` (`QuantizationFormat`);
/// every other tensor (router, norms, biases, correction bias) is copied as it is. Shards of about `shardBytes`,
/// an index, `config.json` with a `quantization_config`, and the folder's other files (tokenizer, template,
/// generation config) copied. FP8 `*_scale(_inv)` tensors of quantised weights are folded into the blocks.
public enum QuantizedCheckpointWriter {
    public static func write(from source: URL, to output: URL, type: QuantizationType, shardBytes: Int = 1 << 30,
                             progress: ((QuantizeProgress) -> Void)? = nil) throws -> QuantizeSummary {
        let config = try ModelConfig.load(from: source)
        if let stored = try GLMModel.storedQuantization(config) {
            throw EngineError.invalidArgument("\(source.lastPathComponent) is already quantised (\(stored.rawValue), written by "
                + "glmserve quantize); quantise the original BF16/F16/F32/FP8 checkpoint instead")
        }
        let manager = FileManager.default
        if source.standardizedFileURL.resolvingSymlinksInPath() == output.standardizedFileURL.resolvingSymlinksInPath() {
            throw EngineError.invalidArgument("--output must be another folder than --model")
        }
        if manager.fileExists(atPath: output.path) {
            let existing = (try? manager.contentsOfDirectory(atPath: output.path)) ?? ["?"]
            guard existing.isEmpty else {
                throw EngineError.invalidArgument("output folder \(output.path) exists and is not empty")
            }
        } else {
            try manager.createDirectory(at: output, withIntermediateDirectories: true)
        }
        let checkpoint: Checkpoint
        do { checkpoint = try Checkpoint(directory: source) } catch let error as SafeTensorsError {
            throw EngineError.checkpoint(error.description)
        }
        if let foreign = try QuantizedFormatDetection.detect(directory: source) {
            throw EngineError.invalidArgument("\(source.lastPathComponent) is already quantised (\(foreign.summary)); "
                + "quantise a BF16/F16/F32/FP8 checkpoint instead")
        }
        let loader = try WeightLoader(checkpoint: checkpoint, tensorsTotal: checkpoint.tensorNames.count,
                                      numerics: .fast, quantizeTo: type, progress: nil)
        if loader.isQuantizedFolder {
            throw EngineError.invalidArgument("\(source.lastPathComponent) is already quantised (its safetensors files hold "
                + "glmserve blocks); quantise the original BF16/F16/F32/FP8 checkpoint instead")
        }
        let names = checkpoint.tensorNames
        // Quantised matrices: 2-D float weights the recipe names. Their FP8 scales are folded in and not written.
        var quantized: Set<String> = []
        for name in names where name.hasSuffix(".weight") {
            let view = try checkpoint.tensor(named: name)
            if view.shape.count == 2, view.dtype.isExactlyFloatConvertible, type.dtype(forMatrix: name) != nil {
                quantized.insert(name)
            }
        }
        let folded = Set(names.filter { name in
            ["_scale", "_scale_inv"].contains { suffix in name.hasSuffix(suffix) && quantized.contains(String(name.dropLast(suffix.count))) }
        })

        var shards: [(temporary: URL, tensors: [String], bytes: Int)] = []
        var writer = SafeTensorsWriter()
        var pendingNames: [String] = []
        var pendingBytes = 0
        var written = 0, read = 0, done = 0
        func flush() throws {
            guard !pendingNames.isEmpty else { return }
            writer.metadata[QuantizationFormat.versionKey] = String(QuantizationFormat.version)
            let temporary = output.appendingPathComponent("shard-\(shards.count).partial.safetensors")
            try writer.write(to: temporary)
            shards.append((temporary, pendingNames, pendingBytes))
            written += pendingBytes
            writer = SafeTensorsWriter()
            pendingNames = []
            pendingBytes = 0
        }
        for name in names where !folded.contains(name) {
            let view = try checkpoint.tensor(named: name)
            read += view.bytes.count
            if quantized.contains(name) {
                let rows = view.shape[0], cols = view.shape[1]
                let matrix = try loader.matrix(name, rows: rows, cols: cols)
                let bytes = [UInt8](UnsafeRawBufferPointer(start: matrix.raw.data, count: matrix.byteCount))
                try writer.add(name: name, dtype: .u8, shape: [rows, matrix.byteCount / rows], bytes: bytes)
                writer.metadata[QuantizationFormat.metadataPrefix + name] = "\(QuantizationFormat.name(matrix.dtype)) \(rows) \(cols)"
                pendingBytes += bytes.count
            } else {
                try writer.add(name: name, dtype: view.dtype, shape: view.shape, bytes: [UInt8](view.bytes))
                pendingBytes += view.bytes.count
            }
            pendingNames.append(name)
            done += 1
            progress?(QuantizeProgress(tensorsDone: done, tensorsTotal: names.count - folded.count, bytesRead: read,
                                       bytesTotal: checkpoint.totalBytes))
            if pendingBytes >= shardBytes { try flush() }
        }
        try flush()

        // Shards named model-0000i-of-0000n, the index, config.json, then the other files of the folder.
        var weightMap: [String: String] = [:]
        for (i, shard) in shards.enumerated() {
            let name = String(format: "model-%05d-of-%05d.safetensors", i + 1, shards.count)
            try manager.moveItem(at: shard.temporary, to: output.appendingPathComponent(name))
            for tensor in shard.tensors { weightMap[tensor] = name }
        }
        let index: [String: Any] = ["metadata": ["total_size": written], "weight_map": weightMap]
        try JSONSerialization.data(withJSONObject: index, options: [.prettyPrinted, .sortedKeys])
            .write(to: output.appendingPathComponent("model.safetensors.index.json"))
        let configURL = source.appendingPathComponent("config.json")
        guard var json = try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as? [String: Any] else {
            throw EngineError.invalidConfig(file: "config.json", problem: "not a JSON object")
        }
        json["quantization_config"] = [
            "quant_method": QuantizationFormat.method, "version": QuantizationFormat.version, "type": type.rawValue,
            "block_size": Int(CK_QBLOCK),
            "recipe": type == .q8 ? "every weight matrix q8; router, norms and biases unquantised"
                                  : "weight matrices q4, embeddings and output heads q8; router, norms and biases unquantised",
        ] as [String: Any]
        try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
            .write(to: output.appendingPathComponent("config.json"))
        let skip = Set(["config.json", "model.safetensors.index.json"])
        for file in try manager.contentsOfDirectory(atPath: source.path).sorted()
            where !skip.contains(file) && !file.hasSuffix(".safetensors") && !file.hasPrefix(".") {
            var isDirectory: ObjCBool = false
            let from = source.appendingPathComponent(file)
            guard manager.fileExists(atPath: from.path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            try manager.copyItem(at: from, to: output.appendingPathComponent(file))
        }
        return QuantizeSummary(tensors: done, quantizedTensors: quantized.count, shards: shards.count,
                               bytesRead: read, bytesWritten: written)
    }
}
