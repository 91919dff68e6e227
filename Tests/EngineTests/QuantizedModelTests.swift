import Foundation
import SafeTensors
import XCTest
@testable import Engine

/// Quantised models end to end on GLM-Tiny: a folder written by `QuantizedCheckpointWriter` (`glmserve quantize`)
/// gives exactly the logits of `--quantize` at load; broken or foreign folders are refused with the file and
/// tensor named; speculative (MTP) greedy equals plain greedy and batched decoding equals one-at-a-time on the
/// quantised weights.
final class QuantizedModelTests: XCTestCase {
    static let tiny = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Models/GLM-Tiny")
    let prompt: [Int32] = [8160, 100, 2000, 37, 4095, 12, 812, 5, 333, 7000, 64]

    private func temporaryFolder() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("glmserve-quant-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    private func written(_ type: QuantizationType, shardBytes: Int = 3_000_000) throws -> URL {
        let out = temporaryFolder()
        let summary = try QuantizedCheckpointWriter.write(from: Self.tiny, to: out, type: type, shardBytes: shardBytes)
        if shardBytes < 10_000_000 { XCTAssertGreaterThan(summary.shards, 1) }
        return out
    }

    private func logits(_ model: GLMModel) throws -> (all: [Float], mtp: [Float]) {
        let cache = model.makeCache(capacity: 32)
        let (all, hidden) = try model.forwardWithHidden(prompt, cache: cache, logits: .all)
        let mtp = try model.mtpForward(Array(prompt.dropFirst()) + [1], hidden: hidden,
                                       cache: model.makeMTPCache(capacity: 32)).logits
        return (all, mtp)
    }

    func testWrittenFolderEqualsQuantizeAtLoad() throws {
        for type in QuantizationType.allCases {
            let folder = try written(type)
            for numerics in NumericMode.allCases {
                let atLoad = try GLMModel.load(from: Self.tiny, numerics: numerics, quantize: type)
                let fromFolder = try GLMModel.load(from: folder, numerics: numerics)
                XCTAssertEqual(fromFolder.quantization, type)
                XCTAssertEqual(fromFolder.bytesByDType, atLoad.bytesByDType)
                XCTAssertTrue(fromFolder.hasMTP)
                let a = try logits(atLoad), b = try logits(fromFolder)
                XCTAssertEqual(a.all, b.all, "\(type) \(numerics)")
                XCTAssertEqual(a.mtp, b.mtp, "\(type) \(numerics) MTP layer")
                // Close to the unquantised model, but not equal (the weights did change).
                let plain = try logits(GLMModel.load(from: Self.tiny, numerics: numerics))
                XCTAssertNotEqual(plain.all, a.all)
                XCTAssertLessThan(maxAbsDifference(plain.all, a.all), type == .q8 ? 0.3 : 1.0)
            }
            XCTAssertEqual(try GLMModel.load(from: folder).bitsPerWeight, type == .q8 ? 8.5 : 6.34, accuracy: 0.05)
        }
    }

