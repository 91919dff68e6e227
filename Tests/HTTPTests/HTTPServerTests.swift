import Foundation
import TestSupport
import XCTest
@testable import HTTP

/// A handler with a few fixed behaviours, driven by the tests over real sockets.
final class TestHandler: HTTPHandler, @unchecked Sendable {
    let proceed = DispatchSemaphore(value: 0)
    let sawCancellation = DispatchSemaphore(value: 0)

    func reply(to request: HTTPRequest, context: RequestContext) -> HTTPReply {
        switch request.path {
        case "/echo":
            var response = HTTPResponse.text(String(decoding: request.body, as: UTF8.self))
            response.headers.add("X-Method", request.method)
            response.headers.add("X-Body-Length", String(request.body.count))
            return .response(response)
        case "/hello":
            return .response(.text("hello"))
        case "/events":
            // Sends one event, waits for the test to confirm it arrived, then sends the next.
            return .stream(status: 200, headers: HTTPHeaders()) { stream in
                stream.sendEvent(data: "first")
                _ = self.proceed.wait(timeout: .now() + 20)
                stream.sendEvent(data: "second")
                stream.sendEvent(data: "[DONE]")
            }
        case "/until-cancelled":
            return .stream(status: 200, headers: HTTPHeaders()) { stream in
                stream.sendEvent(data: "started")
                while !stream.isCancelled { usleep(10_000) }
                self.sawCancellation.signal()
            }
        default:
            return .response(.text("not found", status: 404))
        }
    }
}

final class HTTPServerTests: XCTestCase {
    private var server: HTTPServer!
    private var handler: TestHandler!
    private var serverThread: Thread!
    private let stopped = DispatchSemaphore(value: 0)
    private let logLines = LogCollector()

    private func start(_ adjust: (inout HTTPServerConfiguration) -> Void = { _ in }) throws {
        var configuration = HTTPServerConfiguration()
        configuration.port = 0
        let collector = logLines
        configuration.log = { collector.append($0) }
        adjust(&configuration)
        handler = TestHandler()
        server = try HTTPServer(configuration: configuration, handler: handler)
        let server = self.server!, stopped = self.stopped
        serverThread = Thread { server.run(); stopped.signal() }
        serverThread.start()
    }

    override func tearDown() {
        if let server {
            server.shutdown()
            XCTAssertEqual(stopped.wait(timeout: .now() + 30), .success, "run() did not return after shutdown()")
        }
        server = nil
    }

    private func client() throws -> RawClient { try RawClient(port: server.port) }

    func testKeepAliveServesSeveralRequestsOnOneConnection() throws {
        try start()
        let c = try client()
        for i in 0..<3 {
            let response = try c.request("POST", "/echo", body: "hello \(i)")
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(response.text, "hello \(i)")
            XCTAssertEqual(response.headers["connection"], "keep-alive")
        }
        let last = try c.request("GET", "/echo", headers: ["Connection": "close"])
        XCTAssertEqual(last.headers["x-method"], "GET")
        XCTAssertTrue(c.isClosedByServer())
    }

