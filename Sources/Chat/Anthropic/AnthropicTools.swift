import JSON

/// Anthropic tool definitions and `tool_choice` in OpenAI's form.
enum AnthropicTools {
    /// `{name, description, input_schema}` → `{"type": "function", "function": {name, description, parameters}}`.
    /// Anthropic's server tools (a `type` other than `custom`, e.g. `web_search_20250305`) cannot run here and are
    /// left out. A missing `input_schema` becomes an empty object schema.
    static func translate(_ tools: JSONValue?) throws -> [JSONValue] {
        guard let tools, !tools.isNull else { return [] }
        guard let list = tools.array else {
            throw AnthropicError.invalidRequest("tools: must be an array, not \(tools.kindName)")
        }
        var out: [JSONValue] = []
        for (i, tool) in list.enumerated() {
            guard tool.object != nil else {
                throw AnthropicError.invalidRequest("tools.\(i): must be an object, not \(tool.kindName)")
            }
            if let type = tool["type"], !type.isNull, type.string != "custom" { continue }
            guard let name = tool["name"]?.string, !name.isEmpty else {
                throw AnthropicError.invalidRequest("tools.\(i).name: must be a non-empty string")
            }
            var function = JSONObject()
            function["name"] = .string(name)
            if let description = tool["description"], !description.isNull {
                guard description.string != nil else {
                    throw AnthropicError.invalidRequest("tools.\(i).description: must be a string")
                }
                function["description"] = description
            }
            var schema: JSONValue = ["type": "object", "properties": [:]]
            if let given = tool["input_schema"], !given.isNull {
                guard given.object != nil else {
                    throw AnthropicError.invalidRequest("tools.\(i).input_schema: must be an object, not \(given.kindName)")
                }
                schema = given
            }
            function["parameters"] = schema
            out.append(["type": "function", "function": .object(function)])
        }
        return out
    }

    struct Choice {
        let choice: AnthropicRequest.ToolChoice
        let parallel: Bool

        /// `auto` → `"auto"`, `any` → `"required"`, `none` → `"none"`, `tool` → a named function.
        var openAI: JSONValue {
            switch choice {
            case .auto: return "auto"
            case .any: return "required"
            case .none: return "none"
            case .tool(let name): return ["type": "function", "function": ["name": .string(name)]]
            }
        }
    }

    static func choice(_ value: JSONValue?, toolNames: [String]) throws -> Choice? {
        guard let value, !value.isNull else { return nil }
        guard value.object != nil else {
            throw AnthropicError.invalidRequest("tool_choice: must be an object, not \(value.kindName)")
        }
        var parallel = true
        if let flag = value["disable_parallel_tool_use"], !flag.isNull {
            guard let b = flag.bool else {
                throw AnthropicError.invalidRequest("tool_choice.disable_parallel_tool_use: must be a boolean")
            }
            parallel = !b
        }
        let choice: AnthropicRequest.ToolChoice
        switch value["type"]?.string {
        case "auto": choice = .auto
        case "none": choice = .none
        case "any":
            guard !toolNames.isEmpty else {
                throw AnthropicError.invalidRequest("tool_choice: \"any\" needs at least one tool in 'tools'")
            }
            choice = .any
        case "tool":
            guard let name = value["name"]?.string else {
                throw AnthropicError.invalidRequest("tool_choice.name: Field required")
            }
            guard toolNames.contains(name) else {
                throw AnthropicError.invalidRequest("tool_choice.name: no tool named '\(name)' in 'tools'")
            }
            choice = .tool(name: name)
        default:
            throw AnthropicError.invalidRequest("tool_choice.type: must be \"auto\", \"any\", \"tool\" or \"none\"")
        }
        return Choice(choice: choice, parallel: parallel)
    }
}
