import CKernels
import Foundation
import SafeTensors
#if canImport(Glibc)
import Glibc
#endif

/// Progress of `GLMModel.load`, reported after each tensor.
public struct LoadProgress: Sendable {
    public let tensorsLoaded: Int
    public let tensorsTotal: Int
    public let bytesLoaded: Int
    public let bytesTotal: Int
}

/// Reads the tensors the config calls for, checking each one's shape and dtype, and wraps weight matrices
/// in place (no copy of BF16/F16/F8 data). Small vectors (norms, biases) are converted to f32 arrays.
final class WeightLoader {
    let checkpoint: Checkpoint
    let tensorsTotal: Int
    /// Stamped on every weight matrix: how its products are computed.
    let numerics: NumericMode
    private let progress: ((LoadProgress) -> Void)?
    private(set) var tensorsLoaded = 0
    private(set) var bytesLoaded = 0
    /// Bytes per dtype name of everything loaded (as used: `q8` / `q4` for quantised matrices).
    private(set) var bytesByDType: [String: Int] = [:]
    /// Values (weights) of every tensor loaded: bits per weight = 8 · bytes / parameters.
    private(set) var parameterCount = 0
    /// Quantise matrices while loading (`--quantize`), by this recipe.
    let quantizeTo: QuantizationType?
    /// For a folder written by `glmserve quantize`: each quantised tensor's block dtype and logical shape.
    private let stored: [String: StoredQuantized]

    struct StoredQuantized {
        let dtype: ck_dtype
        let rows: Int
        let cols: Int
    }

    /// A third-party quantized layout (compressed-tensors, AWQ, GPTQ, MLX) detected from config.json, if any.
    let quantization: (any QuantizedWeightFormat)?
    /// Reused by the quantized-format parsers (`codeScratch`).
    let scratch = ScratchBytes()

    init(checkpoint: Checkpoint, tensorsTotal: Int, numerics: NumericMode, quantization: (any QuantizedWeightFormat)? = nil,
         quantizeTo: QuantizationType? = nil, progress: ((LoadProgress) -> Void)?) throws {
        self.checkpoint = checkpoint
        self.numerics = numerics
        self.quantization = quantization
        self.tensorsTotal = tensorsTotal
        self.progress = progress
        self.quantizeTo = quantizeTo
        stored = try Self.storedQuantized(checkpoint)
    }

    /// Reads the `glmserve.*` metadata of every file (empty for ordinary checkpoints).
    private static func storedQuantized(_ checkpoint: Checkpoint) throws -> [String: StoredQuantized] {
        var result: [String: StoredQuantized] = [:]
        for file in checkpoint.files {
            let entries = file.metadata.filter { $0.key.hasPrefix(QuantizationFormat.metadataPrefix) }
            if entries.isEmpty { continue }
            // Errors name the first quantised tensor of the file.
            let first = entries.keys.filter { $0 != QuantizationFormat.versionKey }.sorted().first
                .map { String($0.dropFirst(QuantizationFormat.metadataPrefix.count)) } ?? QuantizationFormat.versionKey
            guard let version = file.metadata[QuantizationFormat.versionKey] else {
                throw EngineError.badTensor(file: file.name, tensor: first,
                                            problem: "glmserve block metadata without '\(QuantizationFormat.versionKey)'")
            }
            guard version == String(QuantizationFormat.version) else {
                throw EngineError.badTensor(file: file.name, tensor: first,
                                            problem: "glmserve block format version \(version) is not supported (this build reads version \(QuantizationFormat.version))")
            }
            for (key, value) in entries where key != QuantizationFormat.versionKey {
                let tensor = String(key.dropFirst(QuantizationFormat.metadataPrefix.count))
                let parts = value.split(separator: " ")
                guard parts.count == 3, let dtype = QuantizationFormat.dtype(named: String(parts[0])),
                      let rows = Int(parts[1]), let cols = Int(parts[2]), rows > 0, cols > 0 else {
                    throw EngineError.badTensor(file: file.name, tensor: tensor,
                                                problem: "glmserve metadata '\(value)' is not '<q8|q4> <rows> <cols>'")
                }
                result[tensor] = StoredQuantized(dtype: dtype, rows: rows, cols: cols)
            }
        }
        return result
    }

