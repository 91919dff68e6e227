import CKernels
import Foundation

// The Glm4MoeForCausalLM forward pass (model-spec §3), written as plainly as the math. Speed lives beneath it:
// `linear` streams weights in their checkpoint dtype through the C kernels, `ck_attention` runs the heads.

/// `down(silu(gate(x)) ⊙ up(x))` — the dense MLP, every routed expert and the shared expert.
struct FeedForward {
    let gate: WeightMatrix
    let up: WeightMatrix
    let down: WeightMatrix

    func callAsFunction(_ x: [Float], tokens: Int) -> [Float] {
        let hidden = Ops.swiglu(gate: linear(gate, x, tokens: tokens), up: linear(up, x, tokens: tokens))
        return linear(down, hidden, tokens: tokens)
    }
}

struct Attention {
    let qProj: WeightMatrix, kProj: WeightMatrix, vProj: WeightMatrix, oProj: WeightMatrix
    let qBias: [Float]?, kBias: [Float]?, vBias: [Float]?
    /// Per-head RMSNorm weights `[head_dim]` (only with `use_qk_norm`).
    let qNorm: [Float]?, kNorm: [Float]?
}

/// Sigmoid router with selection bias and group-limited top-k (model-spec §3.5).
struct Router {
    let weight: WeightMatrix            // [E, H], applied in f32
    let correctionBias: [Float]         // [E], selection only
    let topK: Int, groups: Int, topkGroup: Int
    let normalize: Bool
    let scaling: Float

    /// Chosen experts and their combine weights for one token, from its router logits.
    func route(logits: UnsafeBufferPointer<Float>) -> [(expert: Int, weight: Float)] {
        let experts = logits.count
        let scores = logits.map { 1 / (1 + exp(-$0)) }
        var choice = (0..<experts).map { scores[$0] + correctionBias[$0] }
        if groups > 1 {
            let size = experts / groups
            let groupScores = (0..<groups).map { g -> Float in
                let top = choice[g * size ..< (g + 1) * size].sorted(by: >)
                return top.prefix(2).reduce(0, +)
            }
            let kept = Set((0..<groups).sorted { groupScores[$0] > groupScores[$1] || (groupScores[$0] == groupScores[$1] && $0 < $1) }
                .prefix(topkGroup))
            for e in 0..<experts where !kept.contains(e / size) { choice[e] = -.infinity }
        }
        let chosen = (0..<experts).sorted { choice[$0] > choice[$1] || (choice[$0] == choice[$1] && $0 < $1) }.prefix(topK)
        var weights = chosen.map { scores[$0] }
        if normalize {
            let total = weights.reduce(0, +) + 1e-20
            weights = weights.map { $0 / total }
        }
        return zip(chosen, weights).map { ($0, $1 * scaling) }
    }
}

struct MixtureOfExperts {
    let router: Router
    let experts: [FeedForward]
    let shared: FeedForward?

    /// `Σ_k w_k · expert_k(x) + shared(x)` per token; tokens routed to one expert run through it together.
    func callAsFunction(_ x: [Float], tokens: Int, hidden: Int) -> [Float] {
        let logits = linear(router.weight, x, tokens: tokens)
        var assigned = [[(token: Int, weight: Float)]](repeating: [], count: experts.count)
        logits.withUnsafeBufferPointer { all in
            for t in 0..<tokens {
                let row = UnsafeBufferPointer(rebasing: all[t * experts.count ..< (t + 1) * experts.count])
                for (e, w) in router.route(logits: row) { assigned[e].append((t, w)) }
            }
        }
        var out = shared.map { $0(x, tokens: tokens) } ?? [Float](repeating: 0, count: tokens * hidden)
        for (e, list) in assigned.enumerated() where !list.isEmpty {
            var gathered = [Float](); gathered.reserveCapacity(list.count * hidden)
            for (t, _) in list { gathered.append(contentsOf: x[t * hidden ..< (t + 1) * hidden]) }
            let y = experts[e](gathered, tokens: list.count)
            for (i, (t, w)) in list.enumerated() {
                for j in 0..<hidden { out[t * hidden + j] += w * y[i * hidden + j] }
            }
        }
        return out
    }
}

