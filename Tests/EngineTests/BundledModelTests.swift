import Foundation
import XCTest
import Engine

/// End-to-end check of the bundled model in Models/GLM-Tiny: the engine's greedy completion of a code prompt must
/// reproduce the token ids transformers produced for the same prompt (recorded by Scripts/train_tiny_model.py in
/// Models/GLM-Tiny/reference_greedy.json: BF16 weights computed in float32, no EOS stopping).
final class BundledModelTests: XCTestCase {
    static let modelDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Models/GLM-Tiny")

    struct Reference: Decodable {
        struct TopLogits: Decodable {
            let ids: [Int32]
            let logits: [Float]
        }

        struct MTPGreedy: Decodable {
            let maxTokens: Int
            let drafted: Int
            let accepted: Int

            enum CodingKeys: String, CodingKey {
                case maxTokens = "max_tokens"
                case drafted, accepted
            }
        }

        let prompt: String
        let promptIDs: [Int32]
        let greedyIDs: [Int32]
        let minMargin: Float
        let firstStepTop5: TopLogits
        let mtpGreedy: MTPGreedy

        enum CodingKeys: String, CodingKey {
            case prompt
            case promptIDs = "prompt_ids"
            case greedyIDs = "greedy_ids"
            case minMargin = "min_margin"
            case firstStepTop5 = "first_step_top5"
            case mtpGreedy = "mtp_greedy"
        }
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var loaded: GLMModel?

    /// The bundled model, loaded once per test run.
    static func model() throws -> GLMModel {
        lock.lock(); defer { lock.unlock() }
        if let model = loaded { return model }
        let model = try GLMModel.load(from: modelDirectory, numerics: .exact)
        loaded = model
        return model
    }

    static func reference() throws -> Reference {
        let url = modelDirectory.appendingPathComponent("reference_greedy.json")
        return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }

    static func argmax(_ logits: [Float]) -> Int32 {
        var best = 0
        for i in logits.indices where logits[i] > logits[best] { best = i }
        return Int32(best)
    }

    func testBundledModelIsAGLM46ReleaseWithMTP() throws {
        let model = try Self.model()
        let config = model.config
        XCTAssertEqual(config.modelType, "glm4_moe")
        XCTAssertEqual(config.numNextnPredictLayers, 1)
        XCTAssertTrue(config.useQKNorm)
        XCTAssertEqual(config.partialRotaryFactor, 0.5)
        XCTAssertGreaterThan(config.numHiddenLayers, config.firstKDenseReplace, "needs MoE layers")
        XCTAssertEqual(config.eosTokenIds.count, 3)
        XCTAssertTrue(config.eosTokenIds.allSatisfy { $0 < config.vocabSize })
        let index = Self.modelDirectory.appendingPathComponent("model.safetensors.index.json")
        let weightMap = try XCTUnwrap(
            (JSONSerialization.jsonObject(with: Data(contentsOf: index)) as? [String: Any])?["weight_map"]
                as? [String: String])
        let mtpPrefix = "model.layers.\(config.numHiddenLayers)."
        XCTAssertEqual(weightMap[mtpPrefix + "eh_proj.weight"], "mtp.safetensors")
        XCTAssertNil(weightMap[mtpPrefix + "embed_tokens.weight"], "GLM-4.6 layout shares the embedding")
        XCTAssertEqual(model.tensorCount, weightMap.count, "the engine loads every tensor, the MTP layer included")
    }

    func testFirstStepLogitsMatchTransformers() throws {
        let reference = try Self.reference()
        let model = try Self.model()
        let cache = model.makeCache(capacity: reference.promptIDs.count)
        let logits = try model.forward(reference.promptIDs, cache: cache, logits: .last)
        XCTAssertEqual(logits.count, model.config.vocabSize)
        for (id, expected) in zip(reference.firstStepTop5.ids, reference.firstStepTop5.logits) {
            XCTAssertEqual(logits[Int(id)], expected, accuracy: 1e-3, "logit of token \(id)")
        }
    }

    func testGreedyCompletionMatchesTransformers() throws {
        let reference = try Self.reference()
        XCTAssertGreaterThan(reference.minMargin, 1e-3, "the recorded greedy path must not hinge on a near-tie")
        let model = try Self.model()
        let cache = model.makeCache(capacity: reference.promptIDs.count + reference.greedyIDs.count)
        var logits = try model.forward(reference.promptIDs, cache: cache, logits: .last)
        var produced: [Int32] = []
        for step in reference.greedyIDs.indices {
            let next = Self.argmax(logits)
            produced.append(next)
            if step + 1 < reference.greedyIDs.count {
                logits = try model.forward([next], cache: cache, logits: .last)
            }
        }
        XCTAssertEqual(produced, reference.greedyIDs, "greedy completion of \(reference.prompt.debugDescription)")
    }

    /// Speculative greedy decoding with the MTP layer emits the same ids, and its drafts are accepted exactly as
    /// often as transformers' MTP predictions say they should be on this path.
    func testMTPGreedyDecodingMatchesTransformers() throws {
        let reference = try Self.reference()
        let model = try Self.model()
        XCTAssertTrue(model.hasMTP)
        let steps = reference.mtpGreedy.maxTokens
        let capacity = reference.promptIDs.count + steps + 1
        let result = try model.generateGreedyWithMTP(prompt: reference.promptIDs, maxTokens: steps,
                                                     cache: model.makeCache(capacity: capacity),
                                                     mtpCache: model.makeMTPCache(capacity: capacity))
        XCTAssertEqual(result.tokens, Array(reference.greedyIDs.prefix(steps)))
        XCTAssertEqual(result.drafted, reference.mtpGreedy.drafted)
        XCTAssertEqual(result.accepted, reference.mtpGreedy.accepted)
    }
}
