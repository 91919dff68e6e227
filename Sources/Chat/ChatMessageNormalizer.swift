import JSON

/// Server-side normalisation of OpenAI-style messages before the GLM template sees them (protocol.md §2.4):
///
/// 1. `developer` → `system` (and the legacy `function` role → `tool`: both carry a tool result);
/// 2. a `null` or missing `content` → `""`;
/// 3. tool `content` arrays → the `text` of their text parts joined with `"\n"`;
/// 4. assistant `reasoning` → `reasoning_content` (unless that is already given);
/// 5. assistant `tool_calls[].function.arguments`: a JSON string → the object it encodes (key order kept); `""`,
///    `null`, invalid JSON or a non-object → `{}`; an empty `tool_calls` list is dropped;
/// 6. every other top-level key whose value is `null` is dropped;
/// 7. user/system/assistant content arrays are kept (the template concatenates their text parts);
/// 8. Claude Code's per-request `x-anthropic-billing-header` line is removed from system text.
///
/// Shapes the template cannot render are rejected with a `ChatRequestError` naming the field.
enum ChatMessageNormalizer {
    static let roles: Set<String> = ["system", "user", "assistant", "tool"]

    static func normalize(_ messages: JSONValue?) throws -> [JSONObject] {
        guard let messages else { throw ChatRequestError("'messages' is required", param: "messages") }
        guard let list = messages.array else {
            throw ChatRequestError("'messages' must be an array, not \(messages.kindName)", param: "messages")
        }
        guard !list.isEmpty else { throw ChatRequestError("'messages' must not be empty", param: "messages") }
        return try list.enumerated().map { try normalize(message: $0.element, path: "messages[\($0.offset)]") }
    }

    static func normalize(message: JSONValue, path: String) throws -> JSONObject {
        guard let original = message.object else {
            throw ChatRequestError("a message must be an object, not \(message.kindName)", param: path)
        }
        var m = JSONObject()
        for (key, value) in original where !value.isNull { m[key] = value }

        guard let roleValue = m["role"] else { throw ChatRequestError("a message needs a 'role'", param: path + ".role") }
        guard var role = roleValue.string else {
            throw ChatRequestError("'role' must be a string, not \(roleValue.kindName)", param: path + ".role")
        }
        switch role {
        case "developer": role = "system"
        case "function": role = "tool"
        default: break
        }
        guard roles.contains(role) else {
            throw ChatRequestError("unknown role '\(role)' (expected system, developer, user, assistant or tool)",
                                   param: path + ".role")
        }
        m["role"] = .string(role)

        let content = m["content"] ?? .string("")
        try validateContent(content, path: path + ".content")
        if role == "tool", let parts = content.array {
            m["content"] = .string(joinedText(of: parts))
        } else if role == "system", let text = content.string {
            m["content"] = .string(removingBillingHeader(text))
        } else {
            m["content"] = content
        }

        if role == "assistant" {
            if let reasoning = m.removeValue(forKey: "reasoning"), m["reasoning_content"] == nil {
                m["reasoning_content"] = reasoning
            }
            if let reasoning = m["reasoning_content"], reasoning.string == nil {
                throw ChatRequestError("'reasoning_content' must be a string, not \(reasoning.kindName)",
                                       param: path + ".reasoning_content")
            }
            if let calls = m["tool_calls"] {
                guard let list = calls.array else {
                    throw ChatRequestError("'tool_calls' must be an array, not \(calls.kindName)",
                                           param: path + ".tool_calls")
                }
                if list.isEmpty {
                    m["tool_calls"] = nil
                } else {
                    m["tool_calls"] = .array(try list.enumerated().map {
                        try normalize(toolCall: $0.element, path: path + ".tool_calls[\($0.offset)]")
                    })
                }
            }
        }
        return m
    }

    /// Content may be a string or an array of parts (objects, or bare strings); text parts need a string `text`.
    static func validateContent(_ content: JSONValue, path: String) throws {
        switch content {
        case .string: return
        case .array(let parts):
            for (j, part) in parts.enumerated() {
                switch part {
                case .string: continue
                case .object(let o):
                    if o["type"]?.string == "text", o["text"]?.string == nil {
                        throw ChatRequestError("a text part needs a string 'text'", param: "\(path)[\(j)].text")
                    }
                default:
                    throw ChatRequestError("a content part must be an object or a string, not \(part.kindName)",
                                           param: "\(path)[\(j)]")
                }
            }
        default:
            throw ChatRequestError("'content' must be a string or an array of parts, not \(content.kindName)",
                                   param: path)
        }
    }

    /// Tool results given as parts: the text of the text parts (and bare strings), joined with newlines.
    static func joinedText(of parts: [JSONValue]) -> String {
        parts.compactMap { part -> String? in
            if let s = part.string { return s }
            if part["type"]?.string == "text" { return part["text"]?.string }
            return nil
        }.joined(separator: "\n")
    }

    static func normalize(toolCall: JSONValue, path: String) throws -> JSONValue {
        guard var call = toolCall.object else {
            throw ChatRequestError("a tool call must be an object, not \(toolCall.kindName)", param: path)
        }
        // The template reads `name` and `arguments` from `function` when present, else from the call itself.
        var target = call
        var targetPath = path
        if let function = call["function"], !function.isNull {
            guard let f = function.object else {
                throw ChatRequestError("'function' must be an object, not \(function.kindName)", param: path + ".function")
            }
            target = f
            targetPath = path + ".function"
        }
        guard let name = target["name"]?.string, !name.isEmpty else {
            throw ChatRequestError("a tool call needs a non-empty string 'name'", param: targetPath + ".name")
        }
        target["arguments"] = .object(argumentsObject(target["arguments"]))
        if targetPath == path { return .object(target) }
        call["function"] = .object(target)
        return .object(call)
    }

    /// Arguments as a mapping: an object stays; a JSON string encoding an object is decoded; anything else is `{}`.
    static func argumentsObject(_ arguments: JSONValue?) -> JSONObject {
        switch arguments {
        case .object(let o)?: return o
        case .string(let s)?: return (try? JSONValue.parse(s))?.object ?? JSONObject()
        default: return JSONObject()
        }
    }

    static let billingHeaderPrefix = "x-anthropic-billing-header"

    /// Drops lines starting with Claude Code's per-request attribution header (it would defeat prefix caching).
    static func removingBillingHeader(_ text: String) -> String {
        guard text.contains(billingHeaderPrefix) else { return text }
        let lines = PythonText.split(text, "\n")
        let kept = lines.filter { !$0.hasPrefix(billingHeaderPrefix) }
        return kept.joined(separator: "\n")
    }
}
