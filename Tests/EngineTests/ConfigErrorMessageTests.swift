import Foundation
import XCTest
@testable import Engine

/// A config.json that is valid JSON but has a value of the wrong type or shape is refused with a message that
/// names the key and says what it must be — never "not valid JSON".
final class ConfigErrorMessageTests: XCTestCase {
    private var spec: RandomModelSpec {
        var spec = RandomModelSpec()
        spec.layers = 2; spec.experts = 8; spec.groups = 2; spec.topkGroup = 1; spec.topK = 2
        return spec
    }

    private func message(_ overrides: [String: Any], removing removed: String? = nil) throws -> String {
        var json = try XCTUnwrap(JSONSerialization.jsonObject(with: spec.configJSON(overrides: overrides)) as? [String: Any])
        if let removed { json.removeValue(forKey: removed) }
        do {
            _ = try ModelConfig.decode(JSONSerialization.data(withJSONObject: json))
        } catch let error as EngineError {
            return error.description
        }
        XCTFail("\(overrides) was accepted")
        return ""
    }

    func testWrongTypesNameTheKeyAndTheExpectedType() throws {
        let cases: [([String: Any], String)] = [
            (["num_hidden_layers": 2.5], "'num_hidden_layers' must be an integer, got 2.5"),
            (["hidden_size": 1e30], "'hidden_size' must be an integer"),
            (["vocab_size": "many"], "'vocab_size' must be an integer, got the string \"many\""),
            (["num_attention_heads": NSNull()], "'num_attention_heads' must be an integer, got null"),
            (["num_key_value_heads": true], "'num_key_value_heads' must be an integer, got true"),
            (["rope_theta": "big"], "'rope_theta' must be a number, got the string \"big\""),
            (["norm_topk_prob": 1.5], "'norm_topk_prob' must be true or false, got 1.5"),
            (["model_type": 4], "'model_type' must be a string, got 4"),
            (["eos_token_id": [1, 2.5]], "'eos_token_id' must be an integer or a list of integers, got [1, 2.5]"),
            (["eos_token_id": "</s>"], "'eos_token_id' must be an integer or a list of integers, got the string \"</s>\""),
            (["eos_token_id": ["a": 1]], "'eos_token_id' must be an integer or a list of integers, got an object"),
            (["n_shared_experts": 1.5], "'n_shared_experts' must be an integer, got 1.5"),
            (["rope_parameters": 3], "'rope_parameters' must be an object"),
            (["hidden_size": -4], "hidden_size must be positive, got -4"),
            (["n_shared_experts": -1], "n_shared_experts -1 is out of range"),
            (["max_position_embeddings": -5], "max_position_embeddings must be in 1 ... 2^26, got -5"),
        ]
        for (override, expected) in cases {
            let text = try message(override)
            XCTAssertTrue(text.hasPrefix("config.json: invalid config: "), text)
            XCTAssertTrue(text.contains(expected), "\(override): got '\(text)', expected '\(expected)'")
            XCTAssertFalse(text.contains("not valid JSON"), text)
        }
    }

    func testMissingKeyAndInvalidJSONAreTold() throws {
        let nested = try message(["rope_parameters": ["rope_theta": "x"]], removing: "rope_theta")
        XCTAssertTrue(nested.contains("'rope_parameters.rope_theta' must be a number, got the string \"x\""), nested)
        XCTAssertTrue(try message([:], removing: "num_hidden_layers").contains("required key 'num_hidden_layers' is missing"))
        XCTAssertThrowsError(try ModelConfig.decode(Data("{\"vocab_size\": 1,".utf8))) { error in
            XCTAssertTrue("\(error)".contains("not valid JSON"), "\(error)")
        }
        XCTAssertThrowsError(try ModelConfig.decode(Data("[1, 2]".utf8))) { error in
            XCTAssertTrue("\(error)".contains("must be a JSON object"), "\(error)")
        }
    }
}

/// Prompt + new tokens beyond `max_position_embeddings` are refused up front, saying so (not "KV cache full").
final class ContextLimitTests: XCTestCase {
    func testPromptPlusNewTokensMustFitTheContext() throws {
        var spec = RandomModelSpec()
        spec.layers = 2; spec.experts = 8; spec.groups = 2; spec.topkGroup = 1; spec.topK = 2
        let config = try ModelConfig.decode(spec.configJSON(overrides: ["max_position_embeddings": 4096]))
        XCTAssertNoThrow(try config.checkContext(promptTokens: 4000, newTokens: 96))
        XCTAssertThrowsError(try config.checkContext(promptTokens: 1_000_000, newTokens: 32)) { error in
            XCTAssertEqual(error as? EngineError, .contextTooLong(promptTokens: 1_000_000, newTokens: 32, limit: 4096))
            XCTAssertEqual("\(error)", "prompt (1000000 tokens) + new tokens (32) exceed the model's "
                           + "context of 4096 tokens (max_position_embeddings)")
        }
        XCTAssertThrowsError(try config.checkContext(promptTokens: 4000, newTokens: 97))
        XCTAssertThrowsError(try config.checkContext(promptTokens: Int.max, newTokens: 1)) { error in
            XCTAssertTrue("\(error)".contains("exceed the model's context"), "\(error)")
        }
    }
}
