import Foundation
import SafeTensors
import XCTest
@testable import Engine

/// Bad configs, checkpoints that do not match them, and bad calls fail with errors that say what is wrong.
final class HostileInputTests: XCTestCase {
    private var small: RandomModelSpec {
        var spec = RandomModelSpec()
        spec.layers = 2; spec.experts = 8; spec.groups = 2; spec.topkGroup = 1; spec.topK = 2; spec.mtp = true
        return spec
    }

    private func loadError(overrides: [String: Any] = [:], skip: Set<String> = [], reshape: [String: [Int]] = [:]) throws -> String {
        let dir = try small.write(overrides: overrides, skip: skip, reshape: reshape)
        defer { try? FileManager.default.removeItem(at: dir) }
        do {
            _ = try GLMModel.load(from: dir)
        } catch let error as EngineError {
            return error.description
        }
        XCTFail("loading succeeded although it should not")
        return ""
    }

    func testBadConfigValuesAreRefused() throws {
        let cases: [([String: Any], String)] = [
            (["num_key_value_heads": 4], "not divisible by num_key_value_heads"),
            (["partial_rotary_factor": 0.125], "must be even"),             // 24 · 0.125 = 3
            (["num_experts_per_tok": 9], "exceeds n_routed_experts"),
            (["n_group": 3], "does not divide n_routed_experts"),
            (["topk_group": 3], "exceeds n_group"),
            (["model_type": "llama"], "is not 'glm4_moe'"),
            (["hidden_size": -4], "must be positive"),
            (["rope_scaling": ["type": "yarn", "factor": 4.0]], "rope_scaling"),
            (["scoring_func": "softmax"], "scoring_func"),
            (["eos_token_id": 5000], "outside the vocabulary"),
            (["first_k_dense_replace": 9], "first_k_dense_replace"),
            (["vocab_size": "many"], "vocab_size"),
            (["hidden_act": "gelu"], "hidden_act"),
        ]
        for (override, expected) in cases {
            let message = try loadError(overrides: override)
            XCTAssertTrue(message.contains("config.json") && message.contains(expected),
                          "\(override): got '\(message)', expected it to mention '\(expected)'")
        }
    }

    func testMissingKeyAndHeadDimFallback() throws {
        var json = try XCTUnwrap(JSONSerialization.jsonObject(with: small.configJSON()) as? [String: Any])
        json.removeValue(forKey: "num_hidden_layers")
        XCTAssertThrowsError(try ModelConfig.decode(JSONSerialization.data(withJSONObject: json))) { error in
            XCTAssertTrue("\(error)".contains("num_hidden_layers"), "\(error)")
        }
        XCTAssertThrowsError(try ModelConfig.decode(Data("{ not json".utf8))) { error in
            XCTAssertTrue("\(error)".contains("JSON"), "\(error)")
        }
        var spec = small
        spec.headDim = nil; spec.hidden = 48; spec.heads = 4; spec.kvHeads = 2     // head_dim = 12
        let config = try ModelConfig.decode(spec.configJSON())
        XCTAssertEqual(config.headDim, 12)
        XCTAssertEqual(config.rotaryDim, 6)
        spec.hidden = 24; spec.heads = 4                          // head_dim 6, rotary dim int(6 · 0.5) = 3: odd
        let odd = try spec.configJSON()
        XCTAssertThrowsError(try ModelConfig.decode(odd)) { error in
            XCTAssertTrue("\(error)".contains("must be even"), "\(error)")
        }
        spec.hidden = 40; spec.heads = 6                          // 40/6 is not an integer
        let indivisible = try spec.configJSON()
        XCTAssertThrowsError(try ModelConfig.decode(indivisible)) { error in
            XCTAssertTrue("\(error)".contains("head_dim is absent"), "\(error)")
        }
    }

    func testConfigOfEveryFixtureDecodes() throws {
        let tiny = try ModelConfig.load(from: Fixtures.directory("tiny-bf16"))
        XCTAssertEqual(tiny.nGroup, 4)
        XCTAssertEqual(tiny.topkGroup, 2)
        XCTAssertEqual(tiny.rotaryDim, 8)
        XCTAssertEqual(tiny.eosTokenIds, [289, 296, 298])
        XCTAssertTrue(tiny.useQKNorm)
        let air = try ModelConfig.load(from: Fixtures.directory("tiny-air-f32"))
        XCTAssertFalse(air.useQKNorm)
        XCTAssertEqual(air.routedScalingFactor, 1.0)
        XCTAssertEqual(air.maxPositionEmbeddings, 131072)
    }

    func testWeightsThatDoNotMatchTheConfigAreRefused() throws {
        let missing = try loadError(skip: ["model.layers.1.mlp.experts.3.up_proj.weight"])
        XCTAssertTrue(missing.contains("model.layers.1.mlp.experts.3.up_proj.weight") && missing.contains("missing"), missing)

        let shape = try loadError(reshape: ["model.layers.0.self_attn.k_proj.weight": [40, 40]])
        XCTAssertTrue(shape.contains("model.safetensors") && shape.contains("model.layers.0.self_attn.k_proj.weight")
                      && shape.contains("shape [40, 40], expected [48, 40]"), shape)

        let norm = try loadError(reshape: ["model.norm.weight": [41]])
        XCTAssertTrue(norm.contains("model.norm.weight") && norm.contains("[41]"), norm)

        // The MTP layer is validated too, although it never runs in the trunk.
        let mtp = try loadError(reshape: ["model.layers.2.eh_proj.weight": [40, 40]])
        XCTAssertTrue(mtp.contains("model.layers.2.eh_proj.weight") && mtp.contains("expected [40, 80]"), mtp)

        // A config that asks for QK-norm the checkpoint does not have.
        var spec = small
        spec.qkNorm = false
        let dir = try spec.write(overrides: ["use_qk_norm": true])
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertThrowsError(try GLMModel.load(from: dir)) { error in
            XCTAssertTrue("\(error)".contains("q_norm.weight"), "\(error)")
        }
    }

    func testMissingFolderAndMissingConfig() throws {
        let nowhere = FileManager.default.temporaryDirectory.appendingPathComponent("glm-nothing-\(UUID().uuidString)")
        XCTAssertThrowsError(try GLMModel.load(from: nowhere)) { error in
            XCTAssertTrue("\(error)".contains("config.json"), "\(error)")
        }
    }

    func testBadCallsThrow() throws {
        let model = try Fixtures.model("tiny-bf16")
        let cache = model.makeCache(capacity: 4)
        XCTAssertThrowsError(try model.forward([512], cache: cache)) { error in
            XCTAssertEqual(error as? EngineError, .tokenOutOfRange(id: 512, vocabSize: 512))
        }
        XCTAssertThrowsError(try model.forward([-1], cache: cache))
        XCTAssertThrowsError(try model.forward([], cache: cache))
        XCTAssertEqual(cache.count, 0, "a refused call leaves the cache unchanged")
        _ = try model.forward([1, 2, 3], cache: cache)
        XCTAssertThrowsError(try model.forward([4, 5], cache: cache)) { error in
            XCTAssertEqual(error as? EngineError, .cacheFull(count: 3, adding: 2, capacity: 4))
        }
        cache.truncate(to: 1)
        XCTAssertEqual(cache.count, 1)
        _ = try model.forward([4, 5], cache: cache)
        XCTAssertEqual(cache.count, 3)
        let other = try Fixtures.model("tiny-air-bf16")
        XCTAssertThrowsError(try other.forward([1], cache: model.makeCache(capacity: 2)))
    }
}
