import CKernels
import Foundation
import SafeTensors

/// llm-compressor's `compressed-tensors` checkpoints (quant_method "compressed-tensors"):
/// - `pack-quantized`: `weight_packed` I32 [out, in·bits/32] (signed codes + 2^(bits−1), element j of a word at bits
///   j·bits), `weight_scale` [out, groups], `weight_shape` [2], asymmetric `weight_zero_point` I32 packed along the
///   output dimension [out·bits/32, groups], optional `weight_g_idx` [in] (act-order);
/// - `naive-quantized`: `weight` I8 [out, in], same scales/zero points unpacked (I8);
/// - `float-quantized`: `weight` F8_E4M3 with `weight_scale` per channel or per 128×128 block (the FP8 loader).
/// Dequantisation: W = (q − zero) · scale. `ignore` and each config group's `targets` (module names, `re:` regexes,
/// or the class name `Linear`) are honoured; a rule that matches no module is an error.
final class CompressedTensorsFormat: QuantizedWeightFormat {
    struct Scheme {
        let name: String
        let targets: [String]
        let format: String
        let bits: Int
        let type: String          // "int" or "float"
        let strategy: String      // "group", "channel", "block", "tensor"
        let groupSize: Int?
        let symmetric: Bool
        let block: [Int]?
        var matched = 0
    }
    private var schemes: [Scheme]
    private let ignore: [String]
    private var ignoreMatched: Set<String> = []
    private let file: String
    let summary: String

    init(config: [String: Any], file: String) throws {
        self.file = file
        let top = QuantConfigReader(object: config, path: "quantization_config", file: file)
        let defaultFormat = try top.string("format")
        guard let groups = config["config_groups"] as? [String: Any], !groups.isEmpty else {
            throw top.fail("config_groups", "is missing or empty")
        }
        if let sparsity = config["sparsity_config"] as? [String: Any], !sparsity.isEmpty {
            throw top.fail("sparsity_config", "is set; sparse checkpoints are not supported")
        }
        if let transforms = config["transform_config"] as? [String: Any], !transforms.isEmpty {
            throw top.fail("transform_config", "is set; transformed (rotated) checkpoints are not supported")
        }
        if let kv = config["kv_cache_scheme"], !(kv is NSNull) {
            throw top.fail("kv_cache_scheme", "is set; a quantized KV cache changes the math and is not supported")
        }
        ignore = (config["ignore"] as? [String]) ?? []
        var schemes: [Scheme] = []
        for name in groups.keys.sorted() {
            guard let group = groups[name] as? [String: Any] else { throw top.fail("config_groups.\(name)", "must be an object") }
            let g = QuantConfigReader(object: group, path: "quantization_config.config_groups.\(name)", file: file)
            for key in ["input_activations", "output_activations"] {
                guard let a = group[key], !(a is NSNull) else { continue }
                // The official GLM FP8 releases (model-spec §7) pair FP8 weights with dynamic per-token FP8 input
                // scales: weight-only FP8 products in f32 (or the BF16 fast path) are what CPU engines compute for
                // them, so that one scheme is accepted; every other activation scheme changes the math.
                if key == "input_activations", Self.isDynamicFP8(a), Self.isFloat8Weights(group, defaultFormat: defaultFormat) {
                    continue
                }
                throw g.fail(key, "is set; activation quantisation changes the math and is not supported (weight-only schemes, "
                    + "or FP8 weights with dynamic FP8 input activations, only)")
            }
            guard let targets = group["targets"] as? [String], !targets.isEmpty else { throw g.fail("targets", "is missing or empty") }
            guard let weights = group["weights"] as? [String: Any] else { throw g.fail("weights", "is missing") }
            let w = QuantConfigReader(object: weights, path: g.path + ".weights", file: file)
            guard let format = try g.string("format") ?? defaultFormat else { throw g.fail("format", "is missing (and no top-level format)") }
            guard ["pack-quantized", "naive-quantized", "float-quantized"].contains(format) else {
                throw g.fail("format", "'\(format)' is not supported (pack-quantized, naive-quantized, float-quantized)")
            }
            let type = try w.string("type") ?? "int"
            let strategy = try w.string("strategy") ?? "tensor"
            let bits = try w.bits("num_bits")
            if try w.bool("dynamic") == true { throw w.fail("dynamic", "is true; dynamic weight quantisation is not supported") }
            let scheme = Scheme(name: name, targets: targets, format: format, bits: bits, type: type, strategy: strategy,
                                groupSize: try w.int("group_size"), symmetric: try w.bool("symmetric") ?? true,
                                block: weights["block_structure"] as? [Int])
            switch (format, type) {
            case ("float-quantized", "float"):
                guard bits == 8 else { throw w.fail("num_bits", "is \(bits); float-quantized needs 8 (FP8 E4M3)") }
                guard scheme.symmetric else { throw w.fail("symmetric", "is false; FP8 weights must be symmetric") }
                guard ["channel", "block", "tensor"].contains(strategy) else {
                    throw w.fail("strategy", "'\(strategy)' is not supported for FP8 (channel, block, tensor)")
                }
                if strategy == "block", scheme.block != [128, 128] {
                    throw w.fail("block_structure", "is \(scheme.block.map { "\($0)" } ?? "missing"); only [128, 128] is supported")
                }
            case ("pack-quantized", "int"), ("naive-quantized", "int"):
                guard ["channel", "group"].contains(strategy) else {
                    throw w.fail("strategy", "'\(strategy)' is not supported for integer weights (group, channel)")
                }
                if strategy == "group", scheme.groupSize == nil { throw w.fail("group_size", "is missing for strategy group") }
            default:
                throw w.fail("type", "'\(type)' does not fit format '\(format)'")
            }
            schemes.append(scheme)
        }
        self.schemes = schemes
        summary = "compressed-tensors " + schemes.map { s in
            "\(s.format) \(s.type)\(s.bits) \(s.strategy)" + (s.groupSize.map { " \($0)" } ?? "") + (s.symmetric ? "" : " asym")
        }.joined(separator: ", ")
    }

