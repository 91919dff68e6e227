import Foundation

/// The hyperparameters of a `Glm4MoeForCausalLM` checkpoint (`model_type: glm4_moe`), decoded from `config.json`
/// and validated (model-spec §1). Values the engine derives are computed properties.
public struct ModelConfig: Decodable, Sendable, Equatable {
    public let modelType: String
    public let vocabSize: Int
    public let hiddenSize: Int
    public let intermediateSize: Int
    public let moeIntermediateSize: Int
    public let numHiddenLayers: Int
    public let numAttentionHeads: Int
    public let numKeyValueHeads: Int
    /// Per-head width; `hidden_size / num_attention_heads` when the file has none (it must then divide).
    public let headDim: Int
    public let partialRotaryFactor: Double
    public let ropeTheta: Double
    public let nRoutedExperts: Int
    public let nSharedExperts: Int
    public let numExpertsPerTok: Int
    public let nGroup: Int
    public let topkGroup: Int
    public let firstKDenseReplace: Int
    public let normTopkProb: Bool
    public let routedScalingFactor: Double
    public let useQKNorm: Bool
    public let attentionBias: Bool
    public let rmsNormEps: Double
    public let maxPositionEmbeddings: Int
    public let tieWordEmbeddings: Bool
    /// `eos_token_id`, an int or a list in the file.
    public let eosTokenIds: [Int]
    public let padTokenId: Int?
    /// `num_nextn_predict_layers` (alias `num_mtp_layers`): MTP layers stored after the trunk.
    public let numNextnPredictLayers: Int
    public let hiddenAct: String
    /// `quantization_config.quant_method`, if any (e.g. `compressed-tensors`, `fp8`).
    public let quantMethod: String?
    /// For a folder written by `glmserve quantize` (`quant_method` "glmserve"): `quantization_config.type`
    /// (`q8` / `q4`) and `.version` (the block-format version, see `QuantizationFormat`).
    public let quantType: String?
    public let quantVersion: Int?

    /// Rotary dims per head, `R = int(head_dim · partial_rotary_factor)`.
    public var rotaryDim: Int { Int(Double(headDim) * partialRotaryFactor) }
    /// Query heads that share one KV head.
    public var queryHeadsPerKVHead: Int { numAttentionHeads / numKeyValueHeads }
    /// Width of the shared expert: `moe_intermediate_size · n_shared_experts`.
    public var sharedIntermediateSize: Int { moeIntermediateSize * nSharedExperts }
    /// A layer is MoE exactly when its index is at least `first_k_dense_replace`.
    public func isMoELayer(_ layer: Int) -> Bool { layer >= firstKDenseReplace }

    /// Throws `EngineError.contextTooLong` unless `promptTokens + newTokens` positions fit in
    /// `max_position_embeddings`; callers check this before loading the weights.
    public func checkContext(promptTokens: Int, newTokens: Int) throws {
        let (total, overflow) = promptTokens.addingReportingOverflow(newTokens)
        guard !overflow, total <= maxPositionEmbeddings else {
            throw EngineError.contextTooLong(promptTokens: promptTokens, newTokens: newTokens, limit: maxPositionEmbeddings)
        }
    }