    func testPipelinedRequestsAreAnsweredInOrder() throws {
        try start()
        let c = try client()
        c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nA" +
               "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nB")
        XCTAssertEqual(try c.readResponse().text, "A")
        XCTAssertEqual(try c.readResponse().text, "B")
    }

    func testChunkedRequestBodyIsReassembled() throws {
        try start()
        let c = try client()
        c.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        c.send("5\r\nhello\r\n")
        c.send("7;ext=1\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n")
        let response = try c.readResponse()
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.text, "hello, world")
    }

    func testExpectContinueGetsInterimResponse() throws {
        try start()
        let c = try client()
        c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        XCTAssertEqual(try c.readLine(), "HTTP/1.1 100 Continue")
        XCTAssertEqual(try c.readLine(), "")
        c.send("abc")
        XCTAssertEqual(try c.readResponse().text, "abc")
    }

    func testOversizedBodyIs413AndServerStaysUp() throws {
        try start { $0.maxBodyBytes = 1000 }
        let c = try client()
        c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + String(repeating: "x", count: 5000))
        let response = try c.readResponse()
        XCTAssertEqual(response.status, 413)
        XCTAssertTrue(response.text.contains("\"error\""))
        XCTAssertEqual(try client().request("POST", "/echo", body: "ok").text, "ok")
    }

    func testContentLengthBeyondIntIs413() throws {
        try start()
        let c = try client()
        c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000000000000000000\r\n\r\n")
        let response = try c.readResponse()
        XCTAssertEqual(response.status, 413)
        XCTAssertTrue(response.text.contains("too large"), response.text)
        let d = try client()
        d.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n")
        XCTAssertEqual(try d.readResponse().status, 413)
        let e = try client()
        e.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\n")
        XCTAssertEqual(try e.readResponse().status, 400)
    }

    func testOversizedChunkedBodyIs413() throws {
        try start { $0.maxBodyBytes = 1000 }
        let c = try client()
        c.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in 0..<3 { c.send("200\r\n" + String(repeating: "y", count: 512) + "\r\n") }
        XCTAssertEqual(try c.readResponse().status, 413)
    }

    func testOversizedHeadersAre431() throws {
        try start { $0.maxHeaderBytes = 2048 }
        let c = try client()
        c.send("GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "z", count: 4096))   // never ends
        XCTAssertEqual(try c.readResponse().status, 431)
    }

    func testHalfRequestTimesOutWith408() throws {
        try start { $0.requestTimeout = 0.3 }
        let c = try client()
        c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        let response = try c.readResponse()
        XCTAssertEqual(response.status, 408)
        XCTAssertTrue(c.isClosedByServer())
        XCTAssertEqual(try client().request("POST", "/echo", body: "fine").text, "fine")
    }

    func testSilentNewConnectionGets408() throws {
        try start { $0.idleTimeout = 0.3 }
        let c = try client()
        XCTAssertEqual(try c.readResponse().status, 408)
    }

    func testMalformedRequestLineIs400() throws {
        try start()
        let c = try client()
        c.send("this is not http\r\n\r\n")
        XCTAssertEqual(try c.readResponse().status, 400)
        let d = try client()
        d.send("GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -4\r\n\r\n")
        XCTAssertEqual(try d.readResponse().status, 400)
    }

    func testPreflightAndCORSHeaders() throws {
        try start()
        let c = try client()
        let preflight = try c.request("OPTIONS", "/v1/chat/completions", headers: [
            "Origin": "http://example.com", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        ])
        XCTAssertEqual(preflight.status, 204)
        XCTAssertEqual(preflight.headers["access-control-allow-origin"], "http://example.com")
        XCTAssertEqual(preflight.headers["access-control-allow-headers"], "authorization, content-type")
        XCTAssertTrue(preflight.headers["access-control-allow-methods"]?.contains("POST") ?? false)
        let normal = try c.request("GET", "/echo", headers: ["Origin": "http://example.com"])
        XCTAssertEqual(normal.headers["access-control-allow-origin"], "http://example.com")
    }

    func testEventsAreFlushedOneByOne() throws {
        try start()
        let c = try client()
        c.send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        let head = try c.readHead()
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.headers["content-type"], "text/event-stream")
        XCTAssertEqual(head.headers["transfer-encoding"], "chunked")
        // The first event must arrive while the handler is still blocked before the second.
        XCTAssertEqual(try c.readChunk().map { String(decoding: $0, as: UTF8.self) }, "data: first\n\n")
        handler.proceed.signal()
        XCTAssertEqual(try c.readChunk().map { String(decoding: $0, as: UTF8.self) }, "data: second\n\n")
        XCTAssertEqual(try c.readChunk().map { String(decoding: $0, as: UTF8.self) }, "data: [DONE]\n\n")
        XCTAssertNil(try c.readChunk())
        XCTAssertEqual(try c.request("POST", "/echo", body: "after").text, "after")   // still kept alive
    }

    func testHTTP10StreamIsUnchunkedAndClosed() throws {
        try start()
        let c = try client()
        c.send("GET /events HTTP/1.0\r\n\r\n")
        let head = try c.readHead()
        XCTAssertNil(head.headers["transfer-encoding"])
        XCTAssertEqual(head.headers["connection"], "close")
        XCTAssertEqual(try c.readLine(), "data: first")
        handler.proceed.signal()
        XCTAssertEqual(try c.readLine(), "")
        XCTAssertEqual(try c.readLine(), "data: second")
        XCTAssertTrue(c.isClosedByServer())
    }

    func testHeadHasNoBody() throws {
        try start()
        let c = try client()
        c.send("HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        let head = try c.readHead()
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.headers["content-length"], "5")
        // Had the body been sent, it would be read as the start of the next response.
        XCTAssertEqual(try c.request("POST", "/echo", body: "next").text, "next")
    }

    func testClientDisconnectCancelsStream() throws {
        try start()
        let c = try client()
        c.send("GET /until-cancelled HTTP/1.1\r\nHost: x\r\n\r\n")
        _ = try c.readHead()
        _ = try c.readChunk()
        c.close()
        XCTAssertEqual(handler.sawCancellation.wait(timeout: .now() + 20), .success)
    }

    func testShutdownCancelsStreamsAndRunReturns() throws {
        try start()
        let c = try client()
        c.send("GET /until-cancelled HTTP/1.1\r\nHost: x\r\n\r\n")
        _ = try c.readHead()
        _ = try c.readChunk()
        server.shutdown()
        XCTAssertEqual(handler.sawCancellation.wait(timeout: .now() + 20), .success)
        XCTAssertEqual(stopped.wait(timeout: .now() + 20), .success)
        server = nil
    }

    func testConnectionLimitAnswers503() throws {
        try start { $0.maxConnections = 1 }
        let first = try client()
        _ = try first.request("GET", "/echo")            // the slot is now held by a kept-alive connection
        let second = try client()
        XCTAssertEqual(try second.readResponse().status, 503)
    }

    func testAccessLogHasOneLinePerRequest() throws {
        try start()
        let c = try client()
        _ = try c.request("POST", "/echo", body: "x")
        _ = try c.request("GET", "/missing")
        c.close()
        var lines = logLines.lines
        for _ in 0..<1000 where lines.count < 2 { usleep(10_000); lines = logLines.lines }   // logged after sending
        XCTAssertTrue(lines.contains { $0.contains("\"POST /echo HTTP/1.1\" 200 1 ") }, "\(lines)")
        XCTAssertTrue(lines.contains { $0.contains("\"GET /missing HTTP/1.1\" 404") }, "\(lines)")
    }
}

final class LogCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    func append(_ line: String) { lock.lock(); stored.append(line); lock.unlock() }
    var lines: [String] { lock.lock(); defer { lock.unlock() }; return stored }
}
