import Foundation
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Shared by HTTPTests and ServerTests.
/// A minimal blocking HTTP client on a raw socket, so tests control every byte sent.
public final class RawClient {
    public let fd: Int32
    private var buffer: [UInt8] = []

    public struct Response {
        public var status: Int
        public var headers: [String: String]   // lower-cased names
        public var body: Data
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    public enum ClientError: Error { case connect, closed, timedOut, malformed(String) }

    public init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if result != 0 { Glibc.close(fd); throw ClientError.connect }
    }

    deinit { Glibc.close(fd) }

    public func close() { shutdown(fd, Int32(SHUT_RDWR)) }

    @discardableResult
    public func send(_ text: String) -> Bool { send(Data(text.utf8)) }

    @discardableResult
    public func send(_ data: Data) -> Bool {
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
    }

    /// Reads more bytes (waiting up to `timeout`); false on close.
    private func fill(timeout: TimeInterval) throws -> Bool {
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
        let ready = poll(&fds, 1, Int32(timeout * 1000))
        if ready == 0 { throw ClientError.timedOut }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &chunk, chunk.count, 0)
        if n <= 0 { return false }
        buffer.append(contentsOf: chunk[..<n])
        return true
    }

    public func readLine(timeout: TimeInterval = 20) throws -> String {
        while true {
            if let i = buffer.firstIndex(of: 10) {
                var line = Array(buffer[..<i])
                buffer.removeFirst(i + 1)
                if line.last == 13 { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            guard try fill(timeout: timeout) else { throw ClientError.closed }
        }
    }

    public func readBytes(_ count: Int, timeout: TimeInterval = 20) throws -> [UInt8] {
        while buffer.count < count {
            guard try fill(timeout: timeout) else { throw ClientError.closed }
        }
        let out = Array(buffer[..<count])
        buffer.removeFirst(count)
        return out
    }

    /// True if the server closed the connection (reads EOF) within `timeout`.
    public func isClosedByServer(timeout: TimeInterval = 20) -> Bool {
        do {
            while true { if try !fill(timeout: timeout) { return true } }
        } catch { return false }
    }

    public func readHead(timeout: TimeInterval = 20) throws -> (status: Int, headers: [String: String]) {
        var statusLine = try readLine(timeout: timeout)
        while statusLine.hasPrefix("HTTP/1.1 100") {      // skip interim responses
            _ = try readLine(timeout: timeout)
            statusLine = try readLine(timeout: timeout)
        }
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw ClientError.malformed(statusLine) }
        var headers: [String: String] = [:]
        while true {
            let line = try readLine(timeout: timeout)
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { throw ClientError.malformed(line) }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return (status, headers)
    }

    /// Reads one chunk of a chunked body; nil at the last (empty) chunk.
    public func readChunk(timeout: TimeInterval = 20) throws -> Data? {
        let sizeLine = try readLine(timeout: timeout)
        guard let size = Int(sizeLine, radix: 16) else { throw ClientError.malformed(sizeLine) }
        if size == 0 {
            _ = try readLine(timeout: timeout)
            return nil
        }
        let bytes = try readBytes(size, timeout: timeout)
        _ = try readLine(timeout: timeout)
        return Data(bytes)
    }

    public func readResponse(timeout: TimeInterval = 20) throws -> Response {
        let (status, headers) = try readHead(timeout: timeout)
        var body = Data()
        if headers["transfer-encoding"] == "chunked" {
            while let chunk = try readChunk(timeout: timeout) { body.append(chunk) }
        } else if let length = headers["content-length"].flatMap(Int.init) {
            body = Data(try readBytes(length, timeout: timeout))
        } else {
            do {
                while try fill(timeout: timeout) {}
            } catch ClientError.timedOut {}
            body = Data(buffer)
            buffer.removeAll()
        }
        return Response(status: status, headers: headers, body: body)
    }

    /// Sends a request with a body and reads the answer.
    public func request(_ method: String, _ path: String, body: String? = nil, headers: [String: String] = [:]) throws -> Response {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if let body { text += "Content-Length: \(body.utf8.count)\r\n" }
        text += "\r\n"
        if let body { text += body }
        send(text)
        return try readResponse()
    }
}
