import Foundation

/// Why a request could not be read; each maps to an answer (or to silently closing).
enum RequestReadError: Error {
    /// The connection closed or idled out before a request began: close without answering.
    case connectionClosed
    /// A request began but did not complete in time: 408.
    case timedOut
    /// Headers too large: 431.
    case headersTooLarge
    /// Body too large: 413.
    case bodyTooLarge
    /// Malformed request: 400 with this message.
    case malformed(String)
    /// The server is shutting down.
    case shuttingDown

    var status: Int? {
        switch self {
        case .connectionClosed, .shuttingDown: return nil
        case .timedOut: return 408
        case .headersTooLarge: return 431
        case .bodyTooLarge: return 413
        case .malformed: return 400
        }
    }

    var message: String {
        switch self {
        case .connectionClosed: return "connection closed"
        case .shuttingDown: return "server is shutting down"
        case .timedOut: return "request not received in time"
        case .headersTooLarge: return "request headers too large"
        case .bodyTooLarge: return "request body too large"
        case let .malformed(text): return text
        }
    }
}

/// Reads HTTP/1.x requests off one connection, keeping bytes that belong to the next (pipelined) request.
final class RequestReader {
    private let connection: ClientConnection
    private let configuration: HTTPServerConfiguration
    private var buffer: [UInt8] = []
    private var scratch = [UInt8](repeating: 0, count: 64 * 1024)
    private var deadline = Date()

    init(connection: ClientConnection, configuration: HTTPServerConfiguration) {
        self.connection = connection
        self.configuration = configuration
    }

