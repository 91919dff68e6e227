import Foundation
import SafeTensors
import XCTest
@testable import Engine

/// Third-party quantized folders (compressed-tensors, AutoAWQ, GPTQ, MLX) made by the real libraries
/// (Scripts/make_quantized_fixtures.py) against the logits of each library's runtime (fixtures README §7).
final class QuantizedFormatTests: XCTestCase {
    static let names = ["q-ct-w4-g128-sym", "q-ct-w4-g32-asym", "q-ct-w8-channel-asym", "q-ct-w8-naive",
                        "q-ct-fp8-channel", "q-ct-fp8-block", "q-ct-gptq-w4-g32", "q-awq-g32", "q-gptq-g32-actorder", "q-mlx-4bit-g64"]

    func testLogitsMatchTheLibraryRuntime() throws {
        for name in Self.names {
            let model = try Fixtures.model(name)
            let reference = try Fixtures.reference(name)
            let ids = try reference.ints("s.input_ids")
            let expected = try reference.floats("s.logits")
            let logits = try model.forward(ids, cache: model.makeCache(capacity: ids.count), logits: .all)
            let difference = maxAbsDifference(logits, expected)
            XCTAssertLessThan(difference, 1e-3, "\(name): max |logits − reference| over \(ids.count) positions")
        }
    }

    func testGreedyTokensMatchTheLibraryRuntime() throws {
        for name in Self.names {
            let model = try Fixtures.model(name)
            let reference = try Fixtures.reference(name)
            let prompt = try reference.ints("greedy.prompt_ids")
            let expected = try reference.ints("greedy.tokens")
            let cache = model.makeCache(capacity: prompt.count + expected.count)
            var logits = try model.forward(prompt, cache: cache)
            var produced: [Int32] = []
            for _ in expected.indices {
                let next = Int32(argmax(logits[...]))
                produced.append(next)
                logits = try model.forward([next], cache: cache)
            }
            XCTAssertEqual(produced, expected, name)
        }
    }

    func testFormatsAreDetectedAndRepacked() throws {
        let expectations: [(String, String, String)] = [
            ("q-ct-w4-g128-sym", "pack-quantized int4 group 128", "AFFINE4"),
            ("q-ct-w8-channel-asym", "pack-quantized int8 channel asym", "AFFINE8"),
            ("q-ct-w8-naive", "naive-quantized int8 channel", "AFFINE8"),
            ("q-ct-fp8-block", "float-quantized float8 block", "F8_E4M3"),
            ("q-awq-g32", "AutoAWQ GEMM int4 group 32", "AFFINE4"),
            ("q-gptq-g32-actorder", "GPTQ int4 group 32 act-order", "AFFINE4"),
            ("q-mlx-4bit-g64", "MLX affine int4 group 64", "AFFINE8"),
        ]
        for (name, summary, dtype) in expectations {
            let model = try Fixtures.model(name)
            XCTAssertTrue(model.quantizationSummary?.contains(summary) ?? false, "\(name): \(model.quantizationSummary ?? "nil")")
            XCTAssertGreaterThan(model.bytesByDType[dtype] ?? 0, 0, "\(name): \(model.bytesByDType)")
        }
    }

    func testMLXFolderHasNoMTPLayer() throws {
        let model = try Fixtures.model("q-mlx-4bit-g64")
        XCTAssertGreaterThan(model.config.numNextnPredictLayers, 0)
        XCTAssertFalse(model.hasMTP)
        XCTAssertEqual(model.missingMTPReason, "MLX folders have none: mlx-lm drops the MTP layer when it converts a model")
        XCTAssertNil(try Fixtures.model("q-awq-g32").missingMTPReason)
        XCTAssertThrowsError(try model.mtpForward([1], hidden: [Float](repeating: 0, count: model.config.hiddenSize),
                                                  cache: model.makeMTPCache(capacity: 4))) { error in
            XCTAssertTrue("\(error)".contains("has no MTP layer"), "\(error)")
        }
    }

