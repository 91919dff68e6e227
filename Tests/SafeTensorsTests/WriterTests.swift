import XCTest
@testable import SafeTensors

/// `SafeTensorsWriter` output reads back bit for bit and has the reference layout.
final class WriterTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = try FixturePaths.temporaryDirectory()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func testRoundTrip() throws {
        let logits: [Float] = [0, -1.5, .pi, 1e-30, -.infinity, 3e38]
        let weights: [Float] = [1, 1 + 0x1p-7, -0.15625, 65536]
        var writer = SafeTensorsWriter()
        writer.metadata = ["format": "pt", "note": "quote \" backslash \\ newline \n"]
        try writer.add(name: "logits", floats: logits, shape: [2, 3])
        try writer.add(name: "weight", bfloat16From: weights, shape: [2, 2])
        try writer.add(name: "ids", int32s: [7, -1, Int32.max], shape: [3])
        try writer.add(name: "flags", dtype: .u8, shape: [1], bytes: [255])
        try writer.add(name: "scalar", floats: [42], shape: [])
        try writer.add(name: "naïve \"name\"", floats: [], shape: [0])
        let url = directory.appendingPathComponent("out.safetensors")
        try writer.write(to: url)

        let file = try SafeTensorsFile(url: url)
        XCTAssertEqual(file.tensorNames, ["logits", "weight", "ids", "flags", "scalar", "naïve \"name\""])
        XCTAssertEqual(file.metadata, writer.metadata)
        let read = try file.tensor(named: "logits")
        XCTAssertEqual(read.dtype, .f32)
        XCTAssertEqual(read.shape, [2, 3])
        XCTAssertEqual(read.elementCount, 6)
        XCTAssertEqual(try read.floats().map(\.bitPattern), logits.map(\.bitPattern))
        XCTAssertEqual(try file.tensor(named: "weight").dtype, .bf16)
        XCTAssertEqual(try file.tensor(named: "weight").floats(), weights)   // all exactly representable in BF16
        XCTAssertEqual(try file.tensor(named: "ids").int32s(), [7, -1, Int32.max])
        XCTAssertEqual(try file.tensor(named: "flags").int32s(), [255])
        XCTAssertEqual(try file.tensor(named: "scalar").shape, [])
        XCTAssertEqual(try file.tensor(named: "scalar").floats(), [42])
        XCTAssertEqual(try file.tensor(named: "naïve \"name\"").elementCount, 0)
    }

    func testHeaderIsSpacePaddedToEightBytes() throws {
        var writer = SafeTensorsWriter()
        try writer.add(name: "a", floats: [1, 2, 3], shape: [3])
        let bytes = writer.serialized()
        let length = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual(length % 8, 0)
        XCTAssertEqual(bytes.count, 8 + length + 12)
        let header = String(decoding: bytes[8..<(8 + length)], as: UTF8.self)
        XCTAssertTrue(header.hasPrefix(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}"#), header)
        XCTAssertTrue(header.drop(while: { $0 != "}" }).dropFirst(2).allSatisfy { $0 == " " }, header)
    }

    func testWriterRejectsBadInput() {
        var writer = SafeTensorsWriter()
        XCTAssertNoThrow(try writer.add(name: "a", floats: [1], shape: [1]))
        XCTAssertThrowsError(try writer.add(name: "a", floats: [1], shape: [1])) { error in
            XCTAssertEqual((error as? SafeTensorsError)?.tensor, "a")
            XCTAssertTrue("\(error)".contains("added twice"))
        }
        XCTAssertThrowsError(try writer.add(name: "b", floats: [1, 2], shape: [3])) { error in
            XCTAssertTrue("\(error)".contains("needs 12 bytes, got 8"), "\(error)")
        }
        XCTAssertThrowsError(try writer.add(name: "__metadata__", floats: [1], shape: [1]))
        XCTAssertThrowsError(try writer.add(name: "c", floats: [], shape: [-1, 0]))
    }

    func testWriteReplacesAnExistingFileAndLeavesNoTemporaryFiles() throws {
        let url = directory.appendingPathComponent("logits.safetensors")
        for value: Float in [1, 2] {
            var writer = SafeTensorsWriter()
            try writer.add(name: "logits", floats: [value, value], shape: [1, 2])
            try writer.write(to: url)
        }
        // The view outlives the file object it came from: it keeps the mapping alive.
        let view = try SafeTensorsFile(url: url).tensor(named: "logits")
        XCTAssertEqual(try view.floats(), [2, 2])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["logits.safetensors"])
    }

    func testWriteToMissingDirectoryThrows() throws {
        var writer = SafeTensorsWriter()
        try writer.add(name: "a", floats: [1], shape: [1])
        let url = directory.appendingPathComponent("no/such/dir/out.safetensors")
        XCTAssertThrowsError(try writer.write(to: url)) { error in
            XCTAssertEqual((error as? SafeTensorsError)?.file, "out.safetensors")
        }
    }
}