    /// Reads the next request; `sendContinue` is called before the body is read when the client expects
    /// `100 Continue`.
    func next(firstOnConnection: Bool, sendContinue: () -> Void) throws -> HTTPRequest {
        // Wait for the first byte (idle time), unless it is already buffered.
        if buffer.isEmpty {
            let idleDeadline = Date().addingTimeInterval(configuration.idleTimeout)
            switch fill(until: idleDeadline, interruptible: true) {
            case .data: break
            case .timedOut: throw firstOnConnection ? RequestReadError.timedOut : RequestReadError.connectionClosed
            case .closed: throw RequestReadError.connectionClosed
            case .interrupted: throw RequestReadError.shuttingDown
            }
        }
        deadline = Date().addingTimeInterval(configuration.requestTimeout)

        let headEnd = try readHead()
        let head = Array(buffer[..<headEnd])
        buffer.removeFirst(headEnd + 4)
        var request = try parseHead(head)

        let expectsContinue = request.headers["Expect"]?.lowercased() == "100-continue"
        let transferEncoding = request.headers.values(for: "Transfer-Encoding")
            .flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        if !transferEncoding.isEmpty {
            guard transferEncoding.last == "chunked", transferEncoding.allSatisfy({ $0 == "chunked" || $0 == "identity" })
            else { throw RequestReadError.malformed("unsupported Transfer-Encoding") }
            if request.headers.contains("Content-Length") {
                throw RequestReadError.malformed("both Content-Length and Transfer-Encoding given")
            }
            if expectsContinue { sendContinue() }
            request.body = try readChunkedBody()
        } else if let lengths = Optional(request.headers.values(for: "Content-Length")), !lengths.isEmpty {
            let distinct = Set(lengths.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) })
            guard distinct.count == 1, let text = distinct.first, !text.isEmpty, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 })
            else { throw RequestReadError.malformed("invalid Content-Length") }
            // All digits: a number beyond Int (e.g. 10^23) is simply a body too large.
            guard let length = Int(text), length <= configuration.maxBodyBytes else {
                throw RequestReadError.bodyTooLarge
            }
            if length > 0 && expectsContinue { sendContinue() }
            request.body = try readExactly(length)
        }
        return request
    }

    /// Offset of the `\r\n\r\n` ending the head, reading more as needed.
    private func readHead() throws -> Int {
        var searchFrom = 0
        while true {
            if let end = findTerminator(from: searchFrom) {
                if end > configuration.maxHeaderBytes { throw RequestReadError.headersTooLarge }
                return end
            }
            if buffer.count > configuration.maxHeaderBytes { throw RequestReadError.headersTooLarge }
            searchFrom = max(0, buffer.count - 3)
            try fillOrThrow()
        }
    }

    private func findTerminator(from start: Int) -> Int? {
        guard buffer.count >= 4 else { return nil }
        var i = start
        while i + 3 < buffer.count {
            if buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 { return i }
            i += 1
        }
        return nil
    }

    private func parseHead(_ head: [UInt8]) throws -> HTTPRequest {
        guard let text = String(bytes: head, encoding: .utf8) ?? String(bytes: head, encoding: .isoLatin1) else {
            throw RequestReadError.malformed("request head is not text")
        }
        var lines = text.components(separatedBy: "\r\n")
        // Tolerate empty lines before the request line (RFC 9112 §2.2).
        while let first = lines.first, first.isEmpty { lines.removeFirst() }
        guard let requestLine = lines.first else { throw RequestReadError.malformed("empty request") }
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty,
              parts[0].allSatisfy({ $0.isLetter && $0.isUppercase }) else {
            throw RequestReadError.malformed("malformed request line")
        }
        let version = String(parts[2])
        guard version == "HTTP/1.1" || version == "HTTP/1.0" else {
            throw RequestReadError.malformed("unsupported HTTP version \(version)")
        }
        var headers = HTTPHeaders()
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { throw RequestReadError.malformed("malformed header line") }
            let name = String(line[..<colon])
            guard !name.isEmpty, !name.contains(" "), !name.contains("\t") else {
                throw RequestReadError.malformed("malformed header name")
            }
            let value = line[line.index(after: colon)...].trimmingCharacters(in: CharacterSet(charactersIn: " \t"))
            headers.add(name, value)
        }
        if version == "HTTP/1.1" && !headers.contains("Host") {
            throw RequestReadError.malformed("missing Host header")
        }
        return HTTPRequest(method: String(parts[0]), target: String(parts[1]), version: version, headers: headers,
                           remoteAddress: connection.remoteAddress)
    }

    private func readExactly(_ count: Int) throws -> Data {
        while buffer.count < count { try fillOrThrow() }
        let body = Data(buffer[..<count])
        buffer.removeFirst(count)
        return body
    }

    /// One CRLF-terminated line (without the CRLF), bounded in length.
    private func readLine(limit: Int) throws -> String {
        var searchFrom = 0
        while true {
            var i = searchFrom
            while i + 1 < buffer.count {
                if buffer[i] == 13 && buffer[i + 1] == 10 {
                    let line = String(decoding: buffer[..<i], as: UTF8.self)
                    buffer.removeFirst(i + 2)
                    return line
                }
                i += 1
            }
            if buffer.count > limit { throw RequestReadError.malformed("chunk line too long") }
            searchFrom = max(0, buffer.count - 1)
            try fillOrThrow()
        }
    }

    private func readChunkedBody() throws -> Data {
        var body = Data()
        while true {
            let line = try readLine(limit: 4096)
            let sizeText = line.split(separator: ";", maxSplits: 1).first.map {
                $0.trimmingCharacters(in: .whitespaces)
            } ?? ""
            let isHexDigit = { (b: UInt8) in (48...57).contains(b) || (65...70).contains(b) || (97...102).contains(b) }
            guard !sizeText.isEmpty, sizeText.utf8.allSatisfy(isHexDigit) else {
                throw RequestReadError.malformed("invalid chunk size")
            }
            // All hex digits: a size beyond Int is simply a body too large.
            guard sizeText.count <= 15, let size = Int(sizeText, radix: 16) else { throw RequestReadError.bodyTooLarge }
            if size == 0 { break }
            if body.count + size > configuration.maxBodyBytes { throw RequestReadError.bodyTooLarge }
            body.append(try readExactly(size))
            guard try readLine(limit: 2).isEmpty else { throw RequestReadError.malformed("chunk not followed by CRLF") }
        }
        // Trailer fields, up to the empty line.
        var trailerBytes = 0
        while true {
            let line = try readLine(limit: configuration.maxHeaderBytes)
            if line.isEmpty { break }
            trailerBytes += line.utf8.count
            if trailerBytes > configuration.maxHeaderBytes { throw RequestReadError.headersTooLarge }
        }
        return body
    }

    private func fillOrThrow() throws {
        switch fill(until: deadline, interruptible: false) {
        case .data: return
        case .timedOut: throw RequestReadError.timedOut
        case .closed: throw RequestReadError.connectionClosed
        case .interrupted: throw RequestReadError.shuttingDown
        }
    }

    private func fill(until deadline: Date, interruptible: Bool) -> ReadOutcome {
        let outcome = scratch.withUnsafeMutableBytes {
            guard let base = $0.baseAddress else { return ReadOutcome.closed }
            return connection.read(into: base, count: $0.count, deadline: deadline, interruptible: interruptible)
        }
        if case let .data(n) = outcome { buffer.append(contentsOf: scratch[..<n]) }
        return outcome
    }
}
