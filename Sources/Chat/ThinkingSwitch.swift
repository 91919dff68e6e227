import JSON

/// The `enable_thinking` template variable as the request asks for it (protocol.md §3.2), in priority order:
/// 1. `chat_template_kwargs.enable_thinking` (or `chat_template_kwargs.thinking`), a boolean (vLLM / SGLang);
/// 2. `thinking.type`: `"enabled"` → true, `"disabled"` → false (Z.ai, Anthropic); `"auto"`/`"adaptive"` fall
///    through; a bare boolean `thinking` is taken as is;
/// 3. OpenRouter's `reasoning` object: `enabled` (boolean); else `effort` (`"none"` → false, any other → true);
///    else `max_tokens` (0 → false, more → true);
/// 4. top-level `reasoning_effort: "none"` → false (llama.cpp);
/// otherwise undefined (`nil`): the template then renders as for `true` and the model decides.
enum ThinkingSwitch {
    static func enableThinking(in request: JSONValue) throws -> Bool? {
        if let kwargs = request["chat_template_kwargs"], !kwargs.isNull {
            guard kwargs.object != nil else {
                throw ChatRequestError("'chat_template_kwargs' must be an object", param: "chat_template_kwargs")
            }
            for key in ["enable_thinking", "thinking"] {
                guard let value = kwargs[key], !value.isNull else { continue }
                guard let flag = value.bool else {
                    throw ChatRequestError("'\(key)' must be a boolean", param: "chat_template_kwargs.\(key)")
                }
                return flag
            }
        }
        if let thinking = request["thinking"], !thinking.isNull {
            if let flag = thinking.bool { return flag }
            guard thinking.object != nil else {
                throw ChatRequestError("'thinking' must be an object like {\"type\": \"enabled\"} or a boolean, "
                                       + "not \(thinking.kindName)", param: "thinking")
            }
            switch thinking["type"]?.string {
            case "enabled": return true
            case "disabled": return false
            case "auto", "adaptive": break  // the model decides
            default:
                throw ChatRequestError("'thinking.type' must be \"enabled\" or \"disabled\"", param: "thinking.type")
            }
        }
        if let reasoning = request["reasoning"]?.object {
            if let enabled = reasoning["enabled"]?.bool { return enabled }
            if let effort = reasoning["effort"]?.string { return effort != "none" }
            if let budget = reasoning["max_tokens"]?.int { return budget > 0 }
        }
        if request["reasoning_effort"]?.string == "none" { return false }
        return nil
    }

    /// OpenRouter's `reasoning.exclude`: generate reasoning but leave it out of the response.
    static func excludesReasoning(in request: JSONValue) -> Bool {
        request["reasoning"]?["exclude"]?.bool ?? false
    }
}