enum MLPBlock {
    case dense(FeedForward)
    case moe(MixtureOfExperts)
}

struct DecoderLayer {
    let inputNorm: [Float]
    let attention: Attention
    let postAttentionNorm: [Float]
    let mlp: MLPBlock
}

/// The multi-token-prediction layer (index `num_hidden_layers`): loaded and shape-checked, not run by `forward`.
struct MTPLayer {
    let layer: DecoderLayer
    let enorm: [Float], hnorm: [Float], sharedHeadNorm: [Float]
    let ehProj: WeightMatrix
    /// The layer's own embedding / head (GLM-4.5 layout); nil means the main ones (GLM-4.6 layout).
    let embedTokens: WeightMatrix?, head: WeightMatrix?
}

/// The trunk: what `forward` runs.
struct Transformer {
    let config: ModelConfig
    let embedTokens: WeightMatrix
    let layers: [DecoderLayer]
    let norm: [Float]
    let lmHead: WeightMatrix
    let mtp: MTPLayer?
    let rope: Rope

    var eps: Float { Float(config.rmsNormEps) }

    /// Runs `tokens` at positions `cache.count ..< cache.count + tokens.count`, appending to the cache.
    /// Returns the post-norm hidden states of the rows `lastOnly` selects.
    func hiddenStates(_ tokens: [Int32], cache: KVCache, lastOnly: Bool) -> [Float] {
        let T = tokens.count, H = config.hiddenSize
        var h = [Float](repeating: 0, count: T * H)
        h.withUnsafeMutableBufferPointer { hp in
            for (t, id) in tokens.enumerated() { embedTokens.row(Int(id), into: hp.baseAddress! + t * H) }
        }
        for (l, layer) in layers.enumerated() {
            let a = Ops.rmsNorm(h, weight: layer.inputNorm, eps: eps)
            Ops.add(&h, attention(layer.attention, a, tokens: T, layer: l, cache: cache))
            let m = Ops.rmsNorm(h, weight: layer.postAttentionNorm, eps: eps)
            switch layer.mlp {
            case .dense(let mlp): Ops.add(&h, mlp(m, tokens: T))
            case .moe(let moe): Ops.add(&h, moe(m, tokens: T, hidden: H))
            }
        }
        cache.advance(by: T)
        let rows = lastOnly ? Array(h[(T - 1) * H ..< T * H]) : h
        return Ops.rmsNorm(rows, weight: norm, eps: eps)
    }

    /// Self-attention of `T` tokens (model-spec §3.3): projections with bias → QK-norm → partial RoPE →
    /// cache → causal GQA softmax → o_proj.
    func attention(_ attn: Attention, _ a: [Float], tokens T: Int, layer: Int, cache: KVCache) -> [Float] {
        let nH = config.numAttentionHeads, nKV = config.numKeyValueHeads, D = config.headDim
        var q = linear(attn.qProj, a, tokens: T, bias: attn.qBias)
        var k = linear(attn.kProj, a, tokens: T, bias: attn.kBias)
        let v = linear(attn.vProj, a, tokens: T, bias: attn.vBias)
        if let qNorm = attn.qNorm, let kNorm = attn.kNorm {
            Ops.rmsNormInPlace(&q, weight: qNorm, eps: eps)
            Ops.rmsNormInPlace(&k, weight: kNorm, eps: eps)
        }
        let positions = cache.count ..< cache.count + T
        rope.apply(&q, heads: nH, positions: positions)
        rope.apply(&k, heads: nKV, positions: positions)
        cache.store(layer: layer, keys: k, values: v, tokens: T)
        var context = [Float](repeating: 0, count: T * nH * D)
        q.withUnsafeBufferPointer { qp in
            context.withUnsafeMutableBufferPointer { cp in
                ck_attention(qp.baseAddress, Int64(T), Int64(cache.count), Int64(nH), Int64(nKV), Int64(D),
                             cache.keys[layer], cache.values[layer], cp.baseAddress, 1 / Float(D).squareRoot())
            }
        }
        return linear(attn.oProj, context, tokens: T)
    }
}
