import Foundation
import HTTP
import JSON

/// An error answered in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
public struct APIError: Error, Equatable, CustomStringConvertible {
    public var status: Int
    public var message: String
    public var type: String
    public var param: String?
    public var code: String?
    /// For 405: the method to use (sent as `Allow`).
    public var allow: String?

    public init(status: Int, message: String, type: String? = nil, param: String? = nil, code: String? = nil) {
        self.status = status
        self.message = message
        self.type = type ?? APIError.defaultType(for: status)
        self.param = param
        self.code = code
    }

    public var description: String { message }

    public static func badRequest(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: 400, message: message, param: param, code: code)
    }

    /// A field with the wrong type or an out-of-range value.
    public static func invalidField(_ field: String, _ expectation: String) -> APIError {
        APIError(status: 400, message: "'\(field)' must be \(expectation)", param: field, code: "invalid_value")
    }

    public static let unauthorized = APIError(
        status: 401, message: "Invalid or missing API key. Send it as 'Authorization: Bearer <key>'.",
        type: "authentication_error", code: "invalid_api_key")

    public static func notFound(_ message: String, code: String? = nil, param: String? = nil) -> APIError {
        APIError(status: 404, message: message, param: param, code: code)
    }

    static func defaultType(for status: Int) -> String {
        switch status {
        case 401: return "authentication_error"
        case 404: return "not_found_error"
        case 503: return "service_unavailable"
        case 500...: return "server_error"
        default: return "invalid_request_error"
        }
    }

    public var json: JSONValue {
        ["error": [
            "message": .string(message),
            "type": .string(type),
            "param": param.map(JSONValue.string) ?? .null,
            "code": code.map(JSONValue.string) ?? .null,
        ]]
    }

    public var response: HTTPResponse {
        var response = HTTPResponse.json(json.serialized(), status: status)
        if status == 503 { response.headers.add("Retry-After", "1") }
        if status == 401 { response.headers.add("WWW-Authenticate", "Bearer") }
        if let allow { response.headers.add("Allow", allow) }
        return response
    }
}
