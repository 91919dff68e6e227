import XCTest
@testable import SafeTensors

/// Loads every fixture model and checks it against its index, config.json, fixture.json and reference files.
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
                XCTAssertEqual(try checkpoint.tensor(named: name).file, file, name)
            }
            XCTAssertEqual(checkpoint.files.map(\.name), Set(weightMap.values).sorted())
            let metadata = try XCTUnwrap(index["metadata"] as? [String: Any])
            XCTAssertEqual(checkpoint.totalBytes, metadata["total_size"] as? Int, directory.lastPathComponent)

            let fixture = try FixturePaths.json(directory.appendingPathComponent("fixture.json"))
            XCTAssertEqual(checkpoint.tensorNames.count, fixture["n_tensors"] as? Int, directory.lastPathComponent)
            let fileSizes = try XCTUnwrap(fixture["files"] as? [String: Int])
            for file in checkpoint.files {
                XCTAssertEqual(file.fileSize, fileSizes[file.name], file.name)
                XCTAssertEqual(file.metadata["format"], "pt", file.name)
            }
        }
    }

    func testViewsOutliveTheirCheckpoint() throws {
        let directory = FixturePaths.model("tiny-f32")
        let view = try Checkpoint(directory: directory).tensor(named: "model.norm.weight")
        let again = try Checkpoint(directory: directory).tensor(named: "model.norm.weight").floats()
        XCTAssertEqual(try view.floats(), again)
        XCTAssertEqual(view.elementCount, 64)
    }

    func testGLM46LayoutKeepsMTPInItsOwnFile() throws {
        let checkpoint = try Checkpoint(directory: FixturePaths.model("tiny-bf16"))
        let mtpNames = checkpoint.tensorNames.filter { $0.hasPrefix("model.layers.4.") }
        XCTAssertFalse(mtpNames.isEmpty)
        for name in mtpNames {
            XCTAssertEqual(checkpoint.fileName(of: name), "mtp.safetensors", name)
        }
        XCTAssertTrue(checkpoint.contains("model.layers.4.eh_proj.weight"))
        XCTAssertFalse(checkpoint.contains("model.layers.4.embed_tokens.weight"))
        XCTAssertFalse(checkpoint.contains("model.layers.4.shared_head.head.weight"))
    }

    func testGLM45LayoutKeepsMTPInTheLastShard() throws {
        let checkpoint = try Checkpoint(directory: FixturePaths.model("tiny-air-bf16"))
        let mtpNames = checkpoint.tensorNames.filter { $0.hasPrefix("model.layers.3.") }
        XCTAssertFalse(mtpNames.isEmpty)
        for name in mtpNames {
            XCTAssertEqual(checkpoint.fileName(of: name), "model-00004-of-00004.safetensors", name)
        }
        XCTAssertEqual(try checkpoint.tensor(named: "model.layers.3.embed_tokens.weight").shape, [640, 96])
        XCTAssertEqual(try checkpoint.tensor(named: "model.layers.3.shared_head.head.weight").shape, [640, 96])
        XCTAssertFalse(checkpoint.files.contains { $0.name == "mtp.safetensors" })
    }

    func testDTypesAndShapesFollowConfig() throws {
        for directory in FixturePaths.allModels {
            let config = try FixturePaths.json(directory.appendingPathComponent("config.json"))
            let shapes = try GLMShapes(config: config)
            let checkpoint = try Checkpoint(directory: directory)
            let isF32 = directory.lastPathComponent.hasSuffix("-f32")
            for name in checkpoint.tensorNames {
                let expected = try XCTUnwrap(shapes.shape(of: name), "unexpected tensor \(name)")
                let view = try checkpoint.tensor(named: name, shape: expected)
                let expectedDType: DType = isF32 || name.hasSuffix("e_score_correction_bias") ? .f32 : .bf16
                XCTAssertEqual(view.dtype, expectedDType, "\(directory.lastPathComponent) \(name)")
                XCTAssertEqual(view.bytes.count, expected.reduce(1, *) * expectedDType.byteSize)
            }
        }
    }

    func testBF16AndF32ReleasesAgreeWithinBF16Rounding() throws {
        for family in ["tiny", "tiny-air"] {
            let bf16 = try Checkpoint(directory: FixturePaths.model("\(family)-bf16"))
            let f32 = try Checkpoint(directory: FixturePaths.model("\(family)-f32"))
            XCTAssertEqual(bf16.tensorNames, f32.tensorNames)
            var compared = 0
            for name in bf16.tensorNames {
                let narrow = try bf16.tensor(named: name).floats()
                let wide = try f32.tensor(named: name).floats()
                XCTAssertEqual(narrow.count, wide.count, name)
                if try bf16.tensor(named: name).dtype == .f32 {
                    XCTAssertEqual(narrow, wide, name)
                    continue
                }
                for (a, b) in zip(narrow, wide) where FloatEncoding.bf16(b) != FloatEncoding.bf16(a) || a.isNaN {
                    XCTFail("\(family) \(name): bf16 \(a) is not f32 \(b) rounded")
                    break
                }
                XCTAssertTrue(zip(narrow, wide).contains { $0 != $1 }, "\(name): f32 release has no extra precision")
                compared += narrow.count
            }
            XCTAssertGreaterThan(compared, 100_000)
        }
    }

    func testReferenceFilesMatchTheirDescription() throws {
        for directory in FixturePaths.allModels {
            let url = directory.appendingPathComponent("reference.safetensors")
            let file = try SafeTensorsFile(url: url, populate: true)
            let reference = try FixturePaths.json(directory.appendingPathComponent("reference.json"))
            let described = try XCTUnwrap(reference["tensors"] as? [String: [String: Any]])
            XCTAssertEqual(Set(file.tensorNames), Set(described.keys), directory.lastPathComponent)
            for (name, info) in described {
                let view = try file.tensor(named: name)
                XCTAssertEqual(view.shape, info["shape"] as? [Int], name)
                XCTAssertEqual(view.dtype, info["dtype"] as? String == "int32" ? .i32 : .f32, name)
            }
            let sequences = try XCTUnwrap(reference["sequences"] as? [String: [String: Any]])
            for (key, sequence) in sequences {
                XCTAssertEqual(try file.tensor(named: "\(key).input_ids").int32s().map(Int.init),
                               sequence["input_ids"] as? [Int], key)
            }
            let greedy = try XCTUnwrap(reference["greedy"] as? [String: Any])
            XCTAssertEqual(try file.tensor(named: "greedy.tokens").int32s().map(Int.init), greedy["tokens"] as? [Int])
            let logits = try file.tensor(named: "s7.logits").floats()
            XCTAssertTrue(logits.allSatisfy(\.isFinite))
        }
    }
}
