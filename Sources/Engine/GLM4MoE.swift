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
        let gateUp = linearBatch([(gate, x, tokens, nil), (up, x, tokens, nil)])
        return linear(down, Ops.swiglu(gate: gateUp[0], up: gateUp[1]), tokens: tokens)
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
    func callAsFunction(_ x: [Float], tokens: Int, hidden: Int, trace: ((String, [Float]) -> Void)? = nil) -> [Float] {
        let logits = linear(router.weight, x, tokens: tokens)
        var assigned = [[(token: Int, weight: Float)]](repeating: [], count: experts.count)
        var chosen: [Float] = [], weights: [Float] = []
        logits.withUnsafeBufferPointer { all in
            for t in 0..<tokens {
                let row = UnsafeBufferPointer(rebasing: all[t * experts.count ..< (t + 1) * experts.count])
                let route = router.route(logits: row)
                for (e, w) in route { assigned[e].append((t, w)) }
                if trace != nil {
                    let sorted = route.sorted { $0.weight > $1.weight }
                    chosen += sorted.map { Float($0.expert) }
                    weights += sorted.map(\.weight)
                }
            }
        }
        trace?("router_logits", logits); trace?("topk_idx", chosen); trace?("topk_w", weights)
        // Every active expert (and the shared one) as (feed-forward, token rows, gathered input); the gate/up
        // products of all of them run as one pool job, then all down products as another.
        var work: [(ffn: FeedForward, rows: [(token: Int, weight: Float)], input: [Float])] = []
        if let shared { work.append((shared, (0..<tokens).map { ($0, 1) }, x)) }
        for (e, list) in assigned.enumerated() where !list.isEmpty {
            var gathered = [Float](); gathered.reserveCapacity(list.count * hidden)
            for (t, _) in list { gathered.append(contentsOf: x[t * hidden ..< (t + 1) * hidden]) }
            work.append((experts[e], list, gathered))
        }
        let gateUp = linearBatch(work.flatMap { w in
            [(w.ffn.gate, w.input, w.rows.count, nil), (w.ffn.up, w.input, w.rows.count, nil)] as [(WeightMatrix, [Float], Int, [Float]?)]
        })
        let downs = linearBatch(work.indices.map { i in
            (work[i].ffn.down, Ops.swiglu(gate: gateUp[2 * i], up: gateUp[2 * i + 1]), work[i].rows.count, nil)
        })
        var out = [Float](repeating: 0, count: tokens * hidden)
        for (i, w) in work.enumerated() {
            for (row, (t, weight)) in w.rows.enumerated() {
                for j in 0..<hidden { out[t * hidden + j] += weight * downs[i][row * hidden + j] }
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

/// The multi-token-prediction layer (index `num_hidden_layers`): never part of the trunk; run by `mtp(...)`.
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

    var activeWeightBytesPerToken: Int {
        let bytes = activeWeights(\.byteCount)
        return bytes.trunk + bytes.head
    }

    /// What one token's pass reads of the weights, measured by `size` (bytes or elements): every attention and
    /// dense matrix, the router, `topK` routed experts and the shared expert of each MoE layer, one embedding row
    /// (`trunk`), and `lm_head` (`head`).
    func activeWeights(_ size: (WeightMatrix) -> Int) -> (trunk: Int, head: Int) {
        func ffn(_ f: FeedForward) -> Int { size(f.gate) + size(f.up) + size(f.down) }
        var total = size(embedTokens) / max(embedTokens.rows, 1)
        for layer in layers {
            let a = layer.attention
            total += size(a.qProj) + size(a.kProj) + size(a.vProj) + size(a.oProj)
            switch layer.mlp {
            case .dense(let mlp): total += ffn(mlp)
            case .moe(let moe):
                let perExpert = moe.experts.map(ffn).reduce(0, +) / max(moe.experts.count, 1)
                total += size(moe.router.weight) + moe.router.topK * perExpert + (moe.shared.map(ffn) ?? 0)
            }
        }
        return (total, size(lmHead))
    }

    /// One sequence of a batch: its new tokens, its cache, and where its rows start in the stacked activations.
    struct Segment {
        let tokens: [Int32]
        let cache: KVCache
        let firstRow: Int
        var rows: Range<Int> { firstRow ..< firstRow + tokens.count }
    }

    /// Runs every sequence's tokens at positions `cache.count ..< cache.count + tokens.count` of its own cache,
    /// appending to it. The sequences' rows are stacked, so each weight matrix is streamed once for all of them;
    /// only attention runs per sequence. Returns the post-norm hidden states `[rows, H]` of all rows.
    func hiddenStates(_ batch: [(tokens: [Int32], cache: KVCache)], trace: Trace? = nil) -> [Float] {
        var segments: [Segment] = []
        var row = 0
        for item in batch {
            segments.append(Segment(tokens: item.tokens, cache: item.cache, firstRow: row))
            row += item.tokens.count
        }
        let T = row, H = config.hiddenSize
        var h = [Float](repeating: 0, count: T * H)
        h.withUnsafeMutableBufferPointer { hp in
            for segment in segments {
                for (i, id) in segment.tokens.enumerated() {
                    embedTokens.row(Int(id), into: hp.baseAddress! + (segment.firstRow + i) * H)
                }
            }
        }
        for (l, layer) in layers.enumerated() {
            decoderLayer(layer, &h, index: l, cacheLayer: l, segments: segments, trace: trace)
        }
        for segment in segments { segment.cache.advance(by: segment.tokens.count) }
        let normed = Ops.rmsNorm(h, weight: norm, eps: eps)
        trace?("hidden_postnorm", layers.count, normed)
        return normed
    }

    /// One pre-norm decoder layer on the stacked rows `h` (model-spec §3.1), K/V into `cacheLayer` of each cache.
    func decoderLayer(_ layer: DecoderLayer, _ h: inout [Float], index l: Int, cacheLayer: Int, segments: [Segment],
                      trace: Trace? = nil) {
        let T = h.count / config.hiddenSize
        trace?("layer_input", l, h)
        let a = Ops.rmsNorm(h, weight: layer.inputNorm, eps: eps)
        trace?("attn_norm", l, a)
        let attn = attention(layer.attention, a, tokens: T, layer: cacheLayer, segments: segments, trace: trace)
        trace?("attn_out", l, attn)
        Ops.add(&h, attn)
        let m = Ops.rmsNorm(h, weight: layer.postAttentionNorm, eps: eps)
        trace?("mlp_norm", l, m)
        let out: [Float]
        switch layer.mlp {
        case .dense(let mlp): out = mlp(m, tokens: T)
        case .moe(let moe): out = moe(m, tokens: T, hidden: config.hiddenSize, trace: trace.map { t in { t($0, l, $1) } })
        }
        trace?("mlp_out", l, out)
        Ops.add(&h, out)
        trace?("out", l, h)
    }

    /// Self-attention of the stacked rows (model-spec §3.3): projections with bias → QK-norm → partial RoPE →
    /// each sequence's cache → causal GQA softmax over that cache → o_proj.
    func attention(_ attn: Attention, _ a: [Float], tokens T: Int, layer: Int, segments: [Segment],
                   trace: Trace? = nil) -> [Float] {
        let nH = config.numAttentionHeads, nKV = config.numKeyValueHeads, D = config.headDim
        let qkv = linearBatch([(attn.qProj, a, T, attn.qBias), (attn.kProj, a, T, attn.kBias), (attn.vProj, a, T, attn.vBias)])
        var q = qkv[0], k = qkv[1]
        let v = qkv[2]
        trace?("q", layer, q); trace?("k", layer, k); trace?("v", layer, v)
        if let qNorm = attn.qNorm, let kNorm = attn.kNorm {
            Ops.rmsNormInPlace(&q, weight: qNorm, eps: eps)
            Ops.rmsNormInPlace(&k, weight: kNorm, eps: eps)
        }
        var context = [Float](repeating: 0, count: T * nH * D)
        let qWidth = nH * D, kvWidth = nKV * D
        for segment in segments {
            let cache = segment.cache, n = segment.tokens.count, rows = segment.rows
            let positions = cache.count ..< cache.count + n
            rope.apply(&q, heads: nH, positions: positions, firstRow: rows.lowerBound)
            rope.apply(&k, heads: nKV, positions: positions, firstRow: rows.lowerBound)
            k.withUnsafeBufferPointer { kp in
                v.withUnsafeBufferPointer { vp in
                    cache.store(layer: layer, keys: kp.baseAddress! + rows.lowerBound * kvWidth,
                                values: vp.baseAddress! + rows.lowerBound * kvWidth, tokens: n)
                }
            }
            q.withUnsafeBufferPointer { qp in
                context.withUnsafeMutableBufferPointer { cp in
                    cache.attend(layer: layer, queries: qp.baseAddress! + rows.lowerBound * qWidth, tokens: n,
                                 heads: nH, headDim: D, into: cp.baseAddress! + rows.lowerBound * qWidth)
                }
            }
        }
        trace?("q_rope", layer, q); trace?("k_rope", layer, k); trace?("attn_ctx", layer, context)
        return linear(attn.oProj, context, tokens: T)
    }
}

extension Transformer {
    /// The MTP layer (model-spec §4.4) on rows `i`: token `tokens[i]` (the token after the one whose post-norm
    /// hidden state is `hidden[i]`) at position `cache.count + i` of the MTP cache (layer 0 of `cache`).
    /// `u = [enorm(embed(t)); hnorm(h)]`, `z = eh_proj·u`, `y = DecoderLayer_N(z)`,
    /// logits = head(shared_head.norm(y)). With `zeroEmbeddingAtPositionZero` (vLLM) the embedding of the row at
    /// position 0 is zero. Returns `(logits [T, V], y [T, H])`.
    /// `headRows`: how many of the last rows get logits (nil: all), e.g. 1 for a draft, 0 to only fill the cache.
    func mtp(_ mtp: MTPLayer, tokens: [Int32], hidden: [Float], cache: KVCache,
             zeroEmbeddingAtPositionZero: Bool, headRows: Int? = nil) -> (logits: [Float], output: [Float]) {
        let T = tokens.count, H = config.hiddenSize
        let embed = mtp.embedTokens ?? embedTokens
        var e = [Float](repeating: 0, count: T * H)
        e.withUnsafeMutableBufferPointer { ep in
            for (i, id) in tokens.enumerated() where !(zeroEmbeddingAtPositionZero && cache.count + i == 0) {
                embed.row(Int(id), into: ep.baseAddress! + i * H)
            }
        }
        let en = Ops.rmsNorm(e, weight: mtp.enorm, eps: eps), hn = Ops.rmsNorm(hidden, weight: mtp.hnorm, eps: eps)
        var u = [Float](); u.reserveCapacity(2 * T * H)
        for i in 0..<T {                                   // embedding half first, then the hidden state
            u += en[i * H ..< (i + 1) * H]
            u += hn[i * H ..< (i + 1) * H]
        }
        var z = linear(mtp.ehProj, u, tokens: T)
        let segment = Segment(tokens: tokens, cache: cache, firstRow: 0)
        decoderLayer(mtp.layer, &z, index: layers.count, cacheLayer: 0, segments: [segment])
        cache.advance(by: T)
        let rows = min(max(headRows ?? T, 0), T)
        guard rows > 0 else { return ([], z) }
        let last = Array(z[(T - rows) * H ..< T * H])
        let logits = linear(mtp.head ?? lmHead, Ops.rmsNorm(last, weight: mtp.sharedHeadNorm, eps: eps), tokens: rows)
        return (logits, z)
    }
}

/// Receives intermediate tensors (name, layer, row-major values) during a forward pass, for tests and debugging;
/// names follow the fixtures' `reference.safetensors` (`attn_out`, `router_logits`, `topk_idx`, ...).
typealias Trace = (String, Int, [Float]) -> Void
