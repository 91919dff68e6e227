import XCTest
@testable import SafeTensors

/// Loads every fixture model and checks it against its index, config and fixture.json.
final class FixtureCheckpointTests: XCTestCase {
    func testEveryFixtureLoadsWithIndexTensors() throws {
        let models = FixturePaths.allModels
        XCTAssertGreaterThanOrEqual(models.count, 5, "fixture models not found under \(FixturePaths.models.path)")
        for directory in models {
            let checkpoint = try Checkpoint(directory: directory)
            let index = try FixturePaths.json(directory.appendingPathComponent("model.safetensors.index.json"))
            let weightMap = try XCTUnwrap(index["weight_map"] as? [String: String])
            XCTAssertEqual(checkpoint.tensorNames, weightMap.keys.sorted(), directory.lastPathComponent)
            for (name, file) in weightMap {
                XCTAssertEqual(checkpoint.fileName(of: name), file, name)
            }
            XCTAssertEqual(checkpoint.files.count, Set(weightMap.values).count)
            let metadata = try XCTUnwrap(index["metadata"] as? [String: Any])
            XCTAssertEqual(checkpoint.totalBytes, metadata["total_size"] as? Int, directory.lastPathComponent)
        }
    }
}
