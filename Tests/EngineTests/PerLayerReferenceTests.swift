import Foundation
import SafeTensors
import XCTest
@testable import Engine

/// Every intermediate tensor of the s64 forward against transformers' per-layer references (fixtures README
/// §5.5), in the README's debugging order, so a regression points at the step that broke.
final class PerLayerReferenceTests: XCTestCase {
    func testIntermediateTensorsMatchReference() throws {
        for name in ["tiny-bf16", "tiny-air-f32"] {
            let model = try Fixtures.model(name)
            let reference = try Fixtures.reference(name)
            let ids = try reference.ints("s64.input_ids")
            var seen: [String: [Float]] = [:]
            _ = try model.forward(batch: [.init(tokens: ids, cache: model.makeCache(capacity: ids.count))]) { key, layer, values in
                seen["\(key).\(layer)"] = values
            }
            let c = model.config, T = ids.count, H = c.hiddenSize
            let layerInputs = try reference.floats("s64.layer_inputs")
            for l in 0..<c.numHiddenLayers {
                let input = Array(layerInputs[l * T * H ..< (l + 1) * T * H])
                compare(seen["layer_input.\(l)"], input, "\(name) layer_inputs[\(l)]")
                var keys = ["attn_norm", "q", "k", "v", "q_rope", "k_rope", "attn_ctx", "attn_out", "mlp_norm", "mlp_out", "out"]
                if c.isMoELayer(l) { keys += ["router_logits", "topk_w"] }
                for key in keys {
                    compare(seen["\(key).\(l)"], try reference.floats("s64.layers.\(l).\(key)"), "\(name) layer \(l) \(key)")
                }
                if c.isMoELayer(l) {
                    let expected = try reference.ints("s64.layers.\(l).topk_idx").map(Float.init)
                    XCTAssertEqual(seen["topk_idx.\(l)"], expected, "\(name) layer \(l) topk_idx")
                }
            }
            compare(seen["hidden_postnorm.\(c.numHiddenLayers)"], try reference.floats("s64.hidden_postnorm"), "\(name) hidden_postnorm")
        }
    }

    private func compare(_ actual: [Float]?, _ expected: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let actual else { return XCTFail("\(what): not traced", file: file, line: line) }
        guard actual.count == expected.count else {
            return XCTFail("\(what): \(actual.count) values, reference has \(expected.count)", file: file, line: line)
        }
        let diff = maxAbsDifference(actual, expected)
        XCTAssertLessThanOrEqual(diff, 1e-4, "\(what): max |Δ| = \(diff)", file: file, line: line)
    }
}
