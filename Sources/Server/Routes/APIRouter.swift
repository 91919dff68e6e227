import Chat
import Foundation
import HTTP
import JSON

/// The OpenAI-compatible API: routing, API-key check, and the small endpoints. Chat completions live in
/// `ChatCompletionsEndpoint`, the debugging endpoints in `TokenEndpoints`.
public final class APIRouter: HTTPHandler, @unchecked Sendable {
    let model: ServedModel
    let apiKey: String?
    private let chat: ChatCompletionsEndpoint
    private let tokens: TokenEndpoints
    private let anthropic: AnthropicMessagesEndpoint
    private let completions: TextCompletionsEndpoint

    /// Routes answered without an API key.
    static let publicPaths: Set<String> = ["/health", "/v1/health"]

    public init(model: ServedModel, apiKey: String?) {
        self.model = model
        self.apiKey = (apiKey?.isEmpty ?? true) ? nil : apiKey
        self.chat = ChatCompletionsEndpoint(model: model)
        self.tokens = TokenEndpoints(model: model)
        self.anthropic = AnthropicMessagesEndpoint(model: model)
        self.completions = TextCompletionsEndpoint(model: model)
    }

    public func reply(to request: HTTPRequest, context: RequestContext) -> HTTPReply {
        let anthropicShape = request.path.hasPrefix("/v1/messages")
        do {
            return try route(request, context: context)
        } catch let error as APIError {
            return .response(anthropicShape ? AnthropicError(error).response : error.response)
        } catch let error as AnthropicError {
            return .response(error.response)
        } catch {
            let failure = APIError(status: 500, message: "internal error: \(error)")
            return .response(anthropicShape ? AnthropicError(failure).response : failure.response)
        }
    }

    private func route(_ request: HTTPRequest, context: RequestContext) throws -> HTTPReply {
        let path = request.path.count > 1 && request.path.hasSuffix("/") ? String(request.path.dropLast()) : request.path
        let method = request.method == "HEAD" ? "GET" : request.method
        if !APIRouter.publicPaths.contains(path) { try authorize(request) }

        switch path {
        case "/health", "/v1/health":
            try allow(method, "GET")
            return .response(.json(#"{"status":"ok"}"#))
        case "/v1/models", "/models":
            try allow(method, "GET")
            return .response(.json(JSONValue.object(["object": "list", "data": [modelObject()]]).serialized()))
        case "/v1/chat/completions", "/chat/completions":
            try allow(method, "POST")
            return try chat.reply(to: request, context: context)
        case "/v1/completions", "/completions":
            try allow(method, "POST")
            return try completions.reply(to: request, context: context)
        case "/metrics":
            try allow(method, "GET")
            var response = HTTPResponse.text(model.scheduler.metrics.prometheusText)
            response.headers.set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            return .response(response)
        case "/v1/messages":
            try allow(method, "POST")
            return try anthropic.messages(request, context: context)
        case "/v1/messages/count_tokens":
            try allow(method, "POST")
            return .response(try anthropic.countTokens(request))
        case "/tokenize":
            try allow(method, "POST")
            return .response(try tokens.tokenize(try parseBody(request)))
        case "/detokenize":
            try allow(method, "POST")
            return .response(try tokens.detokenize(try parseBody(request)))
        case "/apply-template":
            try allow(method, "POST")
            return .response(try tokens.applyTemplate(try parseBody(request)))
        default:
            if path.hasPrefix("/v1/models/") {
                try allow(method, "GET")
                let id = String(path.dropFirst("/v1/models/".count)).removingPercentEncoding ?? ""
                guard id == model.id else { throw APIError.notFound("The model '\(id)' does not exist.", code: "model_not_found") }
                return .response(.json(modelObject().serialized()))
            }
            throw APIError.notFound("Unknown route: \(request.method) \(request.path)", code: "unknown_route")
        }
    }

    private func allow(_ method: String, _ expected: String) throws {
        guard method == expected else {
            var error = APIError(status: 405, message: "Method \(method) is not allowed here; use \(expected).",
                                 code: "method_not_allowed")
            error.allow = expected
            throw error
        }
    }

    /// `Authorization: Bearer <key>` or `x-api-key: <key>`, compared in constant time.
    private func authorize(_ request: HTTPRequest) throws {
        guard let apiKey else { return }
        var presented: String?
        if let authorization = request.headers["Authorization"] {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            if parts.count == 2 && parts[0].lowercased() == "bearer" {
                presented = parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        if presented == nil { presented = request.headers["x-api-key"] }
        guard let presented, APIRouter.constantTimeEqual(presented, apiKey) else { throw APIError.unauthorized }
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) {
            difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return difference == 0
    }

    private func modelObject() -> JSONValue {
        var object: JSONValue = ["id": .string(model.id), "object": "model", "created": JSONValue(model.created),
                                 "owned_by": "glmserve", "max_model_len": JSONValue(model.contextSize)]
        if let format = model.weightFormat { object["weight_format"] = .string(format) }
        return object
    }
}

/// The body as JSON, or a 400 saying where it is broken.
func parseBody(_ request: HTTPRequest) throws -> JSONValue {
    guard !request.body.isEmpty else {
        throw APIError.badRequest("The request body is empty; send a JSON object.", code: "invalid_json")
    }
    do {
        return try JSONValue.parse(request.body)
    } catch {
        throw APIError.badRequest("The request body is not valid JSON: \(error)", code: "invalid_json")
    }
}
