import Foundation
import SafeTensors
import TestSupport
@testable import Engine

/// Deterministic normal random numbers (SplitMix64 + Box–Muller).
struct SeededRandom {
    private var bits: SplitMix64
    init(seed: UInt64) { bits = SplitMix64(state: seed) }
    mutating func next() -> UInt64 { bits.next() }
    mutating func uniform() -> Double { (Double(next() >> 11) + 0.5) / Double(1 << 53) }
    mutating func normal(_ std: Double) -> Float {
        Float(std * (-2 * log(uniform())).squareRoot() * cos(2 * .pi * uniform()))
    }
    mutating func normals(_ count: Int, std: Double, mean: Double = 0) -> [Float] {
        (0..<count).map { _ in Float(mean) + normal(std) }
    }
}

/// The shape of a random GLM-4.x checkpoint a test writes: config values plus storage choices.
struct RandomModelSpec {
    var vocab = 97, hidden = 40, intermediate = 56, moeIntermediate = 20, layers = 3
    var heads = 6, kvHeads = 2, headDim: Int? = 24, partialRotary = 0.5, ropeTheta = 10_000.0
    var experts = 16, shared = 2, topK = 4, groups = 4, topkGroup = 2, firstDense = 1
    var normTopk = false, scaling = 1.7, qkNorm = true, attentionBias = true, tie = false
    var ropeInParameters = false
    var mtp = true
    /// Storage of the big matrices: "BF16", "F32", "F16" or "F8" (F8_E4M3 with per-row weight_scale).
    var matrixDType = "BF16"
    var seed: UInt64 = 1

    var resolvedHeadDim: Int { headDim ?? hidden / heads }

    func configJSON(overrides: [String: Any] = [:]) throws -> Data {
        var c: [String: Any] = [
            "architectures": ["Glm4MoeForCausalLM"], "model_type": "glm4_moe", "vocab_size": vocab,
            "hidden_size": hidden, "intermediate_size": intermediate, "moe_intermediate_size": moeIntermediate,
            "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kvHeads,
            "n_routed_experts": experts, "n_shared_experts": shared, "num_experts_per_tok": topK,
            "n_group": groups, "topk_group": topkGroup, "first_k_dense_replace": firstDense,
            "norm_topk_prob": normTopk, "routed_scaling_factor": scaling, "use_qk_norm": qkNorm,
            "attention_bias": attentionBias, "rms_norm_eps": 1e-5, "max_position_embeddings": 4096,
            "tie_word_embeddings": tie, "eos_token_id": [vocab - 1], "hidden_act": "silu",
            "num_nextn_predict_layers": mtp ? 1 : 0, "rope_scaling": NSNull(),
        ]
        if let headDim { c["head_dim"] = headDim }
        if ropeInParameters {
            c["rope_parameters"] = ["rope_type": "default", "rope_theta": ropeTheta, "partial_rotary_factor": partialRotary]
        } else {
            c["rope_theta"] = ropeTheta
            c["partial_rotary_factor"] = partialRotary
        }
        for (k, v) in overrides { c[k] = v }
        return try JSONSerialization.data(withJSONObject: c, options: [.sortedKeys])
    }

    /// Every tensor of the checkpoint as (name, values, shape, isMatrix), in a fixed order.
    func tensors() -> [(name: String, values: [Float], shape: [Int], matrix: Bool)] {
        var rng = SeededRandom(seed: seed)
        var out: [(String, [Float], [Int], Bool)] = []
        let H = hidden, D = resolvedHeadDim, q = heads * D, kv = kvHeads * D
        func mat(_ name: String, _ rows: Int, _ cols: Int, std: Double? = nil) {
            out.append((name, rng.normals(rows * cols, std: std ?? (1 / Double(cols)).squareRoot()), [rows, cols], true))
        }
        func vec(_ name: String, _ n: Int, std: Double, mean: Double = 0) {
            out.append((name, rng.normals(n, std: std, mean: mean), [n], false))
        }
        func layer(_ l: Int, moe: Bool) {
            let p = "model.layers.\(l)."
            vec(p + "input_layernorm.weight", H, std: 0.1, mean: 1)
            vec(p + "post_attention_layernorm.weight", H, std: 0.1, mean: 1)
            mat(p + "self_attn.q_proj.weight", q, H)
            mat(p + "self_attn.k_proj.weight", kv, H)
            mat(p + "self_attn.v_proj.weight", kv, H)
            mat(p + "self_attn.o_proj.weight", H, q)
            if attentionBias {
                vec(p + "self_attn.q_proj.bias", q, std: 0.2)
                vec(p + "self_attn.k_proj.bias", kv, std: 0.2)
                vec(p + "self_attn.v_proj.bias", kv, std: 0.2)
            }
            if qkNorm {
                vec(p + "self_attn.q_norm.weight", D, std: 0.1, mean: 1)
                vec(p + "self_attn.k_norm.weight", D, std: 0.1, mean: 1)
            }
            if moe {
                mat(p + "mlp.gate.weight", experts, H)
                vec(p + "mlp.gate.e_score_correction_bias", experts, std: 0.1, mean: 0.1)
                for e in 0..<experts {
                    mat(p + "mlp.experts.\(e).gate_proj.weight", moeIntermediate, H)
                    mat(p + "mlp.experts.\(e).up_proj.weight", moeIntermediate, H)
                    mat(p + "mlp.experts.\(e).down_proj.weight", H, moeIntermediate)
                }
                if shared > 0 {
                    mat(p + "mlp.shared_experts.gate_proj.weight", moeIntermediate * shared, H)
                    mat(p + "mlp.shared_experts.up_proj.weight", moeIntermediate * shared, H)
                    mat(p + "mlp.shared_experts.down_proj.weight", H, moeIntermediate * shared)
                }
            } else {
                mat(p + "mlp.gate_proj.weight", intermediate, H)
                mat(p + "mlp.up_proj.weight", intermediate, H)
                mat(p + "mlp.down_proj.weight", H, intermediate)
            }
        }
        mat("model.embed_tokens.weight", vocab, H, std: 1)
        for l in 0..<layers { layer(l, moe: l >= firstDense) }
        vec("model.norm.weight", H, std: 0.1, mean: 1)
        if !tie { mat("lm_head.weight", vocab, H, std: (16 / Double(H)).squareRoot()) }
        if mtp {
            layer(layers, moe: true)
            let p = "model.layers.\(layers)."
            vec(p + "enorm.weight", H, std: 0.1, mean: 1)
            vec(p + "hnorm.weight", H, std: 0.1, mean: 1)
            vec(p + "shared_head.norm.weight", H, std: 0.1, mean: 1)
            mat(p + "eh_proj.weight", H, 2 * H)
        }
        return out
    }

