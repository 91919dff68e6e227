import Foundation
import SafeTensors

/// A third-party quantized checkpoint layout. The loader asks it for every weight matrix; it answers with the
/// matrix repacked into the engine's group-affine format (or an FP8 matrix), or nil when the module is stored
/// unquantized (then the plain loader reads it).
protocol QuantizedWeightFormat: AnyObject {
    /// Short description for logs and errors, e.g. "compressed-tensors pack-quantized int4 group 128".
    var summary: String { get }
    /// `module` is the tensor name without `.weight`; `rows`/`cols` are what config.json implies.
    func matrix(module: String, rows: Int, cols: Int, loader: WeightLoader) throws -> WeightMatrix?
    /// Called once all matrices are loaded: refuses config rules that matched no module.
    func finish(file: String, tensorNames: [String]) throws
    /// Why a folder of this format has no MTP layer, when the converter is known to drop it.
    var missingMTPReason: String? { get }
}

extension QuantizedWeightFormat {
    func finish(file: String, tensorNames: [String]) throws {}
    var missingMTPReason: String? { nil }
}

/// Detection from config.json: `quantization_config.quant_method` (compressed-tensors, awq, gptq; `fp8` is the
/// official FP8 release, read by the plain loader) or MLX's `quantization` object. Anything else is refused with
/// the field named, never ignored.
enum QuantizedFormatDetection {
    static func detect(directory: URL) throws -> (any QuantizedWeightFormat)? {
        let file = directory.lastPathComponent + "/config.json"
        let data = try Data(contentsOf: directory.appendingPathComponent("config.json"))
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        func fail(_ problem: String) -> EngineError { .invalidConfig(file: file, problem: problem) }
        if let mlx = root["quantization"] {
            guard let object = mlx as? [String: Any] else { throw fail("quantization must be an object") }
            return try MLXAffineFormat(config: object, file: file)
        }
        guard let raw = root["quantization_config"], !(raw is NSNull) else { return nil }
        guard let q = raw as? [String: Any] else { throw fail("quantization_config must be an object") }
        guard let method = q["quant_method"] as? String else {
            throw fail("quantization_config.quant_method is missing (expected compressed-tensors, awq, gptq or fp8)")
        }
        switch method {
        case "fp8": return nil
        case QuantizationFormat.method: return nil      // GLMServe's own blocks: read by WeightLoader (Quantization/)
        case "compressed-tensors": return try CompressedTensorsFormat(config: q, file: file)
        case "awq": return try AutoAWQFormat(config: q, file: file)
        case "gptq": return try GPTQFormat(config: q, file: file)
        default:
            throw fail("quantization_config.quant_method '\(method)' is not supported "
                       + "(supported: compressed-tensors, awq, gptq, fp8, and MLX's quantization)")
        }
    }
}

/// Small readers shared by the format parsers: typed config fields and checked tensors.
struct QuantConfigReader {
    let object: [String: Any]
    let path: String      // e.g. "quantization_config"
    let file: String

    func fail(_ key: String, _ problem: String) -> EngineError {
        .invalidConfig(file: file, problem: "\(path).\(key) \(problem)")
    }
    func int(_ key: String) throws -> Int? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        guard let number = value as? NSNumber, !isJSONBoolean(number),
              let int = Int(exactly: number.doubleValue) else { throw fail(key, "must be an integer") }
        return int
    }
    func bool(_ key: String) throws -> Bool? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        guard let number = value as? NSNumber, isJSONBoolean(number) else {
            throw fail(key, "must be true or false")
        }
        return number.boolValue
    }
    func string(_ key: String) throws -> String? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        guard let string = value as? String else { throw fail(key, "must be a string") }
        return string
    }
    func bits(_ key: String) throws -> Int {
        guard let bits = try int(key) else { throw fail(key, "is missing") }
        guard bits == 4 || bits == 8 else { throw fail(key, "is \(bits); only 4 and 8 bits are supported") }
        return bits
    }
}

extension WeightLoader {
    /// A tensor that must exist with one of `dtypes` and exactly `shape`; the error names file, tensor and problem.
    func checkedView(_ name: String, dtypes: [DType], shape: [Int], what: String) throws -> TensorView {
        let v = try view(name)
        guard dtypes.contains(v.dtype) else {
            throw EngineError.badTensor(file: v.file, tensor: name, problem: "dtype \(v.dtype.rawValue), expected "
                                        + dtypes.map(\.rawValue).joined(separator: " or ") + " for \(what)")
        }
        guard v.shape == shape else {
            throw EngineError.badTensor(file: v.file, tensor: name, problem: "shape \(v.shape), expected \(shape) for \(what)")
        }
        guard v.bytes.count == shape.reduce(1, *) * v.dtype.byteSize, v.bytes.baseAddress != nil || v.bytes.count == 0 else {
            throw EngineError.badTensor(file: v.file, tensor: name, problem: "holds \(v.bytes.count) bytes, expected \(shape.reduce(1, *) * v.dtype.byteSize) (truncated)")
        }
        return v
    }

