import Foundation

/// Limits, timeouts and policies of an `HTTPServer`.
public struct HTTPServerConfiguration: Sendable {
    /// Address to bind (`127.0.0.1`, `0.0.0.0`, `::1`, `localhost`).
    public var host: String = "127.0.0.1"
    /// Port to bind; 0 picks a free one (see `HTTPServer.port`).
    public var port: Int = 8080
    /// Largest request line + headers, in bytes (431 beyond).
    public var maxHeaderBytes: Int = 64 * 1024
    /// Largest request body, in bytes (413 beyond).
    public var maxBodyBytes: Int = 8 * 1024 * 1024
    /// Time allowed to receive a whole request once its first byte arrived (408 beyond).
    public var requestTimeout: TimeInterval = 30
    /// Time a connection may sit without starting a request (a new connection gets 408, a kept-alive one is closed).
    public var idleTimeout: TimeInterval = 30
    /// Time a blocked write may take before the client counts as gone.
    public var writeTimeout: TimeInterval = 30
    /// Connections served at once; more are answered 503 and closed.
    public var maxConnections: Int = 128
    /// How long `run()` waits for in-flight exchanges after shutdown begins.
    public var shutdownGracePeriod: TimeInterval = 10
    /// Answer CORS preflights and add `Access-Control-Allow-Origin` to responses.
    public var enableCORS: Bool = true
    /// Where access-log and server lines go.
    public var log: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
    /// Builds the body of errors raised by the HTTP layer itself (413, 431, 408, 400, 503).
    public var errorResponse: @Sendable (_ status: Int, _ message: String) -> HTTPResponse = {
        HTTPServerConfiguration.openAIError(status: $0, message: $1)
    }

    public init() {}

    /// `{"error": {"message", "type", "param", "code"}}`, the OpenAI error shape.
    public static func openAIError(status: Int, message: String) -> HTTPResponse {
        let type = status >= 500 ? "server_error" : "invalid_request_error"
        let text = "{\"error\":{\"message\":\(jsonQuoted(message)),\"type\":\"\(type)\",\"param\":null,\"code\":\(status)}}"
        return .json(text, status: status)
    }
}

/// A JSON string literal for `text` (the HTTP module does not depend on the JSON module).
func jsonQuoted(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 {
                out += String(format: "\\u%04x", scalar.value)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}
