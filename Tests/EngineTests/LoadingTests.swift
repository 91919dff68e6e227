import CKernels
import Foundation
import SafeTensors
import XCTest
@testable import Engine

final class LoadingTests: XCTestCase {
    /// Progress counts up to the total, both MTP layouts load, and the byte accounting follows the shapes.
    func testProgressAndAccounting() throws {
        for name in ["tiny-bf16", "tiny-air-f32"] {
            var reports: [LoadProgress] = []
            let model = try GLMModel.load(from: Fixtures.directory(name)) { reports.append($0) }
            let last = try XCTUnwrap(reports.last)
            XCTAssertEqual(last.tensorsLoaded, last.tensorsTotal, name)
            XCTAssertEqual(last.tensorsLoaded, model.tensorCount, name)
            XCTAssertEqual(reports.map(\.tensorsLoaded), Array(1...reports.count), name)
            XCTAssertTrue(reports.allSatisfy { $0.bytesLoaded <= $0.bytesTotal }, name)
            // Every tensor of the checkpoint is used (trunk + MTP layer), so the byte counts agree.
            XCTAssertEqual(model.weightBytes, try Checkpoint(directory: Fixtures.directory(name)).totalBytes, name)
            XCTAssertNotNil(model.model.mtp, "\(name): the MTP layer is loaded")
        }
        // GLM-4.6 layout (tiny): MTP uses the main embedding/head; GLM-4.5 layout (tiny-air): its own copies.
        XCTAssertNil(try Fixtures.model("tiny-bf16").model.mtp?.head)
        XCTAssertNotNil(try Fixtures.model("tiny-air-bf16").model.mtp?.head)
    }

    func testBF16WeightsStayBF16() throws {
        let model = try Fixtures.model("tiny-bf16")
        // Only e_score_correction_bias is F32 in a BF16 release (3 MoE layers + MTP, 16 values each).
        XCTAssertEqual(model.bytesByDType["F32"], 4 * 16 * 4)
        XCTAssertEqual(model.model.layers[1].attention.qProj.dtype, CK_BF16)
        XCTAssertEqual(model.model.lmHead.dtype, CK_BF16)
    }

    func testActiveBytesPerTokenFollowTheShapes() throws {
        let model = try Fixtures.model("tiny-bf16")       // H 64, 8×16 heads, 2 KV heads, 4 layers (1 dense)
        let attention = (128 * 64 + 2 * 32 * 64 + 64 * 128) * 2
        let dense = 3 * 128 * 64 * 2
        let moe = 16 * 64 * 2 + 4 * 3 * 32 * 64 * 2 + 3 * 32 * 64 * 2
        let expected = 4 * attention + dense + 3 * moe + 512 * 64 * 2 + 64 * 2
        XCTAssertEqual(model.activeWeightBytesPerToken, expected)
    }
}