    func testQuantisedFolderIsNotQuantisedAgain() throws {
        let folder = try written(.q8)
        XCTAssertThrowsError(try QuantizedCheckpointWriter.write(from: folder, to: temporaryFolder(), type: .q4)) {
            XCTAssertTrue("\($0)".contains("already quantised"), "\($0)")
        }
        XCTAssertThrowsError(try GLMModel.load(from: folder, quantize: .q4)) {
            XCTAssertTrue("\($0)".contains("already quantised"), "\($0)")
        }
        // Without the quantization_config (removed by hand) the blocks still give it away.
        let config = folder.appendingPathComponent("config.json")
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: config)) as! [String: Any]
        json["quantization_config"] = nil
        try JSONSerialization.data(withJSONObject: json).write(to: config)
        XCTAssertThrowsError(try GLMModel.load(from: folder, quantize: .q8)) {
            XCTAssertTrue("\($0)".contains("already quantised"), "\($0)")
        }
        XCTAssertThrowsError(try QuantizedCheckpointWriter.write(from: folder, to: temporaryFolder(), type: .q4)) {
            XCTAssertTrue("\($0)".contains("already quantised"), "\($0)")
        }
        XCTAssertEqual(try GLMModel.load(from: folder).bytesByDType["q8"].map { $0 > 0 }, true)
        // Third-party quantised folders are refused too.
        let awq = Self.tiny.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Tests/Fixtures/models/q-ct-w8-naive")
        XCTAssertThrowsError(try GLMModel.load(from: awq, quantize: .q4)) {
            XCTAssertTrue("\($0)".contains("already quantised (compressed-tensors"), "\($0)")
        }
        XCTAssertThrowsError(try QuantizedCheckpointWriter.write(from: awq, to: temporaryFolder(), type: .q8)) {
            XCTAssertTrue("\($0)".contains("already quantised"), "\($0)")
        }
    }

    /// Rewrites one shard's header metadata (same length, so offsets stay valid) and expects `message`.
    private func expectRefusal(editing edit: (inout String) -> Void, configEdit: ((inout String) -> Void)? = nil,
                               _ message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let folder = try written(.q4, shardBytes: 1 << 40)
        let shard = folder.appendingPathComponent("model-00001-of-00001.safetensors")
        var data = try Data(contentsOf: shard)
        let headerLength = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var header = String(decoding: data[8 ..< 8 + headerLength], as: UTF8.self)
        edit(&header)
        XCTAssertEqual(header.utf8.count, headerLength, "edit must keep the header length", file: file, line: line)
        data.replaceSubrange(8 ..< 8 + headerLength, with: Data(header.utf8))
        try data.write(to: shard)
        if let configEdit {
            let url = folder.appendingPathComponent("config.json")
            var text = try String(contentsOf: url, encoding: .utf8)
            configEdit(&text)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        XCTAssertThrowsError(try GLMModel.load(from: folder), file: file, line: line) {
            XCTAssertTrue("\($0)".contains(message), "\($0)", file: file, line: line)
        }
    }

    func testBrokenFoldersAreRefusedNamingFileAndTensor() throws {
        try expectRefusal(editing: { $0 = $0.replacingOccurrences(of: "\"glmserve.version\":\"1\"", with: "\"glmserve.version\":\"7\"") },
                          "model-00001-of-00001.safetensors: tensor 'lm_head.weight': glmserve block format version 7")
        try expectRefusal(editing: { $0 = $0.replacingOccurrences(of: "\"glmserve.version\":\"1\"", with: "\"glmserve.version\":\"7\"") },
                          "block format version 7 is not supported")
        // Blocks of another width than the tensor holds: q8 metadata on a q4 expert.
        try expectRefusal(editing: { $0 = $0.replacingOccurrences(of: "\"glmserve.model.layers.1.mlp.experts.0.up_proj.weight\":\"q4",
                                                                  with: "\"glmserve.model.layers.1.mlp.experts.0.up_proj.weight\":\"q8") },
                          "model-00001-of-00001.safetensors: tensor 'model.layers.1.mlp.experts.0.up_proj.weight': U8 [128, 108] does not hold q8 blocks")
        try expectRefusal(editing: { _ in }, configEdit: { $0 = $0.replacingOccurrences(of: "\"version\" : 1", with: "\"version\" : 2") },
                          "quantization_config.version 2 of the glmserve format is not supported")
    }

    func testSpeculativeAndBatchedDecodingOnQuantisedWeights() throws {
        for type in QuantizationType.allCases {
            let model = try GLMModel.load(from: Self.tiny, quantize: type)
            let n = 24
            let cache = model.makeCache(capacity: prompt.count + n + 1)
            var logits = try model.forward(prompt, cache: cache)
            var plain: [Int32] = []
            while plain.count < n {
                plain.append(Int32(argmax(logits[...])))
                logits = try model.forward([plain.last!], cache: cache)
            }
            let speculative = try model.generateGreedyWithMTP(prompt: prompt, maxTokens: n,
                                                              cache: model.makeCache(capacity: prompt.count + n + 1),
                                                              mtpCache: model.makeMTPCache(capacity: prompt.count + n + 1))
            XCTAssertEqual(speculative.tokens, plain, "\(type)")
            // Three sequences decoded together equal each decoded alone.
            let prompts = [Array(prompt.prefix(5)), Array(prompt.suffix(7)), [8160, 42]]
            var caches = prompts.map { _ in model.makeCache(capacity: 32) }
            var together = try model.forward(batch: zip(prompts, caches).map { .init(tokens: $0, cache: $1) })
            var alone = try zip(prompts, prompts.map { _ in model.makeCache(capacity: 32) }).map { p, c in (try model.forward(p, cache: c), c) }
            for _ in 0..<6 {
                for i in prompts.indices {
                    XCTAssertEqual(argmax(together[i][...]), argmax(alone[i].0[...]))
                    XCTAssertLessThan(maxAbsDifference(together[i], alone[i].0), 1e-4)
                }
                let next = together.map { Int32(argmax($0[...])) }
                together = try model.forward(batch: zip(next, caches).map { .init(tokens: [$0], cache: $1) })
                alone = try zip(next, alone).map { t, a in (try model.forward([t], cache: a.1), a.1) }
            }
            caches.removeAll()
        }
    }

    /// F8 (scales folded into the blocks), F16 and F32 sources, widths that are not a multiple of 32 (hidden 40,
    /// experts 20 wide): the folder equals quantising at load, and stays close to the source model.
    func testOtherSourceDTypesAndOddWidths() throws {
        for dtype in ["F8", "F16", "F32"] {
            var spec = RandomModelSpec()
            spec.matrixDType = dtype
            let source = try spec.write()
            addTeardownBlock { try? FileManager.default.removeItem(at: source) }
            let exact = try GLMModel.load(from: source, numerics: .exact)
            let tokens: [Int32] = [1, 5, 9, 33, 2, 70]
            let reference = try exact.forward(tokens, cache: exact.makeCache(capacity: 8), logits: .all)
            for type in QuantizationType.allCases {
                let folder = temporaryFolder()
                _ = try QuantizedCheckpointWriter.write(from: source, to: folder, type: type)
                let stored = try Checkpoint(directory: folder)
                if dtype == "F8" {
                    XCTAssertFalse(stored.contains("model.layers.1.self_attn.q_proj.weight_scale"), "folded into the blocks")
                    XCTAssertTrue(stored.contains("model.layers.1.mlp.gate.weight_scale"), "the FP8 router keeps its scale")
                }
                let a = try GLMModel.load(from: source, quantize: type)
                let b = try GLMModel.load(from: folder)
                let la = try a.forward(tokens, cache: a.makeCache(capacity: 8), logits: .all)
                let lb = try b.forward(tokens, cache: b.makeCache(capacity: 8), logits: .all)
                XCTAssertEqual(la, lb, "\(dtype) \(type)")
                // Random weights amplify rounding (no trained structure, and a changed hidden state can change the
                // experts chosen), so against the source only q8 is held close; the fast (int8 activations) and
                // exact products on the same quantised weights must agree for both types.
                let rms = { (v: [Float]) in (v.reduce(0) { $0 + Double($1 * $1) } / Double(v.count)).squareRoot() }
                let c = try GLMModel.load(from: folder, numerics: .exact)
                let lc = try c.forward(tokens, cache: c.makeCache(capacity: 8), logits: .all)
                // Per position (a flipped expert choice moves one position a lot; the median stays small).
                let V = spec.vocab
                let perToken = (0..<tokens.count).map { t in
                    rms(zip(la[t * V ..< (t + 1) * V], lc[t * V ..< (t + 1) * V]).map { $0 - $1 }) / rms(Array(lc[t * V ..< (t + 1) * V]))
                }.sorted()
                XCTAssertLessThan(perToken[tokens.count / 2], 0.04, "fast vs exact \(dtype) \(type)")
                if type == .q8 {
                    XCTAssertLessThan(rms(zip(la, reference).map { $0 - $1 }) / rms(reference), 0.05, "\(dtype) q8 vs source")
                }
            }
        }
    }
}
