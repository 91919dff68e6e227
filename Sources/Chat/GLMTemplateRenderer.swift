import JSON

/// The GLM-4.5 / GLM-4.6 chat template (`glm-4.6-chat-template.jinja`), written out in Swift with the whitespace
/// that transformers' Jinja settings (`trim_blocks`, `lstrip_blocks`, Python `json.dumps` for `tojson`) produce.
/// Input: messages already normalised by `ChatMessageNormalizer`.
enum GLMTemplateRenderer {
    static let toolsPreamble = """
        <|system|>
        # Tools

        You may call one or more functions to assist with the user query.

        You are provided with function signatures within <tools></tools> XML tags:
        <tools>

        """
    static let toolsPostamble = """
        </tools>

        For each function call, output the function name and arguments within the following XML format:
        <tool_call>{function-name}
        <arg_key>{arg-key-1}</arg_key>
        <arg_value>{arg-value-1}</arg_value>
        <arg_key>{arg-key-2}</arg_key>
        <arg_value>{arg-value-2}</arg_value>
        ...
        </tool_call>
        """

    static func render(messages: [JSONObject], tools: [JSONValue], enableThinking: Bool?,
                       addGenerationPrompt: Bool) -> String {
        var out = "[gMASK]<sop>"
        if !tools.isEmpty {
            out += toolsPreamble
            for tool in tools { out += tool.pythonDumps() + "\n" }
            out += toolsPostamble
        }
        let thinkingOff = enableThinking == false
        let lastUserIndex = messages.lastIndex { $0["role"]?.string == "user" } ?? -1

        for (index, m) in messages.enumerated() {
            switch m["role"]?.string {
            case "user":
                let text = visibleText(m["content"])
                out += "<|user|>\n" + text
                if thinkingOff && !PythonText.endsWith(text, "/nothink") { out += "/nothink" }
            case "assistant":
                out += renderAssistant(m, afterLastUser: index > lastUserIndex)
            case "tool":
                let previousIsTool = index > 0 && messages[index - 1]["role"]?.string == "tool"
                if !previousIsTool { out += "<|observation|>" }
                out += "\n<tool_response>\n" + (m["content"]?.string ?? "") + "\n</tool_response>"
            case "system":
                out += "<|system|>\n" + visibleText(m["content"])
            default:
                break  // the template drops other roles; the normaliser rejects them before
            }
        }
        if addGenerationPrompt {
            out += "<|assistant|>"
            if thinkingOff { out += "\n<think></think>" }
        }
        return out
    }

    /// `visible_text`: a string as is; for a list, the `text` of `{"type": "text"}` parts and bare strings,
    /// concatenated without a separator.
    static func visibleText(_ content: JSONValue?) -> String {
        switch content {
        case .string(let s)?: return s
        case .array(let parts)?:
            var text = ""
            for part in parts {
                if let s = part.string {
                    text += s
                } else if part["type"]?.string == "text", let s = part["text"]?.string {
                    text += s
                }
            }
            return text
        case nil, .null?: return ""
        case let other?: return other.pythonDumps()
        }
    }

    static let newline: Set<Unicode.Scalar> = ["\n"]

    static func renderAssistant(_ m: JSONObject, afterLastUser: Bool) -> String {
        var content = visibleText(m["content"])
        var reasoning = ""
        if let given = m["reasoning_content"]?.string {
            reasoning = given
        } else if PythonText.contains(content, "</think>") {
            let pieces = PythonText.split(content, "</think>")
            let beforeFirstClose = PythonText.rstrip(pieces[0], newline)
            reasoning = PythonText.lstrip(PythonText.split(beforeFirstClose, "<think>").last ?? "", newline)
            content = PythonText.lstrip(pieces.last ?? "", newline)
        }
        var out = "<|assistant|>"
        if afterLastUser && !reasoning.isEmpty {
            out += "\n<think>" + PythonText.strip(reasoning) + "</think>"
        } else {
            out += "\n<think></think>"
        }
        let stripped = PythonText.strip(content)
        if !stripped.isEmpty { out += "\n" + stripped }

        for call in m["tool_calls"]?.array ?? [] {
            let function = call["function"]?.object.flatMap { $0.isEmpty ? nil : $0 } ?? call.object ?? JSONObject()
            out += "\n<tool_call>" + (function["name"]?.string ?? "") + "\n"
            for (key, value) in function["arguments"]?.object ?? JSONObject() {
                out += "<arg_key>" + key + "</arg_key>\n<arg_value>"
                out += value.string ?? value.pythonDumps()
                out += "</arg_value>\n"
            }
            out += "</tool_call>"
        }
        return out
    }
}