    /// Reads and validates `directory/config.json`.
    public static func load(from directory: URL) throws -> ModelConfig {
        let url = directory.appendingPathComponent("config.json")
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw EngineError.invalidConfig(file: url.path, problem: "cannot read the file (\(error.localizedDescription))")
        }
        return try decode(data, file: url.path)
    }

    /// Decodes and validates config JSON; `file` names the source in errors.
    public static func decode(_ data: Data, file: String = "config.json") throws -> ModelConfig {
        do {
            let config = try JSONDecoder().decode(ModelConfig.self, from: data)
            try config.validate(file: file)
            return config
        } catch let EngineError.invalidConfig(_, problem) {
            throw EngineError.invalidConfig(file: file, problem: problem)
        } catch let error as EngineError {
            throw error
        } catch DecodingError.typeMismatch(_, let context) where context.codingPath.isEmpty {
            throw EngineError.invalidConfig(file: file, problem: "the file must be a JSON object of settings")
        } catch let DecodingError.keyNotFound(key, _) {
            throw EngineError.invalidConfig(file: file, problem: "required key '\(key.stringValue)' is missing")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw EngineError.invalidConfig(file: file, problem: "key '\(path)': \(context.debugDescription)")
        } catch let DecodingError.dataCorrupted(context) {
            // Values are read with the typed helpers (ConfigValueReading), so this is JSON syntax.
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw EngineError.invalidConfig(file: file, problem: path.isEmpty
                ? "not valid JSON: \(context.debugDescription)" : "key '\(path)': \(context.debugDescription)")
        } catch {
            throw EngineError.invalidConfig(file: file, problem: "\(error)")
        }
    }

    // MARK: decoding

    private enum Key: String, CodingKey {
        case model_type, vocab_size, hidden_size, intermediate_size, moe_intermediate_size, num_hidden_layers
        case num_attention_heads, num_key_value_heads, head_dim, partial_rotary_factor, rope_theta, rope_parameters
        case rope_scaling, n_routed_experts, n_shared_experts, num_experts_per_tok, n_group, topk_group
        case first_k_dense_replace, norm_topk_prob, routed_scaling_factor, use_qk_norm, attention_bias, rms_norm_eps
        case max_position_embeddings, tie_word_embeddings, eos_token_id, pad_token_id, num_nextn_predict_layers
        case num_mtp_layers, hidden_act, scoring_func, topk_method, quantization_config
    }
    private enum RopeKey: String, CodingKey { case rope_type, rope_theta, partial_rotary_factor }
    private enum QuantKey: String, CodingKey { case quant_method, type, version }

    private static func refuse(_ problem: String) -> EngineError { .invalidConfig(file: "config.json", problem: problem) }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        modelType = try c.requiredString(.model_type)
        vocabSize = try c.requiredInteger(.vocab_size)
        hiddenSize = try c.requiredInteger(.hidden_size)
        intermediateSize = try c.requiredInteger(.intermediate_size)
        moeIntermediateSize = try c.requiredInteger(.moe_intermediate_size)
        numHiddenLayers = try c.requiredInteger(.num_hidden_layers)
        numAttentionHeads = try c.requiredInteger(.num_attention_heads)
        numKeyValueHeads = try c.integer(.num_key_value_heads) ?? numAttentionHeads
        if let d = try c.integer(.head_dim) {
            headDim = d
        } else {
            guard numAttentionHeads > 0, hiddenSize % numAttentionHeads == 0 else {
                throw Self.refuse("head_dim is absent and hidden_size \(hiddenSize) is not divisible by num_attention_heads \(numAttentionHeads)")
            }
            headDim = hiddenSize / numAttentionHeads
        }
        // rope_theta / partial_rotary_factor: top level (release files) or inside rope_parameters (transformers 5).
        var theta = try c.number(.rope_theta)
        var factor = try c.number(.partial_rotary_factor)
        if let r = try c.object(.rope_parameters, keyedBy: RopeKey.self) {
            if let kind = try r.string(.rope_type), kind != "default" {
                throw Self.refuse("rope_parameters.rope_type '\(kind)' is not supported (only 'default')")
            }
            theta = try theta ?? r.number(.rope_theta)
            factor = try factor ?? r.number(.partial_rotary_factor)
        }
        if c.contains(.rope_scaling), try !c.decodeNil(forKey: .rope_scaling) {
            throw Self.refuse("rope_scaling is set; only unscaled RoPE (null) is supported")
        }
        guard let theta else { throw Self.refuse("required key 'rope_theta' is missing") }
        ropeTheta = theta
        partialRotaryFactor = factor ?? 0.5
        nRoutedExperts = try c.requiredInteger(.n_routed_experts)
        nSharedExperts = try c.integer(.n_shared_experts) ?? 1
        numExpertsPerTok = try c.requiredInteger(.num_experts_per_tok)
        nGroup = try c.integer(.n_group) ?? 1
        topkGroup = try c.integer(.topk_group) ?? 1
        firstKDenseReplace = try c.integer(.first_k_dense_replace) ?? 0
        normTopkProb = try c.boolean(.norm_topk_prob) ?? true
        routedScalingFactor = try c.number(.routed_scaling_factor) ?? 1.0
        useQKNorm = try c.boolean(.use_qk_norm) ?? false
        attentionBias = try c.boolean(.attention_bias) ?? false
        rmsNormEps = try c.number(.rms_norm_eps) ?? 1e-5
        maxPositionEmbeddings = try c.requiredInteger(.max_position_embeddings)
        tieWordEmbeddings = try c.boolean(.tie_word_embeddings) ?? false
        eosTokenIds = try c.integers(.eos_token_id)
        padTokenId = try c.integer(.pad_token_id)
        numNextnPredictLayers = try c.integer(.num_nextn_predict_layers)
            ?? c.integer(.num_mtp_layers) ?? 0
        hiddenAct = try c.string(.hidden_act) ?? "silu"
        if let scoring = try c.string(.scoring_func), scoring != "sigmoid" {
            throw Self.refuse("scoring_func '\(scoring)' is not supported (only 'sigmoid')")
        }
        if let method = try c.string(.topk_method), method != "noaux_tc" {
            throw Self.refuse("topk_method '\(method)' is not supported (only 'noaux_tc')")
        }
        if let q = try c.object(.quantization_config, keyedBy: QuantKey.self) {
            quantMethod = try q.string(.quant_method)
            // Only GLMServe's own format is read here (other methods' `version` is e.g. a library's "0.19.0").
            let own = quantMethod == QuantizationFormat.method
            quantType = own ? try q.string(.type) : nil
            quantVersion = own ? try q.integer(.version) : nil
        } else {
            quantMethod = nil
            quantType = nil
            quantVersion = nil
        }
    }

    /// Checks that the values describe a model the engine can run (model-spec §1.3, §3).
    public func validate(file: String = "config.json") throws {
        func fail(_ problem: String) -> EngineError { .invalidConfig(file: file, problem: problem) }
        guard modelType == "glm4_moe" else { throw fail("model_type '\(modelType)' is not 'glm4_moe'") }
        let sizes: [(String, Int)] = [
            ("vocab_size", vocabSize), ("hidden_size", hiddenSize), ("intermediate_size", intermediateSize),
            ("moe_intermediate_size", moeIntermediateSize), ("num_hidden_layers", numHiddenLayers),
            ("num_attention_heads", numAttentionHeads), ("num_key_value_heads", numKeyValueHeads),
            ("head_dim", headDim), ("n_routed_experts", nRoutedExperts), ("num_experts_per_tok", numExpertsPerTok),
            ("n_group", nGroup), ("topk_group", topkGroup),
        ]
        for (name, value) in sizes where value <= 0 { throw fail("\(name) must be positive, got \(value)") }
        for (name, value) in sizes where value > 1 << 24 { throw fail("\(name) = \(value) is implausibly large") }
        guard maxPositionEmbeddings > 0, maxPositionEmbeddings <= 1 << 26 else {
            throw fail("max_position_embeddings must be in 1 ... 2^26, got \(maxPositionEmbeddings)")
        }
        guard nSharedExperts >= 0, nSharedExperts <= 64 else { throw fail("n_shared_experts \(nSharedExperts) is out of range") }
        guard numAttentionHeads % numKeyValueHeads == 0 else {
            throw fail("num_attention_heads \(numAttentionHeads) is not divisible by num_key_value_heads \(numKeyValueHeads)")
        }
        guard partialRotaryFactor > 0, partialRotaryFactor <= 1 else {
            throw fail("partial_rotary_factor must be in (0, 1], got \(partialRotaryFactor)")
        }
        guard rotaryDim >= 2, rotaryDim % 2 == 0 else {
            throw fail("rotary dim int(head_dim \(headDim) × partial_rotary_factor \(partialRotaryFactor)) = \(rotaryDim) must be even and ≥ 2")
        }
        guard ropeTheta > 0, ropeTheta.isFinite else { throw fail("rope_theta must be positive, got \(ropeTheta)") }
        guard rmsNormEps > 0, rmsNormEps.isFinite else { throw fail("rms_norm_eps must be positive, got \(rmsNormEps)") }
        guard numExpertsPerTok <= nRoutedExperts else {
            throw fail("num_experts_per_tok \(numExpertsPerTok) exceeds n_routed_experts \(nRoutedExperts)")
        }
        guard nRoutedExperts % nGroup == 0 else { throw fail("n_group \(nGroup) does not divide n_routed_experts \(nRoutedExperts)") }
        guard topkGroup <= nGroup else { throw fail("topk_group \(topkGroup) exceeds n_group \(nGroup)") }
        guard numExpertsPerTok <= topkGroup * (nRoutedExperts / nGroup) else {
            throw fail("num_experts_per_tok \(numExpertsPerTok) exceeds the \(topkGroup * (nRoutedExperts / nGroup)) experts of the topk_group kept groups")
        }
        guard firstKDenseReplace >= 0, firstKDenseReplace <= numHiddenLayers else {
            throw fail("first_k_dense_replace \(firstKDenseReplace) is outside 0 ... num_hidden_layers \(numHiddenLayers)")
        }
        guard routedScalingFactor.isFinite, routedScalingFactor > 0 else {
            throw fail("routed_scaling_factor must be positive, got \(routedScalingFactor)")
        }
        guard hiddenAct == "silu" else { throw fail("hidden_act '\(hiddenAct)' is not supported (only 'silu')") }
        guard numNextnPredictLayers >= 0, numNextnPredictLayers <= 1 else {
            throw fail("num_nextn_predict_layers \(numNextnPredictLayers) is not supported (0 or 1)")
        }
        for id in eosTokenIds where id < 0 || id >= vocabSize {
            throw fail("eos_token_id \(id) is outside the vocabulary (0 ..< \(vocabSize))")
        }
    }
}
