import Chat
import Foundation
import HTTP
import JSON

/// llama.cpp's debugging endpoints: `/tokenize`, `/detokenize`, `/apply-template`.
struct TokenEndpoints {
    let model: ServedModel

    /// `{"content": str, "parse_special"?: bool = true, "with_pieces"?: bool}` → `{"tokens": [id] | [{id, piece}]}`.
    func tokenize(_ body: JSONValue) throws -> HTTPResponse {
        let fields = try FieldReader(body)
        guard let content = try fields.string("content") else {
            throw APIError.badRequest("'content' is required", param: "content", code: "missing_required_parameter")
        }
        _ = try fields.bool("add_special")       // GLM adds no BOS/EOS; accepted for compatibility
        let parseSpecial = try fields.bool("parse_special") ?? true
        let withPieces = try fields.bool("with_pieces") ?? false
        let ids = model.tokenizer.encode(content, addedTokens: parseSpecial ? .all : .none)
        let tokens: [JSONValue] = ids.map { id in
            guard withPieces else { return JSONValue(id) }
            return ["id": JSONValue(id), "piece": .string(model.tokenizer.decode([id]))]
        }
        return .json(JSONValue.object(["tokens": .array(tokens)]).serialized())
    }

    /// `{"tokens": [id]}` → `{"content": str}`.
    func detokenize(_ body: JSONValue) throws -> HTTPResponse {
        let fields = try FieldReader(body)
        let list = try fields.array("tokens") ?? []
        let ids = try list.map { value -> Int in
            guard let id = value.int, id >= 0, id < model.tokenizer.vocabularySize else {
                throw APIError.invalidField("tokens", "an array of token ids (0..<\(model.tokenizer.vocabularySize))")
            }
            return id
        }
        return .json(JSONValue.object(["content": .string(model.tokenizer.decode(ids))]).serialized())
    }

    /// A chat request body → `{"prompt": str}` (the exact text the model would see).
    func applyTemplate(_ body: JSONValue) throws -> HTTPResponse {
        let prompt = try renderPrompt(body)
        return .json(JSONValue.object(["prompt": .string(prompt.text)]).serialized())
    }
}

/// Renders a chat request with the GLM template, mapping template errors to 400s.
func renderPrompt(_ body: JSONValue) throws -> ChatPrompt {
    guard body.object != nil else { throw APIError.badRequest("The request body must be a JSON object.") }
    do {
        return try GLMChatFormat.render(request: body)
    } catch let error as ChatRequestError {
        throw APIError.badRequest(error.message, param: error.param, code: "invalid_value")
    }
}
