import JSON

/// Types a tool call's raw `<arg_value>` text with the request's tool JSON schema (protocol.md §7.3):
/// a parameter whose schema says `string` (also through `anyOf`/`oneOf`/`allOf`, type arrays such as
/// `["string", "null"]`, or an all-string `enum`) keeps the raw text, untrimmed; any other parameter, or an unknown
/// tool or key, is JSON-decoded after trimming whitespace, with Python's `True`/`False`/`None` accepted, and falls
/// back to the raw text when that fails.
struct ToolArgumentTyping {
    /// Parameter schemas by tool name, then parameter name.
    private var properties: [String: JSONObject] = [:]
    /// Names of the tools the request declared (empty when it declared none).
    let toolNames: Set<String>

    init(tools: JSONValue?) {
        var names = Set<String>()
        for tool in tools?.array ?? [] {
            let function = tool["function"] ?? tool
            guard let name = function["name"]?.string else { continue }
            names.insert(name)
            if let props = function["parameters"]?["properties"]?.object { properties[name] = props }
        }
        toolNames = names
    }

    /// True when the tool's schema says the parameter is a string (its raw text is then the value, untouched).
    func isStringParameter(tool: String, key: String) -> Bool {
        guard let schema = properties[tool]?[key] else { return false }
        return Self.isStringTyped(schema)
    }

    func value(tool: String, key: String, raw: String) -> JSONValue {
        if isStringParameter(tool: tool, key: key) { return .string(raw) }
        let trimmed = PythonText.strip(raw)
        if let decoded = try? JSONValue.parse(trimmed) { return decoded }
        switch trimmed {
        case "True": return .bool(true)
        case "False": return .bool(false)
        case "None": return .null
        default: return .string(raw)
        }
    }

    /// True when every non-null type the schema allows is `string`.
    static func isStringTyped(_ schema: JSONValue) -> Bool {
        let types = allowedTypes(schema).subtracting(["null"])
        return types == ["string"]
    }

    static func allowedTypes(_ schema: JSONValue, depth: Int = 0) -> Set<String> {
        guard depth < 16, schema.object != nil else { return [] }
        var types = Set<String>()
        switch schema["type"] {
        case .string(let t)?: types.insert(t)
        case .array(let list)?: for t in list { if let s = t.string { types.insert(s) } }
        default: break
        }
        if types.isEmpty, let values = schema["enum"]?.array, !values.isEmpty {
            for v in values {
                switch v {
                case .string: types.insert("string")
                case .null: types.insert("null")
                default: types.insert("other")
                }
            }
        }
        for combinator in ["anyOf", "oneOf", "allOf"] {
            for sub in schema[combinator]?.array ?? [] { types.formUnion(allowedTypes(sub, depth: depth + 1)) }
        }
        return types
    }
}
