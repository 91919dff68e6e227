import Foundation
import JSON
import XCTest
@testable import Server

/// `glmserve serve --speculative mtp` end to end over HTTP: answers equal a plain server's, the draft counters
/// reach /metrics, and a model without an MTP layer is refused at start.
final class SpeculativeServerTests: XCTestCase {
    static let bundled = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Models/GLM-Tiny")

    private func answers(_ model: URL?, speculative: Bool, _ bodies: [JSONValue]) throws -> [JSONValue] {
        let h = try ServerHarness {
            if let model { $0.modelDirectory = model }
            $0.speculativeMTP = speculative
            $0.parallel = 1
        }
        defer { h.stop() }
        return try bodies.map { body in
            let (status, json) = try h.post("/v1/chat/completions", body)
            XCTAssertEqual(status, 200, "\(json)")
            return json["choices"]?[0] ?? .null
        }
    }

    private func assertSameAnswers(_ model: URL?, _ bodies: [JSONValue], file: StaticString = #filePath, line: UInt = #line) throws {
        let plain = try answers(model, speculative: false, bodies)
        let speculative = try answers(model, speculative: true, bodies)
        XCTAssertEqual(plain, speculative, file: file, line: line)
        XCTAssertTrue(plain.allSatisfy { $0["message"] != nil }, file: file, line: line)
    }

    func testGreedyAnswersEqualAPlainServerOnFixture() throws {
        try assertSameAnswers(nil, [
            chatBody("What is two plus two?", [("temperature", 0), ("max_tokens", 20)]),
            chatBody("Count for me", [("temperature", 0), ("max_tokens", 24), ("stop", ["e", "3"])]),
            chatBody("Tell me a story", [("temperature", 0), ("max_tokens", 5)]),
        ])
    }

    func testGreedyAnswersEqualAPlainServerOnBundledModel() throws {
        try assertSameAnswers(Self.bundled, [
            chatBody("Write a Python function that adds two numbers.", [("temperature", 0), ("max_tokens", 40)]),
            chatBody("Write a Python function that adds two numbers.", [("temperature", 0), ("max_tokens", 40), ("stop", ["return"])]),
        ])
    }

    func testDraftCountersReachMetricsAndTheSeedRepeats() throws {
        let h = try ServerHarness {
            $0.modelDirectory = Self.bundled
            $0.speculativeMTP = true
        }
        defer { h.stop() }
        let body = chatBody("Write a Python function that sorts a list.", [("seed", 3), ("temperature", 0.8), ("max_tokens", 24)])
        let first = try h.post("/v1/chat/completions", body).json["choices"]?[0]?["message"]
        let second = try h.post("/v1/chat/completions", body).json["choices"]?[0]?["message"]
        XCTAssertNotNil(first)
        XCTAssertEqual(first, second)
        let text = try h.client().request("GET", "/metrics").text
        func value(_ name: String) -> Int? {
            text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Int($0.split(separator: " ")[1]) }
        }
        let drafted = try XCTUnwrap(value("glmserve_draft_tokens_total"))
        let accepted = try XCTUnwrap(value("glmserve_draft_tokens_accepted_total"))
        XCTAssertGreaterThan(drafted, 0)
        XCTAssertGreaterThan(accepted, 0)
        XCTAssertLessThanOrEqual(accepted, drafted)
    }

    func testModelWithoutMTPLayerIsRefused() throws {
        // The fixture with num_nextn_predict_layers set to 0 (its other files linked).
        let source = ServerHarness.modelDirectory
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("no-mtp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: copy) }
        for name in try FileManager.default.contentsOfDirectory(atPath: source.path) where name != "config.json" {
            try FileManager.default.createSymbolicLink(at: copy.appendingPathComponent(name),
                                                       withDestinationURL: source.appendingPathComponent(name))
        }
        var config = try JSONValue.parse(String(contentsOf: source.appendingPathComponent("config.json"), encoding: .utf8))
        config["num_nextn_predict_layers"] = 0
        try config.serialized().write(to: copy.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)

        XCTAssertThrowsError(try ServerHarness {
            $0.modelDirectory = copy
            $0.speculativeMTP = true
        }) { error in
            XCTAssertTrue("\(error)".contains("--speculative mtp needs a model with an MTP layer"), "\(error)")
        }
        let plain = try ServerHarness { $0.modelDirectory = copy }
        plain.stop()
    }
}