    /// compressed-tensors' `weight_g_idx` (act-order "group", written by older compressed-tensors): the GPTQ fixture
    /// with every module's groups relabelled in reverse (scales moved to the new labels, g_idx[c] = groups − 1 − c/32)
    /// describes the same weights, so it must give the same logits — through the column sort and activation gather.
    func testCompressedTensorsGroupIndexGivesTheSameWeights() throws {
        let name = "q-ct-gptq-w4-g32"
        let source = Fixtures.directory(name)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("glm-gidx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.copyItem(at: source.appendingPathComponent("config.json"), to: folder.appendingPathComponent("config.json"))
        let file = try SafeTensorsFile(url: source.appendingPathComponent("model.safetensors"))
        var writer = SafeTensorsWriter()
        var relabelled = 0
        for tensor in file.tensorNames.sorted() {
            let view = try file.tensor(named: tensor)
            guard tensor.hasSuffix(".weight_scale"), view.dtype == .f32, view.shape.count == 2, view.shape[1] > 1 else {
                try writer.add(name: tensor, dtype: view.dtype, shape: view.shape, bytes: Array(view.bytes))
                continue
            }
            let rows = view.shape[0], groups = view.shape[1]
            let scales = try view.floats()
            var moved = [Float](repeating: 0, count: scales.count)
            for r in 0..<rows { for g in 0..<groups { moved[r * groups + (groups - 1 - g)] = scales[r * groups + g] } }
            try writer.add(name: tensor, floats: moved, shape: view.shape)
            let module = String(tensor.dropLast(".weight_scale".count))
            let gIdx = (0..<(groups * 32)).map { Int32(groups - 1 - $0 / 32) }
            try writer.add(name: module + ".weight_g_idx", int32s: gIdx, shape: [groups * 32])
            relabelled += 1
        }
        XCTAssertGreaterThan(relabelled, 10)
        try writer.write(to: folder.appendingPathComponent("model.safetensors"))
        let model = try GLMModel.load(from: folder, numerics: .exact)
        let reference = try Fixtures.reference(name)
        let ids = try reference.ints("s.input_ids")
        let logits = try model.forward(ids, cache: model.makeCache(capacity: ids.count), logits: .all)
        XCTAssertLessThan(maxAbsDifference(logits, try reference.floats("s.logits")), 1e-3)
    }

    /// GPTQ v2 zero points (`checkpoint_format: gptq_v2`) store the zero itself, v1 stores zero − 1: the v1 fixture
    /// rewritten as v2 (every qzeros nibble + 1, which the symmetric zeros 7 → 8 allow) gives the same logits.
    func testGPTQVersion2ZeroPoints() throws {
        let name = "q-gptq-g32-actorder"
        let source = Fixtures.directory(name)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("glm-gptq2-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: source.appendingPathComponent("config.json"))) as! [String: Any]
        var q = config["quantization_config"] as! [String: Any]
        q["checkpoint_format"] = "gptq_v2"
        config["quantization_config"] = q
        try JSONSerialization.data(withJSONObject: config).write(to: folder.appendingPathComponent("config.json"))
        let file = try SafeTensorsFile(url: source.appendingPathComponent("model.safetensors"))
        var writer = SafeTensorsWriter()
        for tensor in file.tensorNames.sorted() {
            let view = try file.tensor(named: tensor)
            var bytes = Array(view.bytes)
            if tensor.hasSuffix(".qzeros") {
                for i in stride(from: 0, to: bytes.count, by: 4) {
                    var word = UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
                    XCTAssertEqual(word, 0x7777_7777, tensor)
                    word &+= 0x1111_1111
                    for k in 0..<4 { bytes[i + k] = UInt8(truncatingIfNeeded: word >> (8 * UInt32(k))) }
                }
            }
            try writer.add(name: tensor, dtype: view.dtype, shape: view.shape, bytes: bytes)
        }
        try writer.write(to: folder.appendingPathComponent("model.safetensors"))
        let model = try GLMModel.load(from: folder, numerics: .exact)
        XCTAssertEqual(model.quantizationSummary, "GPTQ int4 group 32 act-order (gptq_v2)")
        let reference = try Fixtures.reference(name)
        let ids = try reference.ints("s.input_ids")
        let logits = try model.forward(ids, cache: model.makeCache(capacity: ids.count), logits: .all)
        XCTAssertLessThan(maxAbsDifference(logits, try reference.floats("s.logits")), 1e-3)
    }
}
