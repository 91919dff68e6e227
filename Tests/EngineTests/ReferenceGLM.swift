import Foundation
import SafeTensors
@testable import Engine

/// A slow, straightforward float64 Glm4MoeForCausalLM written from model-spec §3 only, reading the weights
/// the engine reads (dequantised by the SafeTensors module). Whole-sequence forward, no cache.
struct ReferenceGLM {
    let spec: RandomModelSpec
    let weights: [String: [Double]]

    init(spec: RandomModelSpec, directory: URL) throws {
        self.spec = spec
        let checkpoint = try Checkpoint(directory: directory)
        var w: [String: [Double]] = [:]
        for name in checkpoint.tensorNames where !name.hasSuffix("_scale") {
            if let scaled = try checkpoint.scaledWeight(named: name) {
                w[name] = try scaled.dequantized().map(Double.init)
            } else {
                w[name] = try checkpoint.tensor(named: name).floats().map(Double.init)
            }
        }
        weights = w
    }

    private func W(_ name: String) -> [Double] { weights[name]! }

    /// `y[o] = Σ_i W[o, i] x[i]`.
    private func matvec(_ name: String, _ x: [Double], bias: String? = nil) -> [Double] {
        let w = W(name), cols = x.count, rows = w.count / cols
        var y = (0..<rows).map { o in (0..<cols).reduce(0.0) { $0 + w[o * cols + $1] * x[$1] } }
        if let bias { let b = W(bias); for o in 0..<rows { y[o] += b[o] } }
        return y
    }

    private func rmsNorm(_ x: [Double], _ name: String) -> [Double] {
        let w = W(name)
        let ms = x.reduce(0) { $0 + $1 * $1 } / Double(x.count)
        return x.indices.map { w[$0] * x[$0] / (ms + 1e-5).squareRoot() }
    }

    private func silu(_ z: Double) -> Double { z / (1 + exp(-z)) }

    private func mlp(_ p: String, _ x: [Double]) -> [Double] {
        let g = matvec(p + "gate_proj.weight", x), u = matvec(p + "up_proj.weight", x)
        return matvec(p + "down_proj.weight", g.indices.map { silu(g[$0]) * u[$0] })
    }

    private func rope(_ v: [Double], position: Int) -> [Double] {
        let D = spec.resolvedHeadDim, R = Int(Double(D) * spec.partialRotary), half = R / 2
        var out = v
        for i in 0..<half {
            let angle = Double(position) * pow(spec.ropeTheta, -2 * Double(i) / Double(R))
            out[i] = v[i] * cos(angle) - v[i + half] * sin(angle)
            out[i + half] = v[i + half] * cos(angle) + v[i] * sin(angle)
        }
        return out
    }

    private func moe(_ p: String, _ x: [Double]) -> [Double] {
        let E = spec.experts, G = spec.groups
        let r = matvec(p + "gate.weight", x)
        let s = r.map { 1 / (1 + exp(-$0)) }
        let bias = W(p + "gate.e_score_correction_bias")
        var c = s.indices.map { s[$0] + bias[$0] }
        if G > 1 {
            let n = E / G
            let gs = (0..<G).map { g in c[g * n ..< g * n + n].sorted(by: >).prefix(2).reduce(0, +) }
            let keep = Set((0..<G).sorted { gs[$0] > gs[$1] }.prefix(spec.topkGroup))
            for e in 0..<E where !keep.contains(e / n) { c[e] = -.infinity }
        }
        let idx = (0..<E).sorted { c[$0] > c[$1] }.prefix(spec.topK)
        var w = idx.map { s[$0] }
        if spec.normTopk { let total = w.reduce(0, +) + 1e-20; w = w.map { $0 / total } }
        w = w.map { $0 * spec.scaling }
        var y = [Double](repeating: 0, count: x.count)
        for (k, e) in idx.enumerated() {
            let out = mlp(p + "experts.\(e).", x)
            for j in y.indices { y[j] += w[k] * out[j] }
        }
        if spec.shared > 0 {
            let out = mlp(p + "shared_experts.", x)
            for j in y.indices { y[j] += out[j] }
        }
        return y
    }

    /// Logits `[T][vocab]` of every position.
    func logits(_ ids: [Int]) -> [[Double]] {
        let H = spec.hidden, D = spec.resolvedHeadDim, nH = spec.heads, nKV = spec.kvHeads
        let embed = W("model.embed_tokens.weight")
        var h = ids.map { Array(embed[$0 * H ..< ($0 + 1) * H]) }
        for l in 0..<spec.layers {
            let p = "model.layers.\(l)."
            let a = h.map { rmsNorm($0, p + "input_layernorm.weight") }
            let bias = spec.attentionBias
            var q = a.map { matvec(p + "self_attn.q_proj.weight", $0, bias: bias ? p + "self_attn.q_proj.bias" : nil) }
            var k = a.map { matvec(p + "self_attn.k_proj.weight", $0, bias: bias ? p + "self_attn.k_proj.bias" : nil) }
            let v = a.map { matvec(p + "self_attn.v_proj.weight", $0, bias: bias ? p + "self_attn.v_proj.bias" : nil) }
            for t in ids.indices {
                for hd in 0..<nH {
                    var head = Array(q[t][hd * D ..< (hd + 1) * D])
                    if spec.qkNorm { head = rmsNorm(head, p + "self_attn.q_norm.weight") }
                    q[t].replaceSubrange(hd * D ..< (hd + 1) * D, with: rope(head, position: t))
                }
                for g in 0..<nKV {
                    var head = Array(k[t][g * D ..< (g + 1) * D])
                    if spec.qkNorm { head = rmsNorm(head, p + "self_attn.k_norm.weight") }
                    k[t].replaceSubrange(g * D ..< (g + 1) * D, with: rope(head, position: t))
                }
            }
            for t in ids.indices {
                var ctx = [Double]()
                for hd in 0..<nH {
                    let g = hd / (nH / nKV)
                    let scores = (0...t).map { j in
                        (0..<D).reduce(0.0) { $0 + q[t][hd * D + $1] * k[j][g * D + $1] } / Double(D).squareRoot()
                    }
                    let m = scores.max()!
                    let e = scores.map { exp($0 - m) }, total = e.reduce(0, +)
                    for d in 0..<D { ctx.append((0...t).reduce(0.0) { $0 + e[$1] / total * v[$1][g * D + d] }) }
                }
                let o = matvec(p + "self_attn.o_proj.weight", ctx)
                for j in 0..<H { h[t][j] += o[j] }
            }
            for t in ids.indices {
                let m = rmsNorm(h[t], p + "post_attention_layernorm.weight")
                let out = l >= spec.firstDense ? moe(p + "mlp.", m) : mlp(p + "mlp.", m)
                for j in 0..<H { h[t][j] += out[j] }
            }
        }
        let head = spec.tie ? "model.embed_tokens.weight" : "lm_head.weight"
        return h.map { matvec(head, rmsNorm($0, "model.norm.weight")) }
    }
}