    /// compressed-tensors matching: a target is an exact module name, `re:<regex>` matched from the start of the
    /// name, or a class name (`Linear`: every projection the engine loads, not the embedding or the router).
    private static func matches(_ target: String, module: String) -> Bool {
        if target.hasPrefix("re:") {
            guard let regex = try? NSRegularExpression(pattern: String(target.dropFirst(3))) else { return false }
            let range = NSRange(module.startIndex..., in: module)
            return regex.firstMatch(in: module, options: [.anchored], range: range) != nil
        }
        if target == "Linear" { return module.hasSuffix("_proj") || module == "lm_head" }
        if target == "Embedding" { return module.hasSuffix("embed_tokens") }
        return target == module
    }

    func matrix(module: String, rows: Int, cols: Int, loader: WeightLoader) throws -> WeightMatrix? {
        if let rule = ignore.first(where: { Self.matches($0, module: module) }) {
            ignoreMatched.insert(rule)
            return nil
        }
        guard let index = schemes.firstIndex(where: { s in s.targets.contains { Self.matches($0, module: module) } }) else {
            if loader.has(module + ".weight_packed") || loader.has(module + ".weight_scale") {
                throw EngineError.invalidConfig(file: file, problem: "module '\(module)' is stored quantized but no "
                    + "quantization_config.config_groups targets match it (and it is not in quantization_config.ignore)")
            }
            return nil
        }
        schemes[index].matched += 1
        let s = schemes[index]
        if s.format == "float-quantized" {
            return try loader.plainMatrix(module + ".weight", rows: rows, cols: cols)   // F8_E4M3 + weight_scale
        }
        let group = s.strategy == "channel" ? cols : s.groupSize!
        try loader.checkGroup(group, cols: cols, module: module, source: "quantization_config.config_groups.\(s.name).weights.group_size")
        let groups = cols / group
        let storage = AffineStorage(rows: rows, cols: cols, bits: s.bits, groupSize: group, zeroed: false)
        let offset = UInt32(1 << (s.bits - 1))
        let mask = UInt32((1 << s.bits) - 1)
        let perWord = 32 / s.bits
        let scales = try loader.checkedFloats(module + ".weight_scale", shape: [rows, groups], what: "\(s.strategy) scales")
        var zeros: [Float]
        if s.symmetric {
            zeros = [Float](repeating: Float(offset), count: rows * groups)
        } else if s.format == "pack-quantized" {
            guard rows % perWord == 0 else {
                throw EngineError.badTensor(file: loader.listing, tensor: module + ".weight_zero_point",
                                            problem: "\(rows) rows cannot be packed \(perWord) per int32")
            }
            let z = try loader.checkedView(module + ".weight_zero_point", dtypes: [.i32], shape: [rows / perWord, groups],
                                           what: "zero points packed along the output dimension")
            zeros = [Float](repeating: 0, count: rows * groups)
            for r in 0..<rows {
                for g in 0..<groups {
                    zeros[r * groups + g] = Float((z.word((r / perWord) * groups + g) >> UInt32(s.bits * (r % perWord))) & mask)
                }
            }
        } else {
            let z = try loader.checkedView(module + ".weight_zero_point", dtypes: [.i8], shape: [rows, groups], what: "zero points")
            zeros = [Float](repeating: 0, count: rows * groups)
            for i in 0..<(rows * groups) {
                let value = Int(z.bytes.load(fromByteOffset: i, as: Int8.self))
                guard value >= -Int(offset), value < Int(offset) else {
                    throw EngineError.badTensor(file: z.file, tensor: z.name, problem: "zero point \(value) at [\(i / groups), \(i % groups)] is outside the \(s.bits)-bit range [\(-Int(offset)), \(Int(offset) - 1)]")
                }
                zeros[i] = Float(value + Int(offset))
            }
        }
        for r in 0..<rows {
            for g in 0..<groups { storage.setGroup(r, g, scale: scales[r * groups + g], zero: zeros[r * groups + g]) }
        }
        let codes = loader.codeScratch(rows: rows, cols: cols)
        if s.format == "pack-quantized" {
            let shape = try loader.checkedView(module + ".weight_shape", dtypes: [.i64, .i32], shape: [2], what: "the unpacked shape")
            guard shape.integer(0) == rows, shape.integer(1) == cols else {
                throw EngineError.badTensor(file: shape.file, tensor: shape.name,
                                            problem: "says [\(shape.integer(0)), \(shape.integer(1))], expected [\(rows), \(cols)] from config.json")
            }
            guard cols % perWord == 0 else {
                throw EngineError.badTensor(file: loader.listing, tensor: module + ".weight_packed", problem: "\(cols) columns cannot be packed \(perWord) per int32")
            }
            let packed = try loader.checkedView(module + ".weight_packed", dtypes: [.i32], shape: [rows, cols / perWord],
                                                what: "\(s.bits)-bit codes packed \(perWord) per int32")
            // word i holds codes i·perWord ..< (i+1)·perWord of the row-major matrix
            ck_unpack_words(packed.bytes.baseAddress!, Int64(rows * cols / perWord), Int32(s.bits), codes)
        } else {
            let q = try loader.checkedView(module + ".weight", dtypes: [.i8], shape: [rows, cols], what: "int\(s.bits) codes")
            for i in 0..<(rows * cols) {
                let value = Int(q.bytes.load(fromByteOffset: i, as: Int8.self))
                guard value >= -Int(offset), value < Int(offset) else {
                    throw EngineError.badTensor(file: q.file, tensor: q.name, problem: "code \(value) at [\(i / cols), \(i % cols)] is outside the \(s.bits)-bit range")
                }
                codes[i] = UInt8(value + Int(offset))
            }
        }
        if loader.has(module + ".weight_g_idx") {
            let gIdx = try loader.checkedView(module + ".weight_g_idx", dtypes: [.i32, .i64], shape: [cols], what: "act-order group indices")
            if let order = try actOrder(gIdx, cols: cols, group: group, file: file) {
                permuteColumns(codes, rows: rows, cols: cols, order: order)
                storage.setPermutation(order)
            }
        }
        storage.fill(codes: codes)
        return loader.finishAffine(module, storage)
    }

