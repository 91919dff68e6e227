import Foundation
import JSON
import TestSupport
import XCTest
@testable import Server

/// A `GLMServer` on the tiny fixture model, on a free loopback port, run on its own thread.
final class ServerHarness {
    let server: GLMServer
    private let stopped = DispatchSemaphore(value: 0)

    static let modelDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models/tiny-chat-bf16")

    init(_ configure: (inout ServerOptions) -> Void = { _ in }) throws {
        var options = ServerOptions(modelDirectory: ServerHarness.modelDirectory)
        options.http.port = 0
        options.http.log = { _ in }
        options.threads = 1
        options.contextSize = 2048
        options.parallel = 3
        configure(&options)
        server = try GLMServer(options: options)
        let server = self.server, stopped = self.stopped
        Thread { server.run(); stopped.signal() }.start()
    }

    func stop() {
        server.shutdown()
        _ = stopped.wait(timeout: .now() + 30)
    }

    var port: Int { server.port }
    var model: ServedModel { server.model }

    func client() throws -> RawClient { try RawClient(port: port) }

    /// Sends `body` as JSON and parses the JSON answer.
    func post(_ path: String, _ body: JSONValue, headers: [String: String] = [:]) throws -> (status: Int, json: JSONValue) {
        try post(path, raw: body.serialized(), headers: headers)
    }

    func post(_ path: String, raw: String, headers: [String: String] = [:]) throws -> (status: Int, json: JSONValue) {
        let response = try client().request("POST", path, body: raw,
                                            headers: headers.merging(["Content-Type": "application/json"]) { a, _ in a })
        return (response.status, try JSONValue.parse(response.body))
    }

    func get(_ path: String, headers: [String: String] = [:]) throws -> (status: Int, json: JSONValue) {
        let response = try client().request("GET", path, headers: headers)
        return (response.status, try JSONValue.parse(response.body))
    }

    /// Streams a chat request and returns the `data:` payloads in order (including `[DONE]`).
    func stream(_ body: JSONValue) throws -> [String] {
        let c = try client()
        let text = body.serialized()
        c.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               + "Content-Length: \(text.utf8.count)\r\n\r\n" + text)
        let head = try c.readHead()
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.headers["content-type"], "text/event-stream")
        var payload = Data()
        while let chunk = try c.readChunk() { payload.append(chunk) }
        return String(decoding: payload, as: UTF8.self)
            .components(separatedBy: "\n\n")
            .filter { $0.hasPrefix("data: ") }
            .map { String($0.dropFirst(6)) }
    }
}

/// A user message request body.
func chatBody(_ text: String = "Hello there", _ extra: [(String, JSONValue)] = []) -> JSONValue {
    var body: JSONValue = ["messages": [["role": "user", "content": .string(text)]]]
    for (key, value) in extra { body[key] = value }
    return body
}
