/// The shape every GLM-4.x (`glm4_moe`) tensor name must have under a config (model-spec §6), for the tests.
struct GLMShapes {
    let hidden, layers, heads, kvHeads, headDim, intermediate, moeIntermediate, experts, vocab: Int

    init(config: [String: Any]) throws {
        func int(_ key: String) throws -> Int {
            guard let value = config[key] as? Int else { throw ShapeError.missing(key) }
            return value
        }
        hidden = try int("hidden_size")
        layers = try int("num_hidden_layers")
        heads = try int("num_attention_heads")
        kvHeads = try int("num_key_value_heads")
        headDim = try int("head_dim")
        intermediate = try int("intermediate_size")
        moeIntermediate = try int("moe_intermediate_size")
        experts = try int("n_routed_experts")
        vocab = try int("vocab_size")
    }

    enum ShapeError: Error { case missing(String) }

    /// The expected shape, or nil for a name that has no place in the model.
    func shape(of name: String) -> [Int]? {
        switch name {
        case "model.embed_tokens.weight", "lm_head.weight": return [vocab, hidden]
        case "model.norm.weight": return [hidden]
        default: break
        }
        let parts = name.split(separator: ".", maxSplits: 3).map(String.init)
        guard parts.count == 4, parts[0] == "model", parts[1] == "layers", let layer = Int(parts[2]),
              layer >= 0, layer <= layers else { return nil }
        let rest = parts[3]
        let q = heads * headDim, kv = kvHeads * headDim
        switch rest {
        case "input_layernorm.weight", "post_attention_layernorm.weight",
             "enorm.weight", "hnorm.weight", "shared_head.norm.weight": return [hidden]
        case "self_attn.q_proj.weight": return [q, hidden]
        case "self_attn.q_proj.bias": return [q]
        case "self_attn.k_proj.weight", "self_attn.v_proj.weight": return [kv, hidden]
        case "self_attn.k_proj.bias", "self_attn.v_proj.bias": return [kv]
        case "self_attn.o_proj.weight": return [hidden, q]
        case "self_attn.q_norm.weight", "self_attn.k_norm.weight": return [headDim]
        case "mlp.gate_proj.weight", "mlp.up_proj.weight": return [intermediate, hidden]
        case "mlp.down_proj.weight": return [hidden, intermediate]
        case "mlp.gate.weight": return [experts, hidden]
        case "mlp.gate.e_score_correction_bias": return [experts]
        case "mlp.shared_experts.gate_proj.weight", "mlp.shared_experts.up_proj.weight": return [moeIntermediate, hidden]
        case "mlp.shared_experts.down_proj.weight": return [hidden, moeIntermediate]
        case "eh_proj.weight": return layer == layers ? [hidden, 2 * hidden] : nil
        case "embed_tokens.weight", "shared_head.head.weight": return layer == layers ? [vocab, hidden] : nil
        default: break
        }
        let expert = rest.split(separator: ".").map(String.init)
        guard expert.count == 5, expert[0] == "mlp", expert[1] == "experts", let index = Int(expert[2]),
              index >= 0, index < experts, String(index) == expert[2], expert[4] == "weight" else { return nil }
        switch expert[3] {
        case "gate_proj", "up_proj": return [moeIntermediate, hidden]
        case "down_proj": return [hidden, moeIntermediate]
        default: return nil
        }
    }
}