    func finish(file: String, tensorNames: [String]) throws {
        for s in schemes where s.matched == 0 {
            throw EngineError.invalidConfig(file: file, problem: "quantization_config.config_groups.\(s.name).targets \(s.targets) match no module of the model")
        }
        // An ignored module the engine does not load (e.g. of an MTP layer it skips) still counts if it exists.
        let stored = Set(tensorNames.map { name in name.split(separator: ".").dropLast().joined(separator: ".") })
        for rule in ignore where !ignoreMatched.contains(rule) && !stored.contains(where: { Self.matches(rule, module: $0) }) {
            throw EngineError.invalidConfig(file: file, problem: "quantization_config.ignore entry '\(rule)' matches no module of the model")
        }
    }
}

extension CompressedTensorsFormat {
    /// `{"type": "float", "num_bits": 8, "dynamic": true}` (any strategy): scales computed per call, nothing stored.
    static func isDynamicFP8(_ value: Any) -> Bool {
        guard let a = value as? [String: Any] else { return false }
        return (a["type"] as? String) == "float" && (a["num_bits"] as? Int) == 8 && (a["dynamic"] as? Bool) == true
    }

    /// The group's weights are FP8 (`float-quantized`, 8-bit float).
    static func isFloat8Weights(_ group: [String: Any], defaultFormat: String?) -> Bool {
        guard let weights = group["weights"] as? [String: Any] else { return false }
        let format = (group["format"] as? String) ?? defaultFormat
        return format == "float-quantized" && (weights["type"] as? String) == "float" && (weights["num_bits"] as? Int) == 8
    }
}
