import Foundation

/// The body of a streamed reply. Each write is sent at once as one HTTP chunk (no buffering), so
/// server-sent events reach the client as they are produced.
public final class ResponseStream: @unchecked Sendable {
    private let connection: ClientConnection
    private let server: ServerState
    private let chunked: Bool
    private let lock = NSLock()
    private var bytesSent = 0

    init(connection: ClientConnection, server: ServerState, chunked: Bool) {
        self.connection = connection
        self.server = server
        self.chunked = chunked
    }

    /// True once the client has gone (a write failed, or it closed the connection) or the server is stopping.
    /// Producers poll this between pieces of work and stop early.
    public var isCancelled: Bool { server.isStopping || connection.isPeerGone() }

    /// Sends raw body bytes; false when the client is gone.
    @discardableResult
    public func write(_ text: String) -> Bool {
        let payload = Data(text.utf8)
        guard !payload.isEmpty else { return !connection.hasWriteFailed }
        lock.lock(); defer { lock.unlock() }
        bytesSent += payload.count
        if chunked {
            var frame = Data(String(payload.count, radix: 16).utf8)
            frame.append(contentsOf: [13, 10])
            frame.append(payload)
            frame.append(contentsOf: [13, 10])
            return connection.write(frame)
        }
        return connection.write(payload)
    }

    /// Sends one server-sent event `data: <line>\n\n` (multi-line data is split into several `data:` lines).
    @discardableResult
    public func sendEvent(data: String) -> Bool {
        let lines = data.split(separator: "\n", omittingEmptySubsequences: false)
        return write(lines.map { "data: \($0)\n" }.joined() + "\n")
    }

    /// Sends an SSE comment (`: text`), ignored by clients; useful as a keep-alive during long work.
    @discardableResult
    public func sendComment(_ text: String) -> Bool { write(": \(text)\n\n") }

    var totalBytes: Int {
        lock.lock(); defer { lock.unlock() }
        return bytesSent
    }

    /// Ends a chunked body; false when the client is gone.
    func finish() -> Bool {
        lock.lock(); defer { lock.unlock() }
        if chunked { return connection.write("0\r\n\r\n") }
        return !connection.hasWriteFailed
    }
}