    /// Writes config.json and model.safetensors into a new temporary folder; `skip`/`reshape` make hostile
    /// variants, `modify` replaces a tensor's values.
    func write(overrides: [String: Any] = [:], skip: Set<String> = [], reshape: [String: [Int]] = [:],
               modify: ((_ name: String, _ values: [Float], _ shape: [Int]) -> [Float])? = nil) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("glm-random-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try configJSON(overrides: overrides).write(to: dir.appendingPathComponent("config.json"))
        var writer = SafeTensorsWriter()
        for t in tensors() where !skip.contains(t.name) {
            var shape = reshape[t.name] ?? t.shape
            var values = modify?(t.name, t.values, t.shape) ?? t.values
            if shape.reduce(1, *) != values.count {        // hostile reshape: resize the data to match
                values = Array(repeating: 0.5, count: shape.reduce(1, *))
            }
            let isBias = t.name.hasSuffix("e_score_correction_bias")
            if !t.matrix || isBias || matrixDType == "F32" {
                try writer.add(name: t.name, floats: values, shape: shape)
            } else if matrixDType == "BF16" {
                try writer.add(name: t.name, bfloat16From: values, shape: shape)
            } else if matrixDType == "F16" {
                let bytes = values.flatMap { v -> [UInt8] in let b = Float16(v).bitPattern; return [UInt8(b & 0xff), UInt8(b >> 8)] }
                try writer.add(name: t.name, dtype: .f16, shape: shape, bytes: bytes)
            } else {                                        // F8_E4M3, one scale per output row
                let rows = shape[0], cols = shape.count > 1 ? shape[1] : 1
                var codes = [UInt8](), scales = [Float]()
                for r in 0..<rows {
                    let row = values[r * cols ..< (r + 1) * cols]
                    let scale = max(row.map(abs).max() ?? 1, 1e-6) / 448
                    scales.append(scale)
                    codes += row.map { F8.encode($0 / scale) }
                }
                shape = [rows, cols]
                try writer.add(name: t.name, dtype: .f8e4m3, shape: shape, bytes: codes)
                try writer.add(name: t.name + "_scale", floats: scales, shape: [rows, 1])
            }
        }
        try writer.write(to: dir.appendingPathComponent("model.safetensors"))
        return dir
    }
}

/// Nearest F8_E4M3 code (test-only encoder).
enum F8 {
    static let values: [(UInt8, Float)] = (0..<256).compactMap { code -> (UInt8, Float)? in
        let b = UInt8(code), s: Float = b >> 7 == 1 ? -1 : 1, e = Int((b >> 3) & 15), m = Float(b & 7)
        if e == 15 && b & 7 == 7 { return nil }
        let v = e == 0 ? s * m / 8 * pow(2, -6) : s * (1 + m / 8) * pow(2, Float(e - 7))
        return (b, v)
    }
    /// Value of every code (NaN for the two NaN codes).
    static let table: [Float] = {
        var t = [Float](repeating: .nan, count: 256)
        for (code, value) in values { t[Int(code)] = value }
        return t
    }()
    /// The finite values sorted ascending, for a binary search.
    static let sorted = values.sorted { $0.1 < $1.1 }
    static func encode(_ x: Float) -> UInt8 {
        var lo = 0, hi = sorted.count - 1
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if sorted[mid].1 <= x { lo = mid } else { hi = mid }
        }
        return abs(sorted[lo].1 - x) <= abs(sorted[hi].1 - x) ? sorted[lo].0 : sorted[hi].0
    }
}
