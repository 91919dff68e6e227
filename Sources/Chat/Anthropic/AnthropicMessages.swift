import JSON

/// Anthropic `system` and `messages` → OpenAI-style messages for the GLM template (protocol.md §10.6):
///
/// - `system` (a string or text blocks) → one `system` message, the blocks' text joined with `"\n"`; Claude Code's
///   per-request `x-anthropic-billing-header` lines are removed (a block holding only that line disappears).
/// - user text blocks → one `user` message, their text joined with `"\n"`; each `tool_result` block → a `tool`
///   message (`tool_call_id` = `tool_use_id`, content = its text, text blocks joined with `"\n"`), in block order,
///   so the template matches results to calls by order. An image inside a tool result becomes the text
///   `[image omitted]`; an image in a user message is rejected (the model reads text only).
/// - assistant blocks: text → `content` (joined with `"\n"`), `thinking` → `reasoning_content`,
///   `redacted_thinking` is dropped, `tool_use` → `tool_calls` (`arguments` = the `input` object).
/// - `cache_control` and other block keys are ignored; unknown block types are rejected.
enum AnthropicMessages {
    static let imagePlaceholder = "[image omitted]"

    static func translate(system: JSONValue?, messages: JSONValue?) throws -> [JSONValue] {
        var out: [JSONValue] = []
        if let text = try systemText(system) { out.append(["role": "system", "content": .string(text)]) }
        guard let messages, !messages.isNull else { throw AnthropicError.invalidRequest("messages: Field required") }
        guard let list = messages.array else {
            throw AnthropicError.invalidRequest("messages: must be an array, not \(messages.kindName)")
        }
        guard !list.isEmpty else { throw AnthropicError.invalidRequest("messages: must not be empty") }
        for (i, message) in list.enumerated() {
            let path = "messages.\(i)"
            guard message.object != nil else {
                throw AnthropicError.invalidRequest("\(path): must be an object, not \(message.kindName)")
            }
            let content = try blocks(message["content"], path: path + ".content")
            switch message["role"]?.string {
            case "user": out += try userMessages(content, path: path)
            case "assistant": out.append(try assistantMessage(content, path: path))
            default: throw AnthropicError.invalidRequest("\(path).role: must be \"user\" or \"assistant\"")
            }
        }
        return out
    }

    static func systemText(_ system: JSONValue?) throws -> String? {
        guard let system, !system.isNull else { return nil }
        let pieces: [String]
        if let s = system.string {
            pieces = [s]
        } else if let list = system.array {
            pieces = try list.enumerated().map { i, block in try text(of: block, path: "system.\(i)") }
        } else {
            throw AnthropicError.invalidRequest("system: must be a string or an array of text blocks")
        }
        let kept = pieces.map(ChatMessageNormalizer.removingBillingHeader).filter { !$0.isEmpty }
        return kept.isEmpty ? nil : kept.joined(separator: "\n")
    }

    /// Content as blocks: a string is one text block.
    static func blocks(_ content: JSONValue?, path: String) throws -> [JSONValue] {
        guard let content, !content.isNull else { throw AnthropicError.invalidRequest("\(path): Field required") }
        if let s = content.string { return [["type": "text", "text": .string(s)]] }
        guard let list = content.array else {
            throw AnthropicError.invalidRequest("\(path): must be a string or an array of content blocks")
        }
        for (j, block) in list.enumerated() where block["type"]?.string == nil {
            throw AnthropicError.invalidRequest("\(path).\(j): must be a content block object with a string 'type'")
        }
        return list
    }

    static func text(of block: JSONValue, path: String) throws -> String {
        guard block["type"]?.string == "text" else {
            throw AnthropicError.invalidRequest("\(path): must be a text block")
        }
        guard let text = block["text"]?.string else { throw AnthropicError.invalidRequest("\(path).text: must be a string") }
        return text
    }

    static func userMessages(_ blocks: [JSONValue], path: String) throws -> [JSONValue] {
        var out: [JSONValue] = []
        var texts: [String] = []
        var hasText = false
        func flush() {
            if hasText { out.append(["role": "user", "content": .string(texts.joined(separator: "\n"))]) }
            texts = []
            hasText = false
        }
        for (j, block) in blocks.enumerated() {
            let blockPath = "\(path).content.\(j)"
            switch block["type"]?.string {
            case "text":
                texts.append(try text(of: block, path: blockPath))
                hasText = true
            case "tool_result":
                flush()
                guard let id = block["tool_use_id"]?.string else {
                    throw AnthropicError.invalidRequest("\(blockPath).tool_use_id: must be a string")
                }
                let content = try toolResultText(block["content"], path: blockPath + ".content")
                out.append(["role": "tool", "tool_call_id": .string(id), "content": .string(content)])
            case "image", "document":
                throw AnthropicError.invalidRequest("\(blockPath): \(block["type"]?.string ?? "") input is not supported (the model reads text only)")
            case let type:
                throw AnthropicError.invalidRequest("\(blockPath): unsupported content block type '\(type ?? "")' in a user message")
            }
        }
        flush()
        if out.isEmpty { out.append(["role": "user", "content": ""]) }
        return out
    }

    static func toolResultText(_ content: JSONValue?, path: String) throws -> String {
        guard let content, !content.isNull else { return "" }
        if let s = content.string { return s }
        guard let list = content.array else {
            throw AnthropicError.invalidRequest("\(path): must be a string or an array of content blocks")
        }
        return try list.enumerated().map { j, block -> String in
            switch block["type"]?.string {
            case "text": return try text(of: block, path: "\(path).\(j)")
            case "image", "document": return imagePlaceholder
            default: throw AnthropicError.invalidRequest("\(path).\(j): unsupported block in a tool result")
            }
        }.joined(separator: "\n")
    }

    static func assistantMessage(_ blocks: [JSONValue], path: String) throws -> JSONValue {
        var texts: [String] = []
        var reasoning: [String] = []
        var calls: [JSONValue] = []
        for (j, block) in blocks.enumerated() {
            let blockPath = "\(path).content.\(j)"
            switch block["type"]?.string {
            case "text":
                texts.append(try text(of: block, path: blockPath))
            case "thinking":
                guard let thought = block["thinking"]?.string else {
                    throw AnthropicError.invalidRequest("\(blockPath).thinking: must be a string")
                }
                reasoning.append(thought)
            case "redacted_thinking":
                continue
            case "tool_use":
                guard let id = block["id"]?.string else {
                    throw AnthropicError.invalidRequest("\(blockPath).id: must be a string")
                }
                guard let name = block["name"]?.string, !name.isEmpty else {
                    throw AnthropicError.invalidRequest("\(blockPath).name: must be a non-empty string")
                }
                let input = block["input"] ?? .object(JSONObject())
                guard input.object != nil || input.isNull else {
                    throw AnthropicError.invalidRequest("\(blockPath).input: must be an object, not \(input.kindName)")
                }
                calls.append(["id": .string(id), "type": "function",
                              "function": ["name": .string(name), "arguments": input.isNull ? [:] : input]])
            case let type:
                throw AnthropicError.invalidRequest("\(blockPath): unsupported content block type '\(type ?? "")' in an assistant message")
            }
        }
        var message: JSONObject = ["role": "assistant", "content": .string(texts.joined(separator: "\n"))]
        if !reasoning.isEmpty { message["reasoning_content"] = .string(reasoning.joined(separator: "\n")) }
        if !calls.isEmpty { message["tool_calls"] = .array(calls) }
        return .object(message)
    }
}
