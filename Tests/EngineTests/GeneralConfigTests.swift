import Foundation
import SafeTensors
import XCTest
@testable import Engine

/// The engine is general over the config: random checkpoints of unusual shapes, written by the test, against
/// the float64 reference implementation of ReferenceGLM.
final class GeneralConfigTests: XCTestCase {
    /// Runs `ids` through the engine as a prefill of `prefill` tokens and then single tokens, and checks every
    /// position's logits against the reference.
    private func check(_ spec: RandomModelSpec, ids: [Int], prefill: Int, tolerance: Float = 1e-4,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = try spec.write()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try GLMModel.load(from: dir, numerics: .exact)
        let reference = try ReferenceGLM(spec: spec, directory: dir)
        let expected = reference.logits(ids)
        let cache = model.makeCache(capacity: ids.count)
        var rows = try model.forward(ids[..<prefill].map(Int32.init), cache: cache, logits: .all)
        for t in prefill..<ids.count { rows += try model.forward([Int32(ids[t])], cache: cache) }
        let V = spec.vocab
        for t in ids.indices {
            let diff = maxAbsDifference(Array(rows[t * V ..< (t + 1) * V]), expected[t].map(Float.init))
            XCTAssertLessThanOrEqual(diff, tolerance, "\(spec.matrixDType) position \(t): max |Δlogits| = \(diff)",
                                     file: file, line: line)
        }
    }

    private func ids(_ count: Int, vocab: Int, seed: UInt64) -> [Int] {
        var rng = SeededRandom(seed: seed)
        return (0..<count).map { _ in Int(rng.next() % UInt64(vocab - 1)) }
    }

    /// Several groups, norm_topk_prob false, 2 shared experts, head_dim 24 (not a power of two), rope_theta 1e4,
    /// QK-norm; BF16 weights; a 20-token prefill (matrix path) then 4 decode steps (streaming path).
    func testGroupedRoutingOddHeadDimBF16() throws {
        let spec = RandomModelSpec()
        try check(spec, ids: ids(24, vocab: spec.vocab, seed: 7), prefill: 20)
    }

    /// F32 weights, no QK-norm, no attention bias, head_dim absent (hidden/heads = 12), rope_theta and
    /// partial_rotary_factor inside rope_parameters, tied embeddings, no shared expert, one group, normalised
    /// top-k, 2 dense layers, no MTP layer.
    func testTiedEmbeddingsNoSharedExpertF32() throws {
        var spec = RandomModelSpec()
        spec.matrixDType = "F32"
        spec.hidden = 48; spec.heads = 4; spec.kvHeads = 4; spec.headDim = nil
        spec.qkNorm = false; spec.attentionBias = false; spec.ropeInParameters = true; spec.ropeTheta = 500_000
        spec.tie = true; spec.shared = 0; spec.groups = 1; spec.topkGroup = 1; spec.normTopk = true
        spec.firstDense = 2; spec.layers = 3; spec.experts = 8; spec.topK = 2; spec.vocab = 131; spec.mtp = false
        spec.seed = 2
        try check(spec, ids: ids(9, vocab: spec.vocab, seed: 8), prefill: 3)
    }

    /// F16 weights and FP8 (F8_E4M3 + per-row weight_scale) weights through the same kernels.
    func testF16AndFP8Weights() throws {
        for dtype in ["F16", "F8"] {
            var spec = RandomModelSpec()
            spec.matrixDType = dtype
            spec.layers = 2; spec.seed = 3
            try check(spec, ids: ids(18, vocab: spec.vocab, seed: 9), prefill: 17)
        }
    }
}
