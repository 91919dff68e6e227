import Foundation
import XCTest
@testable import SafeTensors

/// `Scripts/make_random_glm.py` writes checkpoints this reader loads, with the shapes config.json implies.
/// Skipped when `python3` with numpy is not available.
final class RandomModelScriptTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = try FixturePaths.temporaryDirectory()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private var script: URL {
        FixturePaths.fixtures.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Scripts/make_random_glm.py")
    }

    /// Runs the script with a tiny configuration plus `extra` flags into `output`; returns its standard output.
    private func generate(into output: URL, _ extra: [String]) throws -> String {
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = ["python3", "-c", "import numpy"]
        check.standardError = FileHandle.nullDevice
        do {
            try check.run()
            check.waitUntilExit()
        } catch {
            throw XCTSkip("python3 not available")
        }
        guard check.terminationStatus == 0 else { throw XCTSkip("python3 with numpy not available") }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, "--output", output.path, "--hidden-size", "48", "--layers", "3",
                             "--experts", "8", "--active-experts", "2", "--moe-intermediate", "16",
                             "--intermediate", "96", "--heads", "6", "--kv-heads", "2", "--head-dim", "12",
                             "--vocab", "300", "--shard-size-mb", "0.1"] + extra
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, text)
        return text
    }

    private func checkShapes(_ model: URL, expectMTPFile: Bool) throws -> Checkpoint {
        let config = try FixturePaths.json(model.appendingPathComponent("config.json"))
        XCTAssertEqual(config["model_type"] as? String, "glm4_moe")
        let shapes = try GLMShapes(config: config)
        let checkpoint = try Checkpoint(directory: model)
        for name in checkpoint.tensorNames {
            let expected = try XCTUnwrap(shapes.shape(of: name), "unexpected tensor \(name)")
            let dtype: Set<DType> = name.hasSuffix("e_score_correction_bias") ? [.f32] : [.bf16]
            _ = try checkpoint.tensor(named: name, dtype: dtype, shape: expected)
        }
        XCTAssertEqual(checkpoint.files.contains { $0.name == "mtp.safetensors" }, expectMTPFile)
        XCTAssertTrue(checkpoint.contains("model.layers.3.eh_proj.weight"))
        XCTAssertGreaterThan(checkpoint.files.count, 2)
        let values = try checkpoint.tensor(named: "model.layers.1.self_attn.q_proj.weight").floats()
        let variance = values.reduce(0) { $0 + $1 * $1 } / Float(values.count)
        XCTAssertEqual(variance, 1 / 48, accuracy: 0.25 / 48, "N(0, 1/fan_in)")
        return checkpoint
    }

    func testGLM46LayoutLoads() throws {
        let output = try generate(into: directory, ["--n-group", "2", "--topk-group", "1"])
        XCTAssertTrue(output.contains("mtp.safetensors"), output)
        let checkpoint = try checkShapes(directory, expectMTPFile: true)
        XCTAssertEqual(checkpoint.fileName(of: "model.layers.3.eh_proj.weight"), "mtp.safetensors")
        XCTAssertTrue(checkpoint.contains("model.layers.2.self_attn.q_norm.weight"))
    }

    func testGLM45LayoutLoads() throws {
        _ = try generate(into: directory, ["--layout", "glm45", "--no-qk-norm"])
        let checkpoint = try checkShapes(directory, expectMTPFile: false)
        let last = try XCTUnwrap(checkpoint.files.last?.name)
        XCTAssertTrue(last.hasPrefix("model-") && last.hasSuffix("-of-0000\(checkpoint.files.count).safetensors"), last)
        XCTAssertEqual(checkpoint.fileName(of: "model.layers.3.shared_head.head.weight"), last)
        XCTAssertFalse(checkpoint.contains("model.layers.2.self_attn.q_norm.weight"))
    }
}
