import JSON

/// An error in the Anthropic Messages API's shape (protocol.md §10.4): the body is
/// `{"type": "error", "error": {"type": "invalid_request_error", "message": "…"}}`, sent with `httpStatus`.
public struct AnthropicError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Anthropic's error type: `invalid_request_error`, `authentication_error`, `not_found_error`, `api_error`,
    /// `overloaded_error`, …
    public let type: String
    public let message: String

    public init(type: String, message: String) {
        self.type = type
        self.message = message
    }

    /// A request the server cannot accept (HTTP 400).
    public static func invalidRequest(_ message: String) -> AnthropicError {
        AnthropicError(type: "invalid_request_error", message: message)
    }

    /// A `ChatRequestError` from rendering the translated request, in Anthropic's shape.
    public init(_ error: ChatRequestError) {
        self = .invalidRequest(error.description)
    }

    /// The HTTP status Anthropic uses for the error type (500 for unknown types).
    public var httpStatus: Int {
        switch type {
        case "invalid_request_error": return 400
        case "authentication_error": return 401
        case "billing_error": return 402
        case "permission_error": return 403
        case "not_found_error": return 404
        case "request_too_large": return 413
        case "rate_limit_error": return 429
        case "timeout_error": return 504
        case "overloaded_error": return 529
        default: return 500
        }
    }

    /// The response body (also the `data` of a streamed `error` event).
    public var body: JSONValue {
        ["type": "error", "error": ["type": .string(type), "message": .string(message)]]
    }

    public var description: String { "\(type): \(message)" }
}
