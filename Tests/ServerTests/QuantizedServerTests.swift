import Foundation
import JSON
import XCTest
@testable import Server

/// `--quantize` through the server: `/v1/models` names the weight format, and a quantised model answers.
final class QuantizedServerTests: XCTestCase {
    func testQuantizedServerNamesItsFormatAndGenerates() throws {
        let h = try ServerHarness { $0.quantize = .q4; $0.parallel = 1 }
        defer { h.stop() }
        XCTAssertEqual(h.server.weightFormat, "q4 (GLMServe blocks v1)")
        let models = try h.get("/v1/models")
        XCTAssertEqual(models.json["data"]?[0]?["weight_format"], "q4 (GLMServe blocks v1)")
        let reply = try h.post("/v1/chat/completions", ["messages": [["role": "user", "content": "hi"]],
                                                        "max_tokens": 4, "temperature": 0])
        XCTAssertEqual(reply.status, 200)
        XCTAssertEqual(reply.json["usage"]?["completion_tokens"], 4)
    }

    func testUnquantizedServerNamesItsDType() throws {
        let h = try ServerHarness()
        defer { h.stop() }
        XCTAssertEqual(try h.get("/v1/models").json["data"]?[0]?["weight_format"], "BF16")
    }
}
