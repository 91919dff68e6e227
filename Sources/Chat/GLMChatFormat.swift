import JSON

/// A rendered GLM prompt and what the output parser needs to know about it.
public struct ChatPrompt: Sendable {
    /// The prompt text, starting with `[gMASK]<sop>`; special tokens appear as text.
    public let text: String
    /// False only when the request turned thinking off (then the prompt ends with `<think></think>`).
    public let thinkingEnabled: Bool
    /// The request's tools (an array) when they were rendered; `nil` when there are none or `tool_choice` is
    /// `"none"`. Give it to `GLMOutputParser` to type argument values.
    public let tools: JSONValue?
    /// `enable_thinking` as passed to the template (`nil` = undefined: the model decides).
    public let enableThinking: Bool?
    public let addGenerationPrompt: Bool
    /// OpenRouter's `reasoning.exclude`: reasoning is generated but should not be returned.
    public let excludeReasoning: Bool
    /// The messages after normalisation, as given to the template.
    public let messages: [JSONValue]

    /// Whether the generated text can open with `<think>`: thinking is not off and the prompt ends with the
    /// generation prompt (when continuing a final assistant message the output is content).
    public var outputMayStartWithReasoning: Bool { thinkingEnabled && addGenerationPrompt }
}

/// The GLM-4.5 / GLM-4.6 chat format, natively: OpenAI-style request body → prompt text.
public enum GLMChatFormat {
    /// Reads `messages`, `tools`, `tool_choice`, the thinking switches and `add_generation_prompt` (default true).
    /// Throws `ChatRequestError` for shapes that cannot be rendered.
    public static func render(request: JSONValue) throws -> ChatPrompt {
        guard request.object != nil else {
            throw ChatRequestError("the request body must be a JSON object, not \(request.kindName)", param: nil)
        }
        let messages = try ChatMessageNormalizer.normalize(request["messages"])
        var tools = try validatedTools(request["tools"])
        if request["tool_choice"]?.string == "none" { tools = [] }
        let enableThinking = try ThinkingSwitch.enableThinking(in: request)
        var addGenerationPrompt = true
        if let flag = request["add_generation_prompt"], !flag.isNull {
            guard let b = flag.bool else {
                throw ChatRequestError("'add_generation_prompt' must be a boolean", param: "add_generation_prompt")
            }
            addGenerationPrompt = b
        }
        let text = GLMTemplateRenderer.render(messages: messages, tools: tools, enableThinking: enableThinking,
                                              addGenerationPrompt: addGenerationPrompt)
        return ChatPrompt(
            text: text, thinkingEnabled: enableThinking != false, tools: tools.isEmpty ? nil : .array(tools),
            enableThinking: enableThinking, addGenerationPrompt: addGenerationPrompt,
            excludeReasoning: ThinkingSwitch.excludesReasoning(in: request),
            messages: messages.map { .object($0) })
    }

    /// Tools pass through exactly as sent; each must be `{"type": "function", "function": {"name": …, …}}`:
    /// an object whose `type` (if given) is `"function"`, with a `function` object holding a non-empty string
    /// `name` and, if given, an object `parameters` (the JSON schema the arguments are typed by).
    static func validatedTools(_ tools: JSONValue?) throws -> [JSONValue] {
        guard let tools, !tools.isNull else { return [] }
        guard let list = tools.array else {
            throw ChatRequestError("'tools' must be an array, not \(tools.kindName)", param: "tools")
        }
        for (i, tool) in list.enumerated() {
            let path = "tools[\(i)]"
            guard tool.object != nil else {
                throw ChatRequestError("a tool must be an object, not \(tool.kindName)", param: path)
            }
            if let type = tool["type"], type.string != "function" {
                throw ChatRequestError("a tool's 'type' must be \"function\" (the only kind of tool supported)",
                                       param: path + ".type")
            }
            guard let function = tool["function"], !function.isNull else {
                throw ChatRequestError("a tool needs a 'function' object", param: path + ".function")
            }
            guard function.object != nil else {
                throw ChatRequestError("'function' must be an object, not \(function.kindName)", param: path + ".function")
            }
            guard let name = function["name"]?.string, !name.isEmpty else {
                throw ChatRequestError("a tool function needs a non-empty string 'name'", param: path + ".function.name")
            }
            if let parameters = function["parameters"], !parameters.isNull, parameters.object == nil {
                throw ChatRequestError("'parameters' must be a JSON schema object, not \(parameters.kindName)",
                                       param: path + ".function.parameters")
            }
        }
        return list
    }
}
