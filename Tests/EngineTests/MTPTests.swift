import Foundation
import SafeTensors
import XCTest
@testable import Engine

/// The MTP layer against the fixtures' `mtp.sN.*` references (fixtures README §5.5): both the vLLM variant
/// (embedding zeroed at position 0) and the unmasked one, whole-sequence and row by row with the MTP cache.
final class MTPTests: XCTestCase {
    func testMTPLogitsMatchReference() throws {
        for name in ["tiny-bf16", "tiny-air-f32"] {
            let model = try Fixtures.model(name)
            XCTAssertTrue(model.hasMTP)
            let reference = try Fixtures.reference(name)
            let V = model.config.vocabSize, H = model.config.hiddenSize
            for sequence in ["s7", "s64"] {
                let ids = try reference.ints("\(sequence).input_ids")
                let main = try model.forwardWithHidden(ids, cache: model.makeCache(capacity: ids.count), logits: .all)
                XCTAssertLessThanOrEqual(maxAbsDifference(main.hidden, try reference.floats("\(sequence).hidden_postnorm")), 1e-4)
                let mtpIDs = try reference.ints("mtp.\(sequence).input_ids")
                for (variant, zero) in [("vllm", true), ("nomask", false)] {
                    let expected = try reference.floats("mtp.\(sequence).logits_\(variant)")
                    let whole = try model.mtpForward(mtpIDs, hidden: main.hidden, cache: model.makeMTPCache(capacity: ids.count),
                                                     zeroEmbeddingAtPositionZero: zero)
                    let diff = maxAbsDifference(whole.logits, expected)
                    XCTAssertLessThanOrEqual(diff, 1e-4, "\(name) \(sequence) \(variant): max |Δ| = \(diff)")
                    XCTAssertLessThanOrEqual(maxAbsDifference(whole.output, try reference.floats("mtp.\(sequence).hidden_\(variant)")), 1e-4)
                    guard sequence == "s7" else { continue }
                    // Row by row with the MTP cache gives the same rows.
                    let cache = model.makeMTPCache(capacity: ids.count)
                    for i in mtpIDs.indices {
                        let row = try model.mtpForward([mtpIDs[i]], hidden: Array(main.hidden[i * H ..< (i + 1) * H]),
                                                       cache: cache, zeroEmbeddingAtPositionZero: zero)
                        let rowDiff = maxAbsDifference(row.logits, Array(expected[i * V ..< (i + 1) * V]))
                        XCTAssertLessThanOrEqual(rowDiff, 1e-4, "\(name) \(variant) row \(i): max |Δ| = \(rowDiff)")
                    }
                }
            }
        }
    }

    func testMTPCallsAreChecked() throws {
        let model = try Fixtures.model("tiny-bf16")
        let H = model.config.hiddenSize
        XCTAssertThrowsError(try model.mtpForward([1], hidden: [Float](repeating: 0, count: H), cache: model.makeCache(capacity: 4)))
        XCTAssertThrowsError(try model.mtpForward([1], hidden: [0], cache: model.makeMTPCache(capacity: 4)))
        XCTAssertThrowsError(try model.forward([1], cache: model.makeMTPCache(capacity: 4)))
        let full = model.makeMTPCache(capacity: 1)
        _ = try model.mtpForward([1], hidden: [Float](repeating: 0.5, count: H), cache: full)
        XCTAssertThrowsError(try model.mtpForward([2], hidden: [Float](repeating: 0.5, count: H), cache: full))
    }
}
