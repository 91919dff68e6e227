import Foundation
import SafeTensors

// Building the engine's model from a checkpoint: which tensors a config calls for, with which shapes
// (model-spec §4.1, §6). Every tensor is checked as it is wrapped; nothing is copied but norms and biases.

extension GLMModel {
    static func expectedTensorCount(_ c: ModelConfig, checkpoint: Checkpoint, mtp: Bool) -> Int {
        let attention = 6 + (c.attentionBias ? 3 : 0) + (c.useQKNorm ? 2 : 0)
        let moe = 2 + 3 * c.nRoutedExperts + (c.nSharedExperts > 0 ? 3 : 0)
        var total = 2 + (c.tieWordEmbeddings ? 0 : 1)
        for l in 0..<c.numHiddenLayers { total += attention + (c.isMoELayer(l) ? moe : 3) }
        if mtp {
            let prefix = "model.layers.\(c.numHiddenLayers)."
            total += attention + moe + 4
            total += checkpoint.contains(prefix + "embed_tokens.weight") ? 1 : 0
            total += checkpoint.contains(prefix + "shared_head.head.weight") ? 1 : 0
        }
        return total
    }

    static func build(_ c: ModelConfig, loader: WeightLoader, mtp: Bool) throws -> Transformer {
        let H = c.hiddenSize, V = c.vocabSize
        let embed = try loader.matrix("model.embed_tokens.weight", rows: V, cols: H)
        var layers: [DecoderLayer] = []
        for l in 0..<c.numHiddenLayers {
            layers.append(try decoderLayer(c, index: l, moe: c.isMoELayer(l), loader: loader))
        }
        let norm = try loader.vector("model.norm.weight", length: H)
        let head = c.tieWordEmbeddings ? embed : try loader.matrix("lm_head.weight", rows: V, cols: H)
        var mtpLayer: MTPLayer?
        if mtp {
            let n = c.numHiddenLayers, p = "model.layers.\(n)."
            mtpLayer = MTPLayer(
                layer: try decoderLayer(c, index: n, moe: true, loader: loader),
                enorm: try loader.vector(p + "enorm.weight", length: H),
                hnorm: try loader.vector(p + "hnorm.weight", length: H),
                sharedHeadNorm: try loader.vector(p + "shared_head.norm.weight", length: H),
                ehProj: try loader.matrix(p + "eh_proj.weight", rows: H, cols: 2 * H),
                embedTokens: loader.has(p + "embed_tokens.weight") ? try loader.matrix(p + "embed_tokens.weight", rows: V, cols: H) : nil,
                head: loader.has(p + "shared_head.head.weight") ? try loader.matrix(p + "shared_head.head.weight", rows: V, cols: H) : nil)
        }
        return Transformer(config: c, embedTokens: embed, layers: layers, norm: norm, lmHead: head, mtp: mtpLayer,
                           rope: Rope(rotaryDim: c.rotaryDim, headDim: c.headDim, theta: c.ropeTheta))
    }

    private static func decoderLayer(_ c: ModelConfig, index l: Int, moe: Bool, loader: WeightLoader) throws -> DecoderLayer {
        let H = c.hiddenSize, D = c.headDim, q = c.numAttentionHeads * D, kv = c.numKeyValueHeads * D
        let p = "model.layers.\(l)."
        let a = p + "self_attn."
        let attention = Attention(
            qProj: try loader.matrix(a + "q_proj.weight", rows: q, cols: H),
            kProj: try loader.matrix(a + "k_proj.weight", rows: kv, cols: H),
            vProj: try loader.matrix(a + "v_proj.weight", rows: kv, cols: H),
            oProj: try loader.matrix(a + "o_proj.weight", rows: H, cols: q),
            qBias: c.attentionBias ? try loader.vector(a + "q_proj.bias", length: q) : nil,
            kBias: c.attentionBias ? try loader.vector(a + "k_proj.bias", length: kv) : nil,
            vBias: c.attentionBias ? try loader.vector(a + "v_proj.bias", length: kv) : nil,
            qNorm: c.useQKNorm ? try loader.vector(a + "q_norm.weight", length: D) : nil,
            kNorm: c.useQKNorm ? try loader.vector(a + "k_norm.weight", length: D) : nil)
        let m = p + "mlp."
        func feedForward(_ prefix: String, width: Int) throws -> FeedForward {
            FeedForward(gate: try loader.matrix(prefix + "gate_proj.weight", rows: width, cols: H),
                        up: try loader.matrix(prefix + "up_proj.weight", rows: width, cols: H),
                        down: try loader.matrix(prefix + "down_proj.weight", rows: H, cols: width))
        }
        let block: MLPBlock
        if moe {
            let E = c.nRoutedExperts
            // The router is f32 math in both numeric modes (model-spec §3.5): expert choice is where a rounded
            // activation could change the computation discontinuously, and the matrix is small.
            var routerWeight = try loader.matrix(m + "gate.weight", rows: E, cols: H)
            routerWeight.numerics = .exact
            let router = Router(weight: routerWeight,
                                correctionBias: try loader.vector(m + "gate.e_score_correction_bias", length: E),
                                topK: c.numExpertsPerTok, groups: c.nGroup, topkGroup: c.topkGroup,
                                normalize: c.normTopkProb, scaling: Float(c.routedScalingFactor))
            var experts: [FeedForward] = []
            experts.reserveCapacity(E)
            for e in 0..<E { experts.append(try feedForward(m + "experts.\(e).", width: c.moeIntermediateSize)) }
            let shared = c.nSharedExperts > 0 ? try feedForward(m + "shared_experts.", width: c.sharedIntermediateSize) : nil
            block = .moe(MixtureOfExperts(router: router, experts: experts, shared: shared))
        } else {
            block = .dense(try feedForward(m, width: c.intermediateSize))
        }
        return DecoderLayer(inputNorm: try loader.vector(p + "input_layernorm.weight", length: H),
                            attention: attention,
                            postAttentionNorm: try loader.vector(p + "post_attention_layernorm.weight", length: H),
                            mlp: block)
    }
}
