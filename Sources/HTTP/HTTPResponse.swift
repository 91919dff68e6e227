import Foundation

/// A complete response with a body of known length.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: Data

    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: Data = Data()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A response with a JSON text body.
    public static func json(_ text: String, status: Int = 200) -> HTTPResponse {
        var headers = HTTPHeaders()
        headers.add("Content-Type", "application/json")
        return HTTPResponse(status: status, headers: headers, body: Data(text.utf8))
    }

    /// A response with a plain text body.
    public static func text(_ text: String, status: Int = 200) -> HTTPResponse {
        var headers = HTTPHeaders()
        headers.add("Content-Type", "text/plain; charset=utf-8")
        return HTTPResponse(status: status, headers: headers, body: Data(text.utf8))
    }
}

/// What a handler answers: a whole response, or a stream written while the connection stays open
/// (sent with chunked transfer encoding; `Content-Type` defaults to `text/event-stream`).
public enum HTTPReply: Sendable {
    case response(HTTPResponse)
    case stream(status: Int, headers: HTTPHeaders, body: @Sendable (ResponseStream) -> Void)
}

/// Handles one request. Called on the connection's own thread; may block.
public protocol HTTPHandler: Sendable {
    func reply(to request: HTTPRequest, context: RequestContext) -> HTTPReply
}

/// What a handler can learn about the connection while it works.
public final class RequestContext: @unchecked Sendable {
    private let connection: ClientConnection
    private let server: ServerState

    init(connection: ClientConnection, server: ServerState) {
        self.connection = connection
        self.server = server
    }

    /// True once the client has gone away or the server is shutting down; long work should stop.
    public var isCancelled: Bool { server.isStopping || connection.isPeerGone() }
}

public enum HTTPStatus {
    /// The standard reason phrase for a status code.
    public static func reason(_ code: Int) -> String {
        switch code {
        case 100: return "Continue"
        case 200: return "OK"
        case 204: return "No Content"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 411: return "Length Required"
        case 413: return "Content Too Large"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 503: return "Service Unavailable"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(code)"
        }
    }
}
