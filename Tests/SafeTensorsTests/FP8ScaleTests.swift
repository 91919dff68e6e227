import XCTest
@testable import SafeTensors

/// FP8 weights are paired with their `weight_scale` by name, and the scale's layout is recognised.
final class FP8ScaleTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = try FixturePaths.temporaryDirectory()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private let prefix = "model.layers.92.shared_head.head"

    private func checkpoint(weightShape: [Int], scaleShape: [Int], scales: [Float],
                            weightDType: DType = .f8e4m3, scaleSuffix: String = "_scale") throws -> Checkpoint {
        let count = weightShape.reduce(1, *)
        var writer = SafeTensorsWriter()
        let codes = (0..<count).map { UInt8(truncatingIfNeeded: 0x30 + $0 % 0x40) }
        try writer.add(name: "\(prefix).weight", dtype: weightDType, shape: weightShape,
                       bytes: weightDType == .f8e4m3 ? codes : [UInt8](repeating: 0, count: count * weightDType.byteSize))
        try writer.add(name: "\(prefix).weight\(scaleSuffix)", bfloat16From: scales, shape: scaleShape)
        try writer.add(name: "model.norm.weight", floats: [1, 1], shape: [2])
        try writer.write(to: directory.appendingPathComponent("model.safetensors"))
        return try Checkpoint(directory: directory)
    }

    func testPerOutputChannelScale() throws {
        let scales: [Float] = [0.5, 2, 0.25]
        let model = try checkpoint(weightShape: [3, 4], scaleShape: [3, 1], scales: scales)
        let scaled = try XCTUnwrap(try model.scaledWeight(named: "\(prefix).weight"))
        XCTAssertEqual(scaled.layout, .perOutputChannel)
        XCTAssertEqual(scaled.scale.name, "\(prefix).weight_scale")
        let values = try scaled.dequantized()
        let codes = try scaled.weight.bytes.map { FloatDecoding.f8e4m3($0) }
        for row in 0..<3 {
            for column in 0..<4 {
                XCTAssertEqual(values[row * 4 + column], codes[row * 4 + column] * scales[row])
            }
        }
        XCTAssertNil(try model.scaledWeight(named: "model.norm.weight"))
        XCTAssertNil(try model.weightScale(for: "model.norm.weight"))
    }

    func testBlockScale() throws {
        // 130 rows → 2 row blocks of 128; 4 columns → 1 column block.
        let model = try checkpoint(weightShape: [130, 4], scaleShape: [2, 1], scales: [3, 5])
        let scaled = try XCTUnwrap(try model.scaledWeight(named: "\(prefix).weight"))
        XCTAssertEqual(scaled.layout, .blocks(rows: 128, columns: 128))
        XCTAssertEqual(scaled.scaleIndex(row: 127, column: 3), 0)
        XCTAssertEqual(scaled.scaleIndex(row: 128, column: 0), 1)
        let values = try scaled.dequantized()
        XCTAssertEqual(values[129 * 4 + 1], FloatDecoding.f8e4m3(scaled.weight.bytes[129 * 4 + 1]) * 5)
    }

    func testDeepSeekStyleScaleInverseIsAMultiplier() throws {
        let model = try checkpoint(weightShape: [256, 256], scaleShape: [2, 2], scales: [1, 2, 4, 8],
                                   scaleSuffix: "_scale_inv")
        let scaled = try XCTUnwrap(try model.scaledWeight(named: "\(prefix).weight"))
        XCTAssertEqual(scaled.scale.name, "\(prefix).weight_scale_inv")
        XCTAssertEqual(scaled.layout, .blocks(rows: 128, columns: 128))
        let values = try scaled.dequantized()
        let index = 200 * 256 + 130   // block (1, 1)
        XCTAssertEqual(values[index], FloatDecoding.f8e4m3(scaled.weight.bytes[index]) * 8)
    }

    func testMisshapedScaleIsRejected() throws {
        let model = try checkpoint(weightShape: [3, 4], scaleShape: [4, 1], scales: [1, 1, 1, 1])
        XCTAssertThrowsError(try model.scaledWeight(named: "\(prefix).weight")) { error in
            XCTAssertEqual((error as? SafeTensorsError)?.tensor, "\(prefix).weight_scale")
            XCTAssertTrue("\(error)".contains("fits neither per-channel [3, 1]"), "\(error)")
        }
    }

    func testScaleOnNonFP8WeightIsRejected() throws {
        let model = try checkpoint(weightShape: [3, 4], scaleShape: [3, 1], scales: [1, 1, 1], weightDType: .bf16)
        XCTAssertThrowsError(try model.scaledWeight(named: "\(prefix).weight")) { error in
            XCTAssertTrue("\(error)".contains("expected F8_E4M3"), "\(error)")
        }
    }
}
