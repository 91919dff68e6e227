import XCTest
@testable import SafeTensors

/// Model folders whose index or shards disagree; each must fail with a clear `SafeTensorsError`.
final class HostileCheckpointTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = try FixturePaths.temporaryDirectory()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Writes a shard holding `names` (one F32 value each).
    private func writeShard(_ file: String, _ names: [String]) throws {
        var writer = SafeTensorsWriter()
        for (position, name) in names.enumerated() {
            try writer.add(name: name, floats: [Float(position)], shape: [1])
        }
        try writer.write(to: directory.appendingPathComponent(file))
    }

    private func writeIndex(_ weightMap: [String: String]) throws {
        let object: [String: Any] = ["metadata": ["total_size": 4 * weightMap.count], "weight_map": weightMap]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        try data.write(to: directory.appendingPathComponent("model.safetensors.index.json"))
    }

    private func checkpointError(file: StaticString = #filePath, line: UInt = #line) -> SafeTensorsError? {
        do {
            _ = try Checkpoint(directory: directory)
            XCTFail("checkpoint was accepted", file: file, line: line)
        } catch let error as SafeTensorsError {
            return error
        } catch {
            XCTFail("unexpected error type: \(error)", file: file, line: line)
        }
        return nil
    }

    func testIndexNamingMissingFile() throws {
        try writeShard("model-00001-of-00002.safetensors", ["a"])
        try writeIndex(["a": "model-00001-of-00002.safetensors", "model.layers.4.eh_proj.weight": "mtp.safetensors"])
        let error = try XCTUnwrap(checkpointError())
        XCTAssertEqual(error.file, "model.safetensors.index.json")
        XCTAssertEqual(error.tensor, "model.layers.4.eh_proj.weight")
        XCTAssertTrue(error.problem.contains("'mtp.safetensors', which is missing"), "\(error)")
    }

    func testIndexNamingTensorAbsentFromItsFile() throws {
        try writeShard("model-00001-of-00002.safetensors", ["a"])
        try writeShard("model-00002-of-00002.safetensors", ["b"])
        try writeIndex(["a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors"])
        let error = try XCTUnwrap(checkpointError())
        XCTAssertEqual(error.description,
                       "model-00001-of-00002.safetensors: tensor 'b': listed in model.safetensors.index.json but absent from this file")
    }

    func testIndexNotJSONOrWithoutWeightMap() throws {
        try Data("{\"weight_map\": ".utf8).write(to: directory.appendingPathComponent("model.safetensors.index.json"))
        XCTAssertTrue(try XCTUnwrap(checkpointError()).description.hasPrefix("model.safetensors.index.json: not valid JSON"))
        try Data("{\"metadata\": {}}".utf8).write(to: directory.appendingPathComponent("model.safetensors.index.json"))
        XCTAssertEqual(checkpointError()?.problem, "missing 'weight_map' object")
    }

    func testEmptyWeightMapAndMissingFolder() throws {
        try writeIndex([:])
        XCTAssertEqual(checkpointError()?.problem, "'weight_map' is empty")
        let missing = directory.appendingPathComponent("no-such-model")
        XCTAssertThrowsError(try Checkpoint(directory: missing)) { error in
            XCTAssertEqual("\(error)", "no-such-model: model folder does not exist or is not a folder")
        }
    }

    func testIndexCannotPointOutsideTheFolder() throws {
        try writeIndex(["a": "../model.safetensors"])
        let error = try XCTUnwrap(checkpointError())
        XCTAssertEqual(error.tensor, "a")
        XCTAssertTrue(error.problem.contains("not a plain file name"), "\(error)")
    }

    func testDamagedShardIsNamed() throws {
        try writeShard("model-00001-of-00002.safetensors", ["a"])
        try Data([9, 9, 9]).write(to: directory.appendingPathComponent("model-00002-of-00002.safetensors"))
        try writeIndex(["a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"])
        let error = try XCTUnwrap(checkpointError())
        XCTAssertEqual(error.file, "model-00002-of-00002.safetensors")
        XCTAssertTrue(error.problem.contains("truncated"), "\(error)")
    }

    func testEmptyFolder() throws {
        let error = try XCTUnwrap(checkpointError())
        XCTAssertTrue(error.problem.contains("neither model.safetensors.index.json nor model.safetensors"), "\(error)")
    }

    func testSingleFileCheckpointAndMissingTensor() throws {
        try writeShard("model.safetensors", ["x", "y"])
        let checkpoint = try Checkpoint(directory: directory)
        XCTAssertEqual(checkpoint.tensorNames, ["x", "y"])
        XCTAssertEqual(try checkpoint.tensor(named: "y").floats(), [1])
        XCTAssertThrowsError(try checkpoint.tensor(named: "lm_head.weight")) { error in
            XCTAssertEqual("\(error)", "model.safetensors: tensor 'lm_head.weight': missing from the checkpoint")
        }
    }

    func testShapeAndDTypeExpectations() throws {
        try writeShard("model-00001-of-00001.safetensors", ["model.norm.weight"])
        try writeIndex(["model.norm.weight": "model-00001-of-00001.safetensors"])
        let checkpoint = try Checkpoint(directory: directory)
        XCTAssertNoThrow(try checkpoint.tensor(named: "model.norm.weight", dtype: [.f32, .bf16], shape: [1]))
        XCTAssertThrowsError(try checkpoint.tensor(named: "model.norm.weight", shape: [64])) { error in
            XCTAssertEqual("\(error)", "model-00001-of-00001.safetensors: tensor 'model.norm.weight': "
                           + "shape [1], expected [64] from config.json")
        }
        XCTAssertThrowsError(try checkpoint.tensor(named: "model.norm.weight", dtype: [.bf16], shape: [1])) { error in
            XCTAssertTrue("\(error)".hasSuffix("dtype F32, expected BF16"), "\(error)")
        }
        XCTAssertThrowsError(try checkpoint.tensor(named: "lm_head.weight", shape: [1])) { error in
            XCTAssertEqual("\(error)", "model.safetensors.index.json: tensor 'lm_head.weight': missing from the checkpoint")
        }
    }
}
