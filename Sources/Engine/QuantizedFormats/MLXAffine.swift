import CKernels
import Foundation
import SafeTensors

/// mlx-lm quantized folders (`quantization: {group_size, bits, mode: "affine"}` in config.json, with per-module
/// overrides `"<module>": {group_size, bits}` or `false`): `weight` U32 [out, in·bits/32] (element j of a word at
/// bits j·bits), `scales` and `biases` [out, in/group]; W = scale · q + bias. The routed experts are stacked under
/// `mlp.switch_mlp.{gate,up,down}_proj` ([experts, …]); mlx-lm drops the MTP layer, so these folders have none.
final class MLXAffineFormat: QuantizedWeightFormat {
    private let defaultBits: Int
    private let defaultGroup: Int
    private var overrides: [String: (bits: Int, group: Int)?] = [:]
    private let file: String
    let summary: String
    var missingMTPReason: String? { "MLX folders have none: mlx-lm drops the MTP layer when it converts a model" }

    init(config: [String: Any], file: String) throws {
        self.file = file
        let q = QuantConfigReader(object: config, path: "quantization", file: file)
        let mode = try q.string("mode") ?? "affine"
        guard mode == "affine" else { throw q.fail("mode", "'\(mode)' is not supported (only affine)") }
        defaultBits = try q.bits("bits")
        guard let group = try q.int("group_size") else { throw q.fail("group_size", "is missing") }
        defaultGroup = group
        for (key, value) in config where !["mode", "bits", "group_size", "quant_method"].contains(key) {
            if let flag = value as? NSNumber, isJSONBoolean(flag) {
                overrides[key] = flag.boolValue ? (defaultBits, defaultGroup) : .some(nil)
            } else if let object = value as? [String: Any] {
                let o = QuantConfigReader(object: object, path: "quantization.\(key)", file: file)
                if let m = try o.string("mode"), m != "affine" { throw o.fail("mode", "'\(m)' is not supported (only affine)") }
                overrides[key] = (try o.bits("bits"), try o.int("group_size") ?? defaultGroup)
            } else {
                throw q.fail(key, "must be an object {group_size, bits} or a boolean")
            }
        }
        summary = "MLX affine int\(defaultBits) group \(defaultGroup)" + (overrides.isEmpty ? "" : " (\(overrides.count) module overrides)")
    }

    /// `model.layers.L.mlp.experts.E.gate_proj` → (`model.layers.L.mlp.switch_mlp.gate_proj`, E).
    private static func stacked(_ module: String) -> (String, Int)? {
        guard let range = module.range(of: ".mlp.experts.") else { return nil }
        let rest = module[range.upperBound...].split(separator: ".")
        guard rest.count == 2, let e = Int(rest[0]) else { return nil }
        return (module[..<range.lowerBound] + ".mlp.switch_mlp." + rest[1], e)
    }

    func matrix(module: String, rows: Int, cols: Int, loader: WeightLoader) throws -> WeightMatrix? {
        var name = module, expert: Int?
        if !loader.has(module + ".weight"), let (stackedName, e) = Self.stacked(module) {
            name = stackedName
            expert = e
        }
        let setting = overrides[name] ?? (defaultBits, defaultGroup)
        let quantized = loader.has(name + ".scales")
        guard quantized else {
            if setting != nil, overrides[name] != nil {
                throw EngineError.badTensor(file: loader.listing, tensor: name + ".scales",
                                            problem: "is missing although config.json's quantization.\(name) asks for a quantized module")
            }
            return expert == nil ? nil : try stackedPlain(name, expert: expert!, rows: rows, cols: cols, loader: loader)
        }
        guard let (bits, group) = setting else {
            throw EngineError.badTensor(file: loader.listing, tensor: name + ".scales",
                                        problem: "exists although config.json's quantization.\(name) is false")
        }
        try loader.checkGroup(group, cols: cols, module: name, source: overrides[name] != nil ? "quantization.\(name).group_size" : "quantization.group_size")
        let perWord = 32 / bits, groups = cols / group, words = cols / perWord
        let lead = expert == nil ? [] : [try loader.view(name + ".weight").shape.first ?? 0]
        if let e = expert, e >= lead[0] {
            throw EngineError.badTensor(file: loader.listing, tensor: name + ".weight", problem: "has \(lead[0]) stacked experts, expert \(e) asked for")
        }
        let weight = try loader.checkedView(name + ".weight", dtypes: [.u32], shape: lead + [rows, words], what: "MLX \(bits)-bit codes")
        let scales = try loader.checkedFloats(name + ".scales", shape: lead + [rows, groups], what: "MLX scales")
        let biases = try loader.checkedFloats(name + ".biases", shape: lead + [rows, groups], what: "MLX biases")
        let storage = AffineStorage(rows: rows, cols: cols, bits: bits, groupSize: group, zeroed: false)
        let base = (expert ?? 0) * rows
        let codes = loader.codeScratch(rows: rows, cols: cols)
        for r in 0..<rows {
            for g in 0..<groups { storage.setGroup(r, g, scale: scales[(base + r) * groups + g], bias: biases[(base + r) * groups + g]) }
        }
        ck_unpack_words(weight.bytes.baseAddress! + base * words * 4, Int64(rows * words), Int32(bits), codes)
        storage.fill(codes: codes)
        return loader.finishAffine(module, storage)
    }

    /// One expert of an unquantized stacked tensor, read in place.
    private func stackedPlain(_ name: String, expert: Int, rows: Int, cols: Int, loader: WeightLoader) throws -> WeightMatrix {
        let v = try loader.view(name + ".weight")
        guard v.shape.count == 3, v.shape[1] == rows, v.shape[2] == cols, expert < v.shape[0] else {
            throw EngineError.badTensor(file: v.file, tensor: v.name, problem: "shape \(v.shape), expected [experts, \(rows), \(cols)]")
        }
        let dtype: ck_dtype
        switch v.dtype {
        case .f32: dtype = CK_F32
        case .bf16: dtype = CK_BF16
        case .f16: dtype = CK_F16
        default: throw EngineError.badTensor(file: v.file, tensor: v.name, problem: "dtype \(v.dtype.rawValue) is not a weight dtype")
        }
        guard let base = v.bytes.baseAddress else { throw EngineError.badTensor(file: v.file, tensor: v.name, problem: "has no data") }
        loader.record(v.dtype.rawValue, bytes: rows * cols * v.dtype.byteSize)
        return WeightMatrix(name: name + ".\(expert)", rows: rows, cols: cols, dtype: dtype,
                            data: base + expert * rows * cols * v.dtype.byteSize)
    }
}
