import Foundation

/// Serves the requests of one connection, in order, on the calling thread.
final class ConnectionLoop {
    private let connection: ClientConnection
    private let configuration: HTTPServerConfiguration
    private let handler: HTTPHandler
    private let state: ServerState

    init(connection: ClientConnection, configuration: HTTPServerConfiguration, handler: HTTPHandler, state: ServerState) {
        self.connection = connection
        self.configuration = configuration
        self.handler = handler
        self.state = state
    }

    func run() {
        let reader = RequestReader(connection: connection, configuration: configuration)
        var first = true
        while true {
            let request: HTTPRequest
            let started = Date()
            do {
                request = try reader.next(firstOnConnection: first) {
                    connection.write("HTTP/1.1 100 Continue\r\n\r\n")
                }
            } catch let error as RequestReadError {
                if let status = error.status {
                    let response = configuration.errorResponse(status, error.message)
                    let sent = send(response, keepAlive: false, extraHeaders: [], method: "")
                    configuration.log("\(connection.remoteAddress) \"-\" \(status) \(sent) \(elapsed(since: started)) \(error.message)")
                    connection.lingeringClose()
                } else {
                    connection.closeSocket()
                }
                return
            } catch {
                connection.closeSocket()
                return
            }
            first = false
            let keepAlive = request.wantsKeepAlive && !state.isStopping
            let (status, bytes, connectionUsable) = serve(request, keepAlive: keepAlive)
            configuration.log("\(request.remoteAddress) \"\(request.method) \(request.target) \(request.version)\" \(status) \(bytes) \(elapsed(since: started))")
            if !keepAlive || !connectionUsable || state.isStopping {
                connection.closeSocket()
                return
            }
        }
    }

    /// Answers one request; returns (status, body bytes, whether the connection can serve another request).
    private func serve(_ request: HTTPRequest, keepAlive: Bool) -> (Int, Int, Bool) {
        let cors = configuration.enableCORS ? CORS.responseHeaders(for: request) : []
        if configuration.enableCORS && CORS.isPreflight(request) {
            let response = CORS.preflightResponse(for: request)
            return (204, send(response, keepAlive: keepAlive, extraHeaders: [], method: request.method), !connection.hasWriteFailed)
        }
        let context = RequestContext(connection: connection, server: state)
        switch handler.reply(to: request, context: context) {
        case let .response(response):
            let bytes = send(response, keepAlive: keepAlive, extraHeaders: cors, method: request.method)
            return (response.status, bytes, !connection.hasWriteFailed)
        case let .stream(status, headers, body):
            let chunked = request.version == "HTTP/1.1"
            var head = "HTTP/1.1 \(status) \(HTTPStatus.reason(status))\r\n"
            var allHeaders = headers
            if !allHeaders.contains("Content-Type") { allHeaders.add("Content-Type", "text/event-stream") }
            if !allHeaders.contains("Cache-Control") { allHeaders.add("Cache-Control", "no-cache") }
            allHeaders.add("X-Accel-Buffering", "no")
            for (name, value) in cors { allHeaders.add(name, value) }
            if chunked { allHeaders.add("Transfer-Encoding", "chunked") }
            allHeaders.add("Connection", keepAlive && chunked ? "keep-alive" : "close")
            for field in allHeaders { head += "\(field.name): \(field.value)\r\n" }
            head += "\r\n"
            guard connection.write(head) else { return (status, 0, false) }
            let stream = ResponseStream(connection: connection, server: state, chunked: chunked)
            body(stream)
            let finished = stream.finish()
            return (status, stream.totalBytes, finished && chunked && keepAlive)
        }
    }

    /// Writes a whole response; returns the body size.
    @discardableResult
    private func send(_ response: HTTPResponse, keepAlive: Bool, extraHeaders: [(String, String)], method: String) -> Int {
        var head = "HTTP/1.1 \(response.status) \(HTTPStatus.reason(response.status))\r\n"
        var headers = response.headers
        for (name, value) in extraHeaders { headers.add(name, value) }
        headers.set("Content-Length", String(response.body.count))
        headers.set("Connection", keepAlive ? "keep-alive" : "close")
        if !headers.contains("Server") { headers.add("Server", "glmserve") }
        for field in headers { head += "\(field.name): \(field.value)\r\n" }
        head += "\r\n"
        var bytes = Data(head.utf8)
        if method != "HEAD" { bytes.append(response.body) }
        connection.write(bytes)
        return response.body.count
    }

    private func elapsed(since start: Date) -> String {
        String(format: "%.1fms", Date().timeIntervalSince(start) * 1000)
    }
}
