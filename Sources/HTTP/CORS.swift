import Foundation

/// Cross-origin resource sharing: any origin may call the API (it is protected by the API key, not by cookies).
enum CORS {
    static let allowedMethods = "GET, POST, OPTIONS"
    static let defaultAllowedHeaders = "Authorization, Content-Type, X-API-Key, OpenAI-Organization, OpenAI-Project"

    /// Headers added to every response of a request that carries `Origin`.
    static func responseHeaders(for request: HTTPRequest) -> [(String, String)] {
        guard let origin = request.headers["Origin"] else { return [] }
        return [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
    }

    /// Whether `request` is a preflight (`OPTIONS` with `Access-Control-Request-Method`).
    static func isPreflight(_ request: HTTPRequest) -> Bool {
        request.method == "OPTIONS"
    }

    /// The 204 answer to a preflight.
    static func preflightResponse(for request: HTTPRequest) -> HTTPResponse {
        var headers = HTTPHeaders()
        headers.add("Access-Control-Allow-Origin", request.headers["Origin"] ?? "*")
        headers.add("Access-Control-Allow-Methods", allowedMethods)
        headers.add("Access-Control-Allow-Headers",
                    request.headers["Access-Control-Request-Headers"] ?? defaultAllowedHeaders)
        headers.add("Access-Control-Max-Age", "86400")
        headers.add("Allow", allowedMethods)
        headers.add("Vary", "Origin")
        return HTTPResponse(status: 204, headers: headers)
    }
}
