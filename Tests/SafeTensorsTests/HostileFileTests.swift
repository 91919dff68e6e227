import XCTest
@testable import SafeTensors

/// Damaged or lying files, each made here; every one must fail with a `SafeTensorsError` naming the file, the
/// tensor (when one is at fault) and the problem — never a crash.
final class HostileFileTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = try FixturePaths.temporaryDirectory()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    // MARK: - Helpers

    /// Writes `8-byte length ‖ header ‖ data` under `name` and returns its URL.
    private func writeRaw(_ name: String, header: String, data: [UInt8], declaredLength: UInt64? = nil) throws -> URL {
        let headerBytes = Array(header.utf8)
        var length = (declaredLength ?? UInt64(headerBytes.count)).littleEndian
        var file = withUnsafeBytes(of: &length) { Array($0) }
        file += headerBytes + data
        let url = directory.appendingPathComponent(name)
        try Data(file).write(to: url)
        return url
    }

    /// Asserts that opening `url` throws a `SafeTensorsError` for `file`/`tensor` whose problem contains `problem`.
    private func assertRejects(_ url: URL, tensor: String?, problem: String,
                               file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try SafeTensorsFile(url: url)
            XCTFail("\(url.lastPathComponent) was accepted", file: file, line: line)
        } catch let error as SafeTensorsError {
            XCTAssertEqual(error.file, url.lastPathComponent, file: file, line: line)
            XCTAssertEqual(error.tensor, tensor, "\(error)", file: file, line: line)
            XCTAssertTrue(error.problem.contains(problem), "\(error)", file: file, line: line)
            XCTAssertTrue(error.description.hasPrefix(url.lastPathComponent + ": "), "\(error)", file: file, line: line)
            if let tensor {
                XCTAssertTrue(error.description.contains("tensor '\(tensor)'"), "\(error)", file: file, line: line)
            }
        } catch {
            XCTFail("unexpected error type: \(error)", file: file, line: line)
        }
    }

    private let weight = "model.layers.1.mlp.gate.weight"

    // MARK: - The file frame

    func testEmptyAndShortFilesAreTruncated() throws {
        let empty = directory.appendingPathComponent("empty.safetensors")
        try Data().write(to: empty)
        assertRejects(empty, tensor: nil, problem: "truncated")
        let short = directory.appendingPathComponent("short.safetensors")
        try Data([1, 0, 0]).write(to: short)
        assertRejects(short, tensor: nil, problem: "truncated")
    }

    func testHeaderLengthPastEndOfFile() throws {
        let url = try writeRaw("long.safetensors", header: "{}", data: [], declaredLength: 4096)
        assertRejects(url, tensor: nil, problem: "runs past the end of the file")
    }

    func testHeaderLengthAboveLimit() throws {
        let url = try writeRaw("huge.safetensors", header: "{}", data: [], declaredLength: 1 << 40)
        assertRejects(url, tensor: nil, problem: "exceeds")
    }

    func testHeaderLengthTooSmall() throws {
        let url = try writeRaw("tiny.safetensors", header: "{}", data: [], declaredLength: 1)
        assertRejects(url, tensor: nil, problem: "too small")
    }

    func testHeaderNotJSON() throws {
        let url = try writeRaw("garbage.safetensors", header: "{\"a\": [1, 2", data: [])
        assertRejects(url, tensor: nil, problem: "not valid JSON")
        let binary = try writeRaw("binary.safetensors", header: "\u{7}\u{0}xyz", data: [])
        assertRejects(binary, tensor: nil, problem: "not a JSON object")
    }

    func testHeaderNotAnObject() throws {
        let url = try writeRaw("array.safetensors", header: "[1, 2, 3]", data: [])
        assertRejects(url, tensor: nil, problem: "not a JSON object")
    }

    func testMetadataMustMapStringsToStrings() throws {
        let url = try writeRaw("meta.safetensors", header: #"{"__metadata__":{"format":1}}"#, data: [])
        assertRejects(url, tensor: nil, problem: "__metadata__")
    }

    // MARK: - Tensor entries

    func testUnknownDType() throws {
        let url = try writeRaw("model-00001-of-00002.safetensors",
                               header: #"{"\#(weight)":{"dtype":"F8_E5M2","shape":[4],"data_offsets":[0,4]}}"#,
                               data: [UInt8](repeating: 0, count: 4))
        assertRejects(url, tensor: weight, problem: "unknown dtype 'F8_E5M2'")
    }

    func testShapeTimesDTypeMustMatchByteRange() throws {
        let url = try writeRaw("model-00002-of-00004.safetensors",
                               header: #"{"\#(weight)":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,10]}}"#,
                               data: [UInt8](repeating: 0, count: 10))
        assertRejects(url, tensor: weight, problem: "is 12 bytes but data_offsets [0, 10] span 10")
    }

    func testShapeProductOverflowIsCaught() throws {
        let big = Int.max / 2
        let url = try writeRaw("overflow.safetensors",
                               header: #"{"\#(weight)":{"dtype":"F32","shape":[\#(big),4],"data_offsets":[0,8]}}"#,
                               data: [UInt8](repeating: 0, count: 8))
        assertRejects(url, tensor: weight, problem: "overflows")
    }

    func testNegativeShape() throws {
        let url = try writeRaw("negative.safetensors",
                               header: #"{"\#(weight)":{"dtype":"F32","shape":[-1,2],"data_offsets":[0,8]}}"#,
                               data: [UInt8](repeating: 0, count: 8))
        assertRejects(url, tensor: weight, problem: "negative dimension")
    }

    func testNonIntegerShapeAndOffsets() throws {
        let fraction = try writeRaw("fraction.safetensors",
                                    header: #"{"\#(weight)":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#,
                                    data: [UInt8](repeating: 0, count: 4))
        assertRejects(fraction, tensor: weight, problem: "non-integer")
        let boolean = try writeRaw("bool.safetensors",
                                   header: #"{"\#(weight)":{"dtype":"F32","shape":[1],"data_offsets":[false,4]}}"#,
                                   data: [UInt8](repeating: 0, count: 4))
        assertRejects(boolean, tensor: weight, problem: "not integers")
        let missing = try writeRaw("missing.safetensors",
                                   header: #"{"\#(weight)":{"dtype":"F32","shape":[1]}}"#,
                                   data: [UInt8](repeating: 0, count: 4))
        assertRejects(missing, tensor: weight, problem: "data_offsets")
    }

    func testOffsetsOutOfTheFile() throws {
        let url = try writeRaw("model-00004-of-00004.safetensors",
                               header: #"{"\#(weight)":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
                               data: [UInt8](repeating: 0, count: 12))
        assertRejects(url, tensor: weight, problem: "run past the end of the data section")
    }

    func testTruncatedDataSection() throws {
        // A valid two-tensor file cut short: the second tensor no longer fits.
        var writer = SafeTensorsWriter()
        try writer.add(name: "a", floats: [1, 2, 3, 4], shape: [4])
        try writer.add(name: "b", floats: [5, 6, 7, 8], shape: [2, 2])
        let bytes = writer.serialized()
        let url = directory.appendingPathComponent("cut.safetensors")
        try Data(bytes.dropLast(3)).write(to: url)
        assertRejects(url, tensor: "b", problem: "run past the end")
    }

    func testEndBeforeBegin() throws {
        let url = try writeRaw("model-00002-of-00004.safetensors",
                               header: #"{"\#(weight)":{"dtype":"U8","shape":[0],"data_offsets":[100,90]}}"#,
                               data: [UInt8](repeating: 0, count: 128))
        assertRejects(url, tensor: weight, problem: "data_offsets [100, 90] end before begin")
        do {
            _ = try SafeTensorsFile(url: url)
        } catch let error as SafeTensorsError {
            XCTAssertEqual(error.description, "model-00002-of-00004.safetensors: tensor '\(weight)': "
                           + "data_offsets [100, 90] end before begin")
        }
    }

    func testOverlappingRanges() throws {
        let header = #"{"first":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"#
            + #""second":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#
        let url = try writeRaw("overlap.safetensors", header: header, data: [UInt8](repeating: 0, count: 16))
        assertRejects(url, tensor: "second", problem: "overlap tensor 'first'")
    }

    func testZeroSizedTensorsDoNotOverlap() throws {
        let header = #"{"empty":{"dtype":"F32","shape":[0,3],"data_offsets":[4,4]},"#
            + #""full":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        let url = try writeRaw("empty-ok.safetensors", header: header, data: [UInt8](repeating: 0, count: 8))
        let file = try SafeTensorsFile(url: url)
        XCTAssertEqual(try file.tensor(named: "empty").elementCount, 0)
        XCTAssertEqual(try file.tensor(named: "empty").floats(), [])
    }

    func testAbsentTensorNamesFileAndTensor() throws {
        var writer = SafeTensorsWriter()
        try writer.add(name: "present", floats: [1], shape: [1])
        let url = directory.appendingPathComponent("one.safetensors")
        try writer.write(to: url)
        let file = try SafeTensorsFile(url: url)
        XCTAssertThrowsError(try file.tensor(named: "absent")) { error in
            XCTAssertEqual((error as? SafeTensorsError)?.description, "one.safetensors: tensor 'absent': not in this file")
        }
    }

    func testWrongDTypeConversionsThrow() throws {
        var writer = SafeTensorsWriter()
        try writer.add(name: "ids", int32s: [1, 2], shape: [2])
        try writer.add(name: "x", floats: [1, 2], shape: [2])
        let url = directory.appendingPathComponent("mixed.safetensors")
        try writer.write(to: url)
        let file = try SafeTensorsFile(url: url)
        XCTAssertThrowsError(try file.tensor(named: "ids").floats()) { error in
            XCTAssertTrue("\(error)".contains("tensor 'ids': dtype I32 cannot be read as floats"), "\(error)")
        }
        XCTAssertThrowsError(try file.tensor(named: "x").int32s())
    }

    func testI64OutOfInt32RangeThrows() throws {
        var writer = SafeTensorsWriter()
        var bytes: [UInt8] = []
        for value: Int64 in [7, -3, 1 << 40] { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        try writer.add(name: "ids", dtype: .i64, shape: [3], bytes: bytes)
        let url = directory.appendingPathComponent("i64.safetensors")
        try writer.write(to: url)
        let file = try SafeTensorsFile(url: url)
        XCTAssertThrowsError(try file.tensor(named: "ids").int32s()) { error in
            XCTAssertTrue("\(error)".contains("element 2"), "\(error)")
        }
    }
}
