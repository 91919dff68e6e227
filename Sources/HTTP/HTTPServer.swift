import Foundation
#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An HTTP/1.1 server on POSIX sockets: one thread per connection, keep-alive, size limits, timeouts,
/// streamed replies, CORS, an access log line per request and graceful shutdown.
///
///     let server = try HTTPServer(configuration: config, handler: MyHandler())   // binds now
///     print(server.port)
///     server.run()                                                             // until shutdown()
public final class HTTPServer: @unchecked Sendable {
    public let configuration: HTTPServerConfiguration
    private let handler: HTTPHandler
    private let listener: ListeningSocket
    private let state: ServerState
    private var signalSources: [DispatchSourceSignal] = []

    /// Binds and listens at once (so the port is known before `run`).
    public init(configuration: HTTPServerConfiguration, handler: HTTPHandler) throws {
        self.configuration = configuration
        self.handler = handler
        self.listener = try ListeningSocket(host: configuration.host, port: configuration.port)
        self.state = try ServerState()
        signal(SIGPIPE, SIG_IGN)
    }

    /// The bound port (the one picked when the configuration asked for 0).
    public var port: Int { listener.port }

    /// `host:port` as bound.
    public var address: String { listener.displayAddress }

    /// Accepts and serves connections until `shutdown()`; then waits (up to the grace period) for
    /// in-flight exchanges, which see `isCancelled` become true.
    public func run() {
        while !state.isStopping {
            guard let (fd, remote) = listener.accept(wakeFD: state.wakeReadFD) else { continue }
            let connection = ClientConnection(fd: fd, remoteAddress: remote, wakeFD: state.wakeReadFD,
                                              writeTimeout: configuration.writeTimeout)
            guard state.openConnection(limit: configuration.maxConnections) else {
                let response = configuration.errorResponse(503, "too many connections")
                var text = "HTTP/1.1 503 \(HTTPStatus.reason(503))\r\nContent-Type: application/json\r\n"
                text += "Content-Length: \(response.body.count)\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"
                connection.write(text)
                connection.write(response.body)
                configuration.log("\(remote) \"-\" 503 \(response.body.count) too many connections")
                connection.closeSocket()
                continue
            }
            let loop = ConnectionLoop(connection: connection, configuration: configuration, handler: handler, state: state)
            let state = self.state
            let thread = Thread {
                loop.run()
                state.closeConnection()
            }
            thread.stackSize = 4 << 20
            thread.start()
        }
        let deadline = Date().addingTimeInterval(configuration.shutdownGracePeriod)
        if !state.waitForConnectionsToClose(deadline: deadline) {
            configuration.log("shutdown: \(state.openConnections) connection(s) still open after the grace period")
        }
    }

    /// Stops accepting, wakes idle connections and cancels streams. Safe to call from any thread, repeatedly.
    public func shutdown() {
        state.beginStopping()
    }

    /// Whether `shutdown()` was called.
    public var isStopping: Bool { state.isStopping }

    /// Calls `shutdown()` on SIGINT or SIGTERM (the default signal actions are replaced).
    public func shutDownOnSignals() {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [weak self] in
                self?.configuration.log("received signal \(signalNumber), shutting down")
                self?.shutdown()
            }
            source.resume()
            signalSources.append(source)
        }
    }
}
