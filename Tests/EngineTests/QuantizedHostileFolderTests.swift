import Foundation
import SafeTensors
import XCTest
@testable import Engine

/// Broken third-party quantized folders: each is refused with a message naming the file, the tensor (or config
/// field) and the problem — never a crash, never a silent fallback.
final class QuantizedHostileFolderTests: XCTestCase {
    typealias Tensors = [String: (dtype: DType, shape: [Int], bytes: [UInt8])]

    /// Copies fixture `name` into a temporary folder, lets the closures change config.json and the tensors of
    /// model.safetensors, loads it and returns the error text.
    private func loadError(_ name: String, config: (inout [String: Any]) -> Void = { _ in },
                           tensors: (inout Tensors) -> Void = { _ in }, truncateFileBy: Int = 0) throws -> String {
        let source = Fixtures.directory(name)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("glm-hostile-\(UUID().uuidString)")
            .appendingPathComponent(name)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder.deletingLastPathComponent()) }
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: source.appendingPathComponent("config.json"))) as! [String: Any]
        config(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: folder.appendingPathComponent("config.json"))
        let file = try SafeTensorsFile(url: source.appendingPathComponent("model.safetensors"))
        var all: Tensors = [:]
        for tensorName in file.tensorNames {
            let view = try file.tensor(named: tensorName)
            all[tensorName] = (view.dtype, view.shape, Array(view.bytes))
        }
        tensors(&all)
        var writer = SafeTensorsWriter()
        for key in all.keys.sorted() { try writer.add(name: key, dtype: all[key]!.dtype, shape: all[key]!.shape, bytes: all[key]!.bytes) }
        var bytes = writer.serialized()
        bytes.removeLast(min(truncateFileBy, bytes.count))
        try Data(bytes).write(to: folder.appendingPathComponent("model.safetensors"))
        do {
            _ = try GLMModel.load(from: folder)
        } catch {
            return "\(error)"
        }
        XCTFail("\(name): the broken folder loaded")
        return ""
    }

    private func expect(_ message: String, _ parts: String..., line: UInt = #line) {
        for part in parts { XCTAssertTrue(message.contains(part), "missing '\(part)' in: \(message)", line: line) }
    }

    private func groups(_ json: inout [String: Any], _ change: (inout [String: Any]) -> Void) {
        var q = json["quantization_config"] as! [String: Any]
        var groups = q["config_groups"] as! [String: Any]
        var g = groups["group_0"] as! [String: Any]
        var w = g["weights"] as! [String: Any]
        change(&w)
        g["weights"] = w
        groups["group_0"] = g
        q["config_groups"] = groups
        json["quantization_config"] = q
    }

    func testTruncatedPackedTensor() throws {
        let tensor = "model.layers.0.self_attn.q_proj.weight_packed"
        let message = try loadError("q-ct-w4-g128-sym") { t in
            t[tensor]!.shape = [128, 15]
            t[tensor]!.bytes.removeLast(128 * 4)
        }
        expect(message, "model.safetensors", tensor, "shape [128, 15], expected [128, 16]")
        let cut = try loadError("q-awq-g32", truncateFileBy: 1000)
        expect(cut, "model.safetensors")
    }

    func testScalesOfTheWrongShape() throws {
        let tensor = "model.layers.0.self_attn.k_proj.weight_scale"
        let message = try loadError("q-ct-w4-g32-asym") { t in
            t[tensor]!.shape = [64, 3]
            t[tensor]!.bytes.removeLast(64 * 4)
        }
        expect(message, "model.safetensors", tensor, "shape [64, 3], expected [64, 4]")
        let awq = try loadError("q-awq-g32") { t in t["model.layers.1.mlp.experts.2.up_proj.scales"]!.shape = [128, 4] }
        expect(awq, "model.layers.1.mlp.experts.2.up_proj.scales", "expected [4, 128]")
        let mlx = try loadError("q-mlx-4bit-g64") { t in t["model.layers.1.mlp.switch_mlp.gate_proj.biases"]!.shape = [4, 2, 128] }
        expect(mlx, "model.layers.1.mlp.switch_mlp.gate_proj.biases", "expected [4, 128, 2]")
    }

    func testWeightShapeDisagreeingWithTheConfig() throws {
        let tensor = "model.layers.0.mlp.up_proj.weight_shape"
        let message = try loadError("q-ct-w4-g128-sym") { t in
            t[tensor]!.bytes = [Int64(256), Int64(256)].withUnsafeBytes { Array($0) }
        }
        expect(message, "model.safetensors", tensor, "says [256, 256], expected [256, 128]")
    }

    func testGroupSizeThatDoesNotDivideTheRow() throws {
        let message = try loadError("q-ct-w4-g128-sym", config: { json in self.groups(&json) { $0["group_size"] = 96 } })
        expect(message, "model.layers.0.self_attn.q_proj.weight", "group size 96", "does not divide the row of 128 columns",
               "config_groups.group_0.weights.group_size")
        let gptq = try loadError("q-gptq-g32-actorder", config: { json in
            var q = json["quantization_config"] as! [String: Any]; q["group_size"] = 48; json["quantization_config"] = q
        })
        expect(gptq, "group size 48", "does not divide")
    }

    func testZeroPointsOutOfRange() throws {
        let message = try loadError("q-ct-w8-naive", config: { json in
            self.groups(&json) { $0["num_bits"] = 4; $0["symmetric"] = false }
        }, tensors: { t in
            t["model.layers.0.self_attn.q_proj.weight_zero_point"] = (.i8, [128, 1], [UInt8](repeating: 9, count: 128))
        })
        expect(message, "model.safetensors", "model.layers.0.self_attn.q_proj.weight_zero_point", "zero point 9",
               "outside the 4-bit range [-8, 7]")
    }

    func testUnknownMethodsAndBitWidthsAreRefusedByField() throws {
        let method = try loadError("q-awq-g32", config: { json in
            var q = json["quantization_config"] as! [String: Any]; q["quant_method"] = "bitsandbytes"; json["quantization_config"] = q
        })
        expect(method, "config.json", "quantization_config.quant_method 'bitsandbytes' is not supported")
        let bits = try loadError("q-ct-w4-g128-sym", config: { json in self.groups(&json) { $0["num_bits"] = 3 } })
        expect(bits, "config.json", "quantization_config.config_groups.group_0.weights.num_bits is 3; only 4 and 8 bits")
        let mlx = try loadError("q-mlx-4bit-g64", config: { json in
            var q = json["quantization"] as! [String: Any]; q["bits"] = 2; json["quantization"] = q
        })
        expect(mlx, "config.json", "quantization.bits is 2")
        let mode = try loadError("q-mlx-4bit-g64", config: { json in
            var q = json["quantization"] as! [String: Any]; q["mode"] = "mxfp4"; json["quantization"] = q
        })
        expect(mode, "quantization.mode 'mxfp4' is not supported")
        let awq = try loadError("q-awq-g32", config: { json in
            var q = json["quantization_config"] as! [String: Any]; q["version"] = "gemv"; json["quantization_config"] = q
        })
        expect(awq, "quantization_config.version 'gemv' is not supported")
    }

    /// The official GLM FP8 releases declare dynamic per-token FP8 input activations next to their FP8 weights
    /// (model-spec §7): that scheme loads and computes the same logits as the weight-only folder.
    func testOfficialFP8ReleaseSchemeWithDynamicActivationsLoads() throws {
        let source = Fixtures.directory("q-ct-fp8-channel")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("glm-fp8-dyn-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for item in try FileManager.default.contentsOfDirectory(atPath: source.path) where item != "config.json" {
            try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent(item),
                                                       withDestinationURL: source.appendingPathComponent(item))
        }
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: source.appendingPathComponent("config.json"))) as! [String: Any]
        var q = json["quantization_config"] as! [String: Any]
        var groups = q["config_groups"] as! [String: Any]
        var g = groups["group_0"] as! [String: Any]
        g["input_activations"] = ["num_bits": 8, "type": "float", "strategy": "token", "dynamic": true, "symmetric": true]
        groups["group_0"] = g; q["config_groups"] = groups; json["quantization_config"] = q
        try JSONSerialization.data(withJSONObject: json).write(to: folder.appendingPathComponent("config.json"))
        let plain = try GLMModel.load(from: source, numerics: .exact)
        let dynamic = try GLMModel.load(from: folder, numerics: .exact)
        let ids: [Int32] = [3, 17, 42, 99, 5]
        XCTAssertEqual(try dynamic.forward(ids, cache: dynamic.makeCache(capacity: 8), logits: .all),
                       try plain.forward(ids, cache: plain.makeCache(capacity: 8), logits: .all))
    }

    func testActivationQuantisationAndRulesMatchingNothingAreRefused() throws {
        let activations = try loadError("q-ct-w4-g128-sym", config: { json in
            var q = json["quantization_config"] as! [String: Any]
            var groups = q["config_groups"] as! [String: Any]
            var g = groups["group_0"] as! [String: Any]
            g["input_activations"] = ["num_bits": 8, "type": "int", "strategy": "token", "dynamic": true]
            groups["group_0"] = g; q["config_groups"] = groups; json["quantization_config"] = q
        })
        expect(activations, "config_groups.group_0.input_activations", "activation quantisation changes the math")
        let targets = try loadError("q-ct-w4-g128-sym", config: { json in
            var q = json["quantization_config"] as! [String: Any]
            var groups = q["config_groups"] as! [String: Any]
            var g = groups["group_0"] as! [String: Any]
            g["targets"] = ["re:.*nothing_here$"]
            groups["group_0"] = g; q["config_groups"] = groups; json["quantization_config"] = q
        })
        expect(targets, "config.json", "stored quantized but no quantization_config.config_groups targets match it")
        let ignore = try loadError("q-ct-w4-g128-sym", config: { json in
            var q = json["quantization_config"] as! [String: Any]
            q["ignore"] = (q["ignore"] as! [String]) + ["model.layers.7.mlp.gate"]
            json["quantization_config"] = q
        })
        expect(ignore, "config.json", "quantization_config.ignore entry 'model.layers.7.mlp.gate' matches no module")
    }
}
