import CKernels
import Foundation
import SafeTensors

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
    /// Bytes per dtype name of everything loaded.
    private(set) var bytesByDType: [String: Int] = [:]

    /// A third-party quantized layout (compressed-tensors, AWQ, GPTQ, MLX) detected from config.json, if any.
    let quantization: (any QuantizedWeightFormat)?
    /// Reused by the quantized-format parsers (`codeScratch`).
    let scratch = ScratchBytes()

    init(checkpoint: Checkpoint, tensorsTotal: Int, numerics: NumericMode, quantization: (any QuantizedWeightFormat)? = nil,
         progress: ((LoadProgress) -> Void)?) {
        self.checkpoint = checkpoint
        self.numerics = numerics
        self.quantization = quantization
        self.tensorsTotal = tensorsTotal
        self.progress = progress
    }

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

    private func count(_ view: TensorView) {
        tensorsLoaded += 1
        bytesLoaded += view.bytes.count
        bytesByDType[view.dtype.rawValue, default: 0] += view.bytes.count
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
        count(v)
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