    /// Whether the checkpoint is a folder written by `glmserve quantize`.
    var isQuantizedFolder: Bool { !stored.isEmpty }

    /// Where the checkpoint lists its tensors: the index, or the single file (named with the model folder).
    var listing: String {
        let index = checkpoint.directory.appendingPathComponent("model.safetensors.index.json")
        let name = FileManager.default.fileExists(atPath: index.path) ? index.lastPathComponent : "model.safetensors"
        return checkpoint.directory.lastPathComponent + "/" + name
    }

    func view(_ name: String) throws -> TensorView {
        guard checkpoint.contains(name) else { throw EngineError.missingTensor(file: listing, tensor: name) }
        do { return try checkpoint.tensor(named: name) } catch let error as SafeTensorsError {
            throw EngineError.checkpoint(error.description)
        }
    }

    private func count(_ view: TensorView, as dtype: String? = nil, bytes: Int? = nil, parameters: Int? = nil) {
        tensorsLoaded += 1
        bytesLoaded += view.bytes.count
        bytesByDType[dtype ?? view.dtype.rawValue, default: 0] += bytes ?? view.bytes.count
        parameterCount += parameters ?? view.elementCount
        progress?(LoadProgress(tensorsLoaded: tensorsLoaded, tensorsTotal: tensorsTotal,
                               bytesLoaded: bytesLoaded, bytesTotal: checkpoint.totalBytes))
    }

    func has(_ name: String) -> Bool { checkpoint.contains(name) }

    /// Counts a matrix repacked from several stored tensors as one loaded tensor of `bytes` bytes.
    func record(_ dtypeName: String, bytes: Int) {
        tensorsLoaded += 1
        bytesLoaded += bytes
        bytesByDType[dtypeName, default: 0] += bytes
        progress?(LoadProgress(tensorsLoaded: tensorsLoaded, tensorsTotal: tensorsTotal,
                               bytesLoaded: bytesLoaded, bytesTotal: checkpoint.totalBytes))
    }

    /// A `[rows, cols]` weight matrix, F32 / BF16 / F16 or F8_E4M3 with its `weight_scale`.
    func matrix(_ name: String, rows: Int, cols: Int) throws -> WeightMatrix {
        if let quantization, name.hasSuffix(".weight"),
           var matrix = try quantization.matrix(module: String(name.dropLast(".weight".count)), rows: rows, cols: cols, loader: self) {
            matrix.numerics = numerics
            return matrix
        }
        return try plainMatrix(name, rows: rows, cols: cols)
    }

    /// A weight stored as F32 / BF16 / F16, or F8_E4M3 with its scale, read in place.
    func plainMatrix(_ name: String, rows: Int, cols: Int) throws -> WeightMatrix {
        let v = try view(name)
        if let entry = stored[name] { return try storedMatrix(v, entry, rows: rows, cols: cols) }
        guard v.shape == [rows, cols] else {
            throw EngineError.badTensor(file: v.file, tensor: name, problem: "shape \(v.shape), expected [\(rows), \(cols)] from config.json")
        }
        guard let base = v.bytes.baseAddress else {
            throw EngineError.badTensor(file: v.file, tensor: name, problem: "has no data")
        }
        var matrix: WeightMatrix
        switch v.dtype {
        case .f32: matrix = WeightMatrix(name: name, rows: rows, cols: cols, dtype: CK_F32, data: base)
        case .bf16: matrix = WeightMatrix(name: name, rows: rows, cols: cols, dtype: CK_BF16, data: base)
        case .f16: matrix = WeightMatrix(name: name, rows: rows, cols: cols, dtype: CK_F16, data: base)
        case .f8e4m3:
            let scaled: ScaledWeight?
            do { scaled = try checkpoint.scaledWeight(named: name) } catch let error as SafeTensorsError {
                throw EngineError.checkpoint(error.description)
            }
            guard let scaled else {
                throw EngineError.badTensor(file: v.file, tensor: name, problem: "F8_E4M3 weight without a '\(name)_scale' tensor")
            }
            let values = try scaled.scale.floats()
            switch scaled.layout {
            case .perTensor:
                matrix = WeightMatrix(name: name, rows: rows, cols: cols, dtype: CK_F8E4M3, data: base,
                                      scales: FloatStorage([Float](repeating: values[0], count: rows)), scaleKind: CK_SCALE_ROW)
            case .perOutputChannel:
                matrix = WeightMatrix(name: name, rows: rows, cols: cols, dtype: CK_F8E4M3, data: base,
                                      scales: FloatStorage(values), scaleKind: CK_SCALE_ROW)
            case .blocks(128, 128):
                matrix = WeightMatrix(name: name, rows: rows, cols: cols, dtype: CK_F8E4M3, data: base,
                                      scales: FloatStorage(values), scaleKind: CK_SCALE_BLOCK128)
            case let .blocks(r, c):
                throw EngineError.badTensor(file: v.file, tensor: name + "_scale", problem: "block scales of \(r)×\(c) are not supported (128×128 only)")
            }
        default:
            throw EngineError.badTensor(file: v.file, tensor: name, problem: "dtype \(v.dtype.rawValue) is not a weight dtype (F32, BF16, F16 or F8_E4M3)")
        }
        if let quantizeTo, let dtype = quantizeTo.dtype(forMatrix: name) {
            matrix = quantize(matrix, to: dtype, source: v)
        } else {
            count(v)
        }
        matrix.numerics = numerics
        return matrix
    }