    /// Float values of a scale/bias tensor (F32, F16 or BF16).
    func checkedFloats(_ name: String, shape: [Int], what: String) throws -> [Float] {
        let v = try checkedView(name, dtypes: [.f32, .f16, .bf16], shape: shape, what: what)
        do { return try v.floats() } catch let error as SafeTensorsError { throw EngineError.checkpoint(error.description) }
    }

    /// Group size check shared by every integer format: the engine's blocks need a multiple of 32 dividing cols.
    func checkGroup(_ group: Int, cols: Int, module: String, source: String) throws {
        guard group > 0, cols % group == 0 else {
            throw EngineError.badTensor(file: listing, tensor: module + ".weight",
                                        problem: "group size \(group) (\(source)) does not divide the row of \(cols) columns")
        }
        guard group % 32 == 0 else {
            throw EngineError.badTensor(file: listing, tensor: module + ".weight",
                                        problem: "group size \(group) (\(source)) is not a multiple of 32, which the engine's kernels need")
        }
    }

    /// A row-major `[rows, cols]` scratch matrix, one code per byte, that the format parsers unpack into before
    /// `AffineStorage.fill`; reused from matrix to matrix (no page faults per matrix). Valid until the next call.
    func codeScratch(rows: Int, cols: Int) -> UnsafeMutablePointer<UInt8> {
        scratch.pointer(count: rows * cols)
    }

    func finishAffine(_ module: String, _ storage: AffineStorage) -> WeightMatrix {
        record(storage.bits == 4 ? "AFFINE4" : "AFFINE8", bytes: storage.byteCount)
        return WeightMatrix(name: module + ".weight", affine: storage)
    }
}

extension TensorView {
    /// Element `i` of an I32/U32 tensor as raw 32 bits.
    @inline(__always) func word(_ i: Int) -> UInt32 {
        UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
    }
    /// Element `i` of an I64/I32 tensor.
    func integer(_ i: Int) -> Int {
        dtype == .i64 ? Int(Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
            : Int(Int32(bitPattern: word(i)))
    }
}

/// Sorts columns by group index (act-order `g_idx`) so every group is contiguous, checking that each group has
/// exactly `group` columns. Returns the order (code column → input column) and whether it is the identity.
func actOrder(_ gIdx: TensorView, cols: Int, group: Int, file: String) throws -> [Int32]? {
    let groups = cols / group
    var buckets = [[Int32]](repeating: [], count: groups)
    for c in 0..<cols {
        let g = gIdx.integer(c)
        guard g >= 0, g < groups else {
            throw EngineError.badTensor(file: gIdx.file, tensor: gIdx.name, problem: "column \(c) has group \(g), outside 0 ..< \(groups)")
        }
        buckets[g].append(Int32(c))
    }
    for (g, bucket) in buckets.enumerated() where bucket.count != group {
        throw EngineError.badTensor(file: gIdx.file, tensor: gIdx.name,
                                    problem: "puts \(bucket.count) columns in group \(g), expected \(group)")
    }
    let order = buckets.flatMap { $0 }
    return order.enumerated().allSatisfy({ Int($0.element) == $0.offset }) ? nil : order
}

/// Whether a JSONSerialization number was written `true`/`false` (its Objective-C type is `c`, integers are not).
func isJSONBoolean(_ number: NSNumber) -> Bool { String(cString: number.objCType) == "c" }

/// Reorders the columns of a row-major code matrix so that code column c holds input column order[c].
func permuteColumns(_ codes: UnsafeMutablePointer<UInt8>, rows: Int, cols: Int, order: [Int32]) {
    let row = UnsafeMutablePointer<UInt8>.allocate(capacity: cols)
    defer { row.deallocate() }
    for r in 0..<rows {
        let base = codes + r * cols
        for c in 0..<cols { row[c] = base[Int(order[c])] }
        base.update(from: row, count: cols)
    }
}

/// A grow-only byte buffer (the loader's code scratch).
final class ScratchBytes {
    private var base: UnsafeMutablePointer<UInt8>?
    private var capacity = 0
    func pointer(count: Int) -> UnsafeMutablePointer<UInt8> {
        if count > capacity || base == nil {
            base?.deallocate()
            capacity = max(count, 1)
            base = .allocate(capacity: capacity)
        }
        return base!
    }
    deinit { base?.deallocate() }
}