    /// Quantises `source` into new memory on the pool, then lets the kernel drop the source's pages (they are a
    /// read-only file mapping), so the full-precision and the quantised copy are never resident together.
    private func quantize(_ source: WeightMatrix, to dtype: ck_dtype, source v: TensorView) -> WeightMatrix {
        let storage = QuantizedStorage(count: source.rows * QuantizationFormat.rowBytes(dtype, cols: source.cols))
        withUnsafePointer(to: source.raw) { ck_quantize(Int32(dtype.rawValue), $0, storage.pointer) }
        if let base = v.bytes.baseAddress {
            let page = Int(sysconf(Int32(_SC_PAGESIZE)))
            let start = (Int(bitPattern: base) + page - 1) / page * page
            let end = (Int(bitPattern: base) + v.bytes.count) / page * page
            if end > start { madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_DONTNEED) }
        }
        count(v, as: QuantizationFormat.name(dtype), bytes: storage.count, parameters: source.rows * source.cols)
        return WeightMatrix(name: source.name, rows: source.rows, cols: source.cols, dtype: dtype,
                            data: UnsafeRawPointer(storage.pointer), storage: storage)
    }

    /// A matrix of a folder written by `glmserve quantize`, read in place: its blocks must match the shape.
    private func storedMatrix(_ v: TensorView, _ entry: StoredQuantized, rows: Int, cols: Int) throws -> WeightMatrix {
        let name = v.name
        guard entry.rows == rows, entry.cols == cols else {
            throw EngineError.badTensor(file: v.file, tensor: name, problem: "glmserve metadata gives shape [\(entry.rows), \(entry.cols)], expected [\(rows), \(cols)] from config.json")
        }
        let rowBytes = QuantizationFormat.rowBytes(entry.dtype, cols: cols)
        guard v.dtype == .u8, v.shape == [rows, rowBytes] else {
            throw EngineError.badTensor(file: v.file, tensor: name, problem: "\(v.dtype.rawValue) \(v.shape) does not hold \(QuantizationFormat.name(entry.dtype)) blocks of [\(rows), \(cols)] (expected U8 [\(rows), \(rowBytes)])")
        }
        guard let base = v.bytes.baseAddress else {
            throw EngineError.badTensor(file: v.file, tensor: name, problem: "has no data")
        }
        count(v, as: QuantizationFormat.name(entry.dtype), parameters: rows * cols)
        var matrix = WeightMatrix(name: name, rows: rows, cols: cols, dtype: entry.dtype, data: base)
        matrix.numerics = numerics
        return matrix
    }

    /// A vector of `length` values (norm weights, biases), converted to f32.
    func vector(_ name: String, length: Int) throws -> [Float] {
        let v = try view(name)
        guard v.shape == [length] else {
            throw EngineError.badTensor(file: v.file, tensor: name, problem: "shape \(v.shape), expected [\(length)] from config.json")
        }
        let values: [Float]
        do { values = try v.floats() } catch let error as SafeTensorsError { throw EngineError.checkpoint(error.description) }
        count(v)
        return values
    }
}
