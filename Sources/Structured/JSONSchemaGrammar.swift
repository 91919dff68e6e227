import JSON

/// Compiles JSON schemas into `Grammar`s that accept exactly the JSON texts the generator may write.
///
/// Supported keywords: `type` (a name or a list), `properties`, `required`, `additionalProperties` (false,
/// true or a schema), `items` (a schema, or false after `prefixItems`), `prefixItems`, `enum`, `const`,
/// `anyOf`, `oneOf`, `$ref` to `#`, `#/$defs/…` or `#/definitions/…` (recursion included), `minItems`,
/// `maxItems`, `minLength`, `maxLength`, `pattern` (see `RegexParser` for the subset), `format` (`date-time`,
/// `date`, `time`, `uuid`, `email`); annotations (`title`, `description`, `default`, `examples`, …) are allowed
/// and ignored. Every other keyword is a `SchemaError` naming it and its path.
///
/// What is generated, so that every output validates:
/// - object members come in the order of `properties`: required ones always, optional ones may be left out;
///   members beyond `properties` only when `additionalProperties` allows them (a schema or `true`; an object
///   schema without `properties` allows any member), with keys other than the declared ones, written without
///   escapes;
/// - `enum` and `const` values are written in compact JSON (`{"a":1}`), filtered by `type` when both are given;
/// - `oneOf` is generated as `anyOf`: branches that overlap are not told apart;
/// - whitespace between tokens is one space, or a line break (`\n` or `\r\n`) followed by at most
///   `maximumIndentation` spaces or tabs — room for pretty-printed output, but no padding for a model to fill
///   (a small model otherwise writes runs of spaces until `max_tokens`).
public enum JSONSchemaGrammar {
    public static let maximumIndentation = 12

    /// A grammar for JSON texts valid under `schema`.
    public static func compile(schema: JSONValue) throws -> Grammar {
        var compiler = SchemaCompiler(root: schema)
        return try compiler.compile()
    }

    /// A tool to call in GLM's format (see `toolCall(tools:)`).
    public struct Tool {
        public var name: String
        /// The `parameters` schema (nil: no parameters declared).
        public var parameters: JSONValue?
        /// Whether the arguments must follow `parameters`; otherwise any keys and values are allowed.
        public var constrained: Bool

        public init(name: String, parameters: JSONValue?, constrained: Bool) {
            self.name = name
            self.parameters = parameters
            self.constrained = constrained
        }
    }

    /// The bytes that stand for GLM's tool-call special tokens in a tool-call grammar: 0xFF (never part of
    /// UTF-8 text) and a code. A token trie for this grammar maps those token ids to these bytes.
    public enum ToolCallMarker: UInt8, CaseIterable {
        case argKeyOpen = 1, argKeyClose, argValueOpen, argValueClose, callClose

        public var bytes: [UInt8] { [0xFF, rawValue] }
        /// The special token's text.
        public var token: String {
            switch self {
            case .argKeyOpen: return "<arg_key>"
            case .argKeyClose: return "</arg_key>"
            case .argValueOpen: return "<arg_value>"
            case .argValueClose: return "</arg_value>"
            case .callClose: return "</tool_call>"
            }
        }
    }

    /// A grammar for the inside of one GLM tool call, from after `<tool_call>` through `</tool_call>`:
    /// `NAME\n`, then per argument `<arg_key>KEY</arg_key>\n<arg_value>VALUE</arg_value>\n` (the newlines
    /// optional). For a constrained tool the keys are those of `properties` in their order (required ones
    /// always, no others) and each value follows its schema: a string parameter as raw text (its enum values,
    /// pattern or length bounds applied to the text), any other as JSON. `ToolCallMarker` bytes stand for the
    /// special tokens. Errors name the path within the tool's parameters.
    public static func toolCall(tools: [Tool]) throws -> Grammar {
        var compiler = SchemaCompiler(root: .null)
        return try compiler.compileToolCall(tools)
    }

    /// A grammar for any JSON object (`response_format: {"type": "json_object"}`).
    public static func anyObject() -> Grammar {
        // Cannot fail: no keyword to refuse.
        (try? compile(schema: ["type": "object"]))!
    }
}

private struct SchemaCompiler {
    var root: JSONValue
    /// Distinguishes equal subschemas of different roots (tools), whose `$ref`s mean different things.
    var keyPrefix = ""
    var builder = FragmentBuilder()
    var rules: [Fragment] = []
    var rulesByPath: [String: Int] = [:]
    var whitespaceRule = -1
    var anyValueRule = -1
    /// Nesting of `value` calls (each subschema compiles inside its parent's call).
    var depth = 0
    static let maximumDepth = 64

    static let annotations: Set<String> = [
        "title", "description", "$schema", "$id", "$comment", "examples", "default", "deprecated", "readOnly",
        "writeOnly", "$defs", "definitions",
    ]
    static let constraints: Set<String> = [
        "type", "properties", "required", "additionalProperties", "items", "prefixItems", "enum", "const", "anyOf",
        "oneOf", "$ref", "minItems", "maxItems", "minLength", "maxLength", "pattern", "format",
    ]
    static let maximumBound = 4096

    init(root: JSONValue) { self.root = root }

    mutating func compile() throws -> Grammar {
        try compileCommonRules()
        let rootRule = newRule()
        let value = try valueRule(root, path: "#")
        rules[rootRule] = builder.sequence([builder.call(whitespaceRule), builder.call(value),
                                            builder.call(whitespaceRule)])
        return try Grammar(nfa: builder.nfa, rules: rules, root: rootRule)
    }

    /// The whitespace and any-value rules every grammar uses.
    private mutating func compileCommonRules() throws {
        whitespaceRule = newRule()
        let indentation = builder.repeating(0, JSONSchemaGrammar.maximumIndentation) { $0.bytes([0x20...0x20, 0x09...0x09]) }
        let lineBreak = builder.sequence([builder.optional(builder.byte(0x0D)), builder.byte(0x0A), indentation])
        rules[whitespaceRule] = builder.optional(builder.choice([builder.byte(0x20), lineBreak]))
        anyValueRule = newRule()
        rules[anyValueRule] = try anyValue()
    }

    mutating func compileToolCall(_ tools: [JSONSchemaGrammar.Tool]) throws -> Grammar {
        try compileCommonRules()
        let root = newRule()
        var options: [Fragment] = []
        let newline = { (c: inout SchemaCompiler) in c.builder.optional(c.builder.byte(0x0A)) }
        func marker(_ m: JSONSchemaGrammar.ToolCallMarker, _ c: inout SchemaCompiler) -> Fragment { c.builder.literal(m.bytes) }
        for (index, tool) in tools.enumerated() {
            keyPrefix = "tool\(index):"
            self.root = tool.parameters ?? ["type": "object"]
            var parts = [builder.literal(tool.name), newline(&self)]
            if tool.constrained, let parameters = tool.parameters, parameters.object?["properties"] != nil || parameters.object?["required"] != nil {
                guard let object = parameters.object else { throw error("", "#", "parameters must be an object schema") }
                if let type = object["type"], type != "object" { throw error("type", "#", "tool parameters must be of type object") }
                for key in object.keys where !SchemaCompiler.annotations.contains(key)
                    && !["type", "properties", "required", "additionalProperties"].contains(key) {
                    throw error(key, "#", "this keyword is not supported for tool parameters")
                }
                if let additional = object["additionalProperties"], additional != .bool(false) {
                    throw error("additionalProperties", "#", "strict tool parameters allow no additional properties")
                }
                let required = Set((object["required"]?.array ?? []).compactMap(\.string))
                let properties = object["properties"]?.object ?? JSONObject()
                for key in required where properties[key] == nil {
                    throw error("required", "#", "'\(key)' is required but not in 'properties'")
                }
                for (key, schema) in properties {
                    let pair = builder.sequence([
                        marker(.argKeyOpen, &self), builder.literal(key), marker(.argKeyClose, &self), newline(&self),
                        marker(.argValueOpen, &self), try argumentValue(schema, path: child("#", "properties", key)),
                        marker(.argValueClose, &self), newline(&self),
                    ])
                    parts.append(required.contains(key) ? pair : builder.optional(pair))
                }
            } else if tool.constrained {
                // Declared without parameters: a call without arguments.
            } else {
                let text = { (c: inout SchemaCompiler) in c.builder.star(c.builder.rawTextCharacter()) }
                parts.append(builder.star(builder.sequence([
                    marker(.argKeyOpen, &self), text(&self), marker(.argKeyClose, &self), newline(&self),
                    marker(.argValueOpen, &self), text(&self), marker(.argValueClose, &self), newline(&self),
                ])))
            }
            parts.append(marker(.callClose, &self))
            options.append(builder.sequence(parts))
        }
        rules[root] = builder.choice(options)
        return try Grammar(nfa: builder.nfa, rules: rules, root: root)
    }

    /// A tool argument's value between `<arg_value>` and `</arg_value>`: raw text for a string parameter (as
    /// GLM writes them and the output parser reads them), JSON otherwise.
    private mutating func argumentValue(_ schema: JSONValue, path: String) throws -> Fragment {
        guard let object = schema.object, SchemaCompiler.isStringParameter(object) else {
            return builder.call(try valueRule(schema, path: path))
        }
        for key in object.keys where !SchemaCompiler.annotations.contains(key)
            && !["type", "enum", "const", "minLength", "maxLength", "pattern", "format"].contains(key) {
            throw error(key, path, "this keyword is not supported for a string parameter")
        }
        if let values = object["enum"]?.array ?? object["const"].map({ [$0] }) {
            let strings = values.compactMap(\.string)
            guard !strings.isEmpty else { throw error("enum", path, "no string value") }
            return builder.choice(strings.map { builder.literal($0) })
        }
        let minimum = try bound(object, "minLength", path: path)
        let maximum = try bound(object, "maxLength", path: path)
        var pattern = object["pattern"]?.string
        if let format = object["format"] {
            guard let name = format.string, let regex = SchemaCompiler.formats[name] else {
                throw error("format", path, "supported formats are date-time, date, time, uuid and email")
            }
            pattern = regex
        }
        if let pattern {
            if minimum != nil || maximum != nil {
                throw error(minimum != nil ? "minLength" : "maxLength", path, "length bounds together with a pattern are not supported")
            }
            var parser = RegexParser(pattern, path: path)
            let parsed = try parser.parse()
            var parts: [Fragment] = []
            if !parsed.anchoredStart { parts.append(builder.star(builder.rawTextCharacter())) }
            parts.append(builder.regex(parsed.node, raw: true))
            if !parsed.anchoredEnd { parts.append(builder.star(builder.rawTextCharacter())) }
            return builder.sequence(parts)
        }
        return builder.repeating(minimum ?? 0, maximum) { $0.rawTextCharacter() }
    }

    /// A parameter GLM writes as raw text: every type it allows but `null` is `string` (or its enum is strings).
    private static func isStringParameter(_ object: JSONObject) -> Bool {
        if let type = object["type"] {
            let names = Set(type.string.map { [$0] } ?? (type.array ?? []).compactMap(\.string)).subtracting(["null"])
            return names == ["string"]
        }
        if let values = object["enum"]?.array ?? object["const"].map({ [$0] }) {
            return !values.isEmpty && values.allSatisfy { $0.string != nil }
        }
        return false
    }

    private mutating func newRule() -> Int {
        rules.append(Fragment(start: -1, end: -1))
        return rules.count - 1
    }

    /// The rule matching one value of `schema`: one rule per distinct subschema (equal subschemas share it),
    /// registered before its body is built so that `$ref` recursion finds it.
    private mutating func valueRule(_ schema: JSONValue, path: String) throws -> Int {
        if schema == .bool(true) || schema.object?.isEmpty == true { return anyValueRule }
        let key = keyPrefix + schema.serialized()
        if let rule = rulesByPath[key] { return rule }
        let rule = newRule()
        rulesByPath[key] = rule
        rules[rule] = try value(schema, path: path)
        return rule
    }

    private func error(_ keyword: String, _ path: String, _ reason: String) -> SchemaError {
        SchemaError(keyword: keyword, path: path, reason: reason)
    }

    private func child(_ path: String, _ parts: String...) -> String {
        parts.reduce(path) { $0 + "/" + $1.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1") }
    }

    // MARK: values

    private mutating func value(_ schema: JSONValue, path: String) throws -> Fragment {
        depth += 1
        defer { depth -= 1 }
        guard depth <= SchemaCompiler.maximumDepth else {
            throw error("", path, "the schema nests deeper than \(SchemaCompiler.maximumDepth) levels")
        }
        if let flag = schema.bool {
            if flag { return builder.call(anyValueRule) }
            throw error("false", path, "a schema that allows no value cannot be generated")
        }
        guard let object = schema.object else { throw error("", path, "a schema must be an object or a boolean") }
        for key in object.keys where !SchemaCompiler.annotations.contains(key) && !SchemaCompiler.constraints.contains(key) {
            throw error(key, path, "this keyword is not supported for structured output")
        }
        let constraining = object.keys.filter { SchemaCompiler.constraints.contains($0) }

        if let reference = object["$ref"] {
            guard constraining == ["$ref"] else {
                throw error(constraining.first { $0 != "$ref" } ?? "$ref", path, "keywords next to '$ref' are not supported")
            }
            guard let pointer = reference.string else { throw error("$ref", path, "must be a string") }
            let target = try resolve(pointer, at: path)
            return builder.call(try valueRule(target, path: pointer))
        }

        let types = try self.types(object, path: path)
        if let values = object["enum"] ?? object["const"].map({ .array([$0]) }) {
            let keyword = object["enum"] != nil ? "enum" : "const"
            if object["enum"] != nil && object["const"] != nil { throw error("const", path, "'enum' and 'const' together are not supported") }
            guard let list = values.array, !list.isEmpty else { throw error(keyword, path, "must be a non-empty array") }
            let kept = list.filter { types == nil || types!.contains(SchemaCompiler.typeName(of: $0)) ||
                (types!.contains("number") && SchemaCompiler.typeName(of: $0) == "integer") }
            guard !kept.isEmpty else { throw error(keyword, path, "no value matches 'type'") }
            return builder.choice(kept.map { builder.literal($0.serialized()) })
        }

        for combinator in ["anyOf", "oneOf"] {
            guard let branches = object[combinator] else { continue }
            guard constraining == [combinator] else {
                throw error(constraining.first { $0 != combinator } ?? combinator, path,
                            "keywords next to '\(combinator)' are not supported (move them into each branch)")
            }
            guard let list = branches.array, !list.isEmpty else { throw error(combinator, path, "must be a non-empty array") }
            var options: [Fragment] = []
            for (i, branch) in list.enumerated() {
                options.append(builder.call(try valueRule(branch, path: child(path, combinator, "\(i)"))))
            }
            return builder.choice(options)
        }

        let chosen = types ?? SchemaCompiler.inferredTypes(object)
        var options: [Fragment] = []
        for type in chosen {
            switch type {
            case "null": options.append(builder.literal("null"))
            case "boolean": options.append(builder.choice([builder.literal("true"), builder.literal("false")]))
            case "integer": options.append(integer())
            case "number": options.append(number())
            case "string": options.append(try string(object, path: path))
            case "array": options.append(try array(object, path: path))
            case "object": options.append(try self.object(object, path: path))
            default: throw error("type", path, "unknown type '\(type)'")
            }
        }
        return builder.choice(options)
    }

    private func types(_ object: JSONObject, path: String) throws -> [String]? {
        guard let type = object["type"] else { return nil }
        let known = ["null", "boolean", "integer", "number", "string", "array", "object"]
        var names: [String]
        if let single = type.string {
            names = [single]
        } else if let list = type.array, !list.isEmpty, list.allSatisfy({ $0.string != nil }) {
            names = list.compactMap(\.string)
        } else {
            throw error("type", path, "must be a type name or a non-empty array of them")
        }
        for name in names where !known.contains(name) { throw error("type", path, "unknown type '\(name)'") }
        if names.contains("number") { names.removeAll { $0 == "integer" } }
        return names
    }

    /// Without `type`: the types the keywords present are about, or every type.
    private static func inferredTypes(_ object: JSONObject) -> [String] {
        var types: [String] = []
        if ["properties", "required", "additionalProperties"].contains(where: { object[$0] != nil }) { types.append("object") }
        if ["items", "prefixItems", "minItems", "maxItems"].contains(where: { object[$0] != nil }) { types.append("array") }
        if ["minLength", "maxLength", "pattern", "format"].contains(where: { object[$0] != nil }) { types.append("string") }
        return types.isEmpty ? ["null", "boolean", "number", "string", "array", "object"] : types
    }

    private static func typeName(of value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool: return "boolean"
        case let .number(n): return n.isInteger ? "integer" : "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    private func resolve(_ pointer: String, at path: String) throws -> JSONValue {
        guard pointer == "#" || pointer.hasPrefix("#/") else {
            throw error("$ref", path, "only references inside the schema ('#', '#/$defs/…') are supported, not '\(pointer)'")
        }
        var node = root
        for raw in pointer.dropFirst(2).split(separator: "/", omittingEmptySubsequences: false) where pointer != "#" {
            let part = raw.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            if let next = node[part] {
                node = next
            } else if let index = Int(part), let next = node[index] {
                node = next
            } else {
                throw error("$ref", path, "'\(pointer)' does not point into the schema")
            }
        }
        return node
    }

    // MARK: primitives

    private mutating func digits() -> Fragment {
        builder.choice([builder.byte(0x30), builder.sequence([builder.bytes([0x31...0x39]),
                                                              builder.star(builder.bytes([0x30...0x39]))])])
    }

    private mutating func integer() -> Fragment {
        builder.sequence([builder.optional(builder.byte(0x2D)), digits()])
    }

    private mutating func number() -> Fragment {
        let fraction = builder.optional(builder.sequence([builder.byte(0x2E), builder.bytes([0x30...0x39]),
                                                          builder.star(builder.bytes([0x30...0x39]))]))
        let exponent = builder.optional(builder.sequence([
            builder.bytes([0x45...0x45, 0x65...0x65]), builder.optional(builder.bytes([0x2B...0x2B, 0x2D...0x2D])),
            builder.bytes([0x30...0x39]), builder.star(builder.bytes([0x30...0x39])),
        ]))
        return builder.sequence([integer(), fraction, exponent])
    }

    private func bound(_ object: JSONObject, _ keyword: String, path: String) throws -> Int? {
        guard let value = object[keyword] else { return nil }
        guard let n = value.int, n >= 0 else { throw error(keyword, path, "must be a non-negative integer") }
        guard n <= SchemaCompiler.maximumBound else {
            throw error(keyword, path, "values above \(SchemaCompiler.maximumBound) are not supported")
        }
        return n
    }

    static let formats: [String: String] = {
        // Real calendar dates only (days per month; February stops at 28, so no leap-year rule is needed),
        // years 0001-9999.
        let year = #"([1-9]\d{3}|0[1-9]\d{2}|00[1-9]\d|000[1-9])"#
        let monthDay = #"((0[1-9]|1[0-2])-(0[1-9]|1\d|2[0-8])|(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31)"#
        let date = year + "-" + monthDay
        let time = #"([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)"#
        return [
            "date": "^\(date)$",
            "time": "^\(time)$",
            "date-time": "^\(date)T\(time)$",
            "uuid": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
            "email": #"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63}){1,8}$"#,
        ]
    }()

    private mutating func string(_ object: JSONObject, path: String) throws -> Fragment {
        let minimum = try bound(object, "minLength", path: path)
        let maximum = try bound(object, "maxLength", path: path)
        if let minimum, let maximum, maximum < minimum { throw error("maxLength", path, "is below minLength") }
        var pattern: String?
        var patternKeyword = "pattern"
        if let format = object["format"] {
            guard let name = format.string, let regex = SchemaCompiler.formats[name] else {
                throw error("format", path, "supported formats are date-time, date, time, uuid and email")
            }
            pattern = regex
            patternKeyword = "format"
        }
        if let value = object["pattern"] {
            guard pattern == nil else { throw error("pattern", path, "'pattern' together with 'format' is not supported") }
            guard let text = value.string else { throw error("pattern", path, "must be a string") }
            pattern = text
        }
        let quote = builder.byte(0x22)
        let body: Fragment
        if let pattern {
            if minimum != nil || maximum != nil {
                throw error(minimum != nil ? "minLength" : "maxLength", path,
                            "length bounds together with '\(patternKeyword)' are not supported")
            }
            var parser = RegexParser(pattern, path: path)
            let parsed = try parser.parse()
            var parts: [Fragment] = []
            if !parsed.anchoredStart { parts.append(builder.star(builder.jsonStringCharacter())) }
            parts.append(builder.regex(parsed.node))
            if !parsed.anchoredEnd { parts.append(builder.star(builder.jsonStringCharacter())) }
            body = builder.sequence(parts)
        } else {
            body = builder.repeating(minimum ?? 0, maximum) { $0.jsonStringCharacter() }
        }
        return builder.sequence([quote, body, builder.byte(0x22)])
    }

    // MARK: arrays

    private mutating func array(_ object: JSONObject, path: String) throws -> Fragment {
        var prefix: [JSONValue] = []
        if let value = object["prefixItems"] {
            guard let list = value.array else { throw error("prefixItems", path, "must be an array of schemas") }
            prefix = list
        }
        var items: JSONValue? = object["items"]
        if let value = items, value.bool == nil, value.object == nil {
            throw error("items", path, "must be a schema (an array of schemas is the older 'prefixItems'; use that)")
        }
        if items == .bool(true) { items = nil }
        let closed = items == .bool(false)
        var minimum = try bound(object, "minItems", path: path) ?? 0
        var maximum = try bound(object, "maxItems", path: path)
        if closed { maximum = min(maximum ?? prefix.count, prefix.count) }
        if let maximum, maximum < minimum {
            throw error(closed ? "items" : "maxItems", path, "allows fewer items than minItems asks for")
        }
        minimum = min(minimum, SchemaCompiler.maximumBound)

        func itemRule(_ index: Int, _ compiler: inout SchemaCompiler) throws -> Int {
            if index < prefix.count {
                return try compiler.valueRule(prefix[index], path: compiler.child(path, "prefixItems", "\(index)"))
            }
            return try compiler.valueRule(items ?? .bool(true), path: compiler.child(path, "items"))
        }
        func element(_ index: Int, _ compiler: inout SchemaCompiler) throws -> Fragment {
            var parts: [Fragment] = []
            if index > 0 { parts += [compiler.builder.call(compiler.whitespaceRule), compiler.builder.byte(0x2C)] }
            parts.append(compiler.builder.call(compiler.whitespaceRule))
            parts.append(compiler.builder.call(try itemRule(index, &compiler)))
            return compiler.builder.sequence(parts)
        }

        let fixed = maximum ?? max(prefix.count, minimum, 1)
        let nodes = (0...fixed).map { _ in builder.empty() }
        let open = builder.byte(0x5B)
        let close = builder.sequence([builder.call(whitespaceRule), builder.byte(0x5D)])
        builder.nfa.addEpsilon(from: open.end, to: nodes[0].start)
        for k in 0..<fixed {
            let e = try element(k, &self)
            builder.nfa.addEpsilon(from: nodes[k].start, to: e.start)
            builder.nfa.addEpsilon(from: e.end, to: nodes[k + 1].start)
        }
        if maximum == nil {
            let e = try element(fixed, &self)
            builder.nfa.addEpsilon(from: nodes[fixed].start, to: e.start)
            builder.nfa.addEpsilon(from: e.end, to: nodes[fixed].start)
        }
        for k in minimum...fixed { builder.nfa.addEpsilon(from: nodes[k].start, to: close.start) }
        return Fragment(start: open.start, end: close.end)
    }

    // MARK: objects

    private mutating func object(_ object: JSONObject, path: String) throws -> Fragment {
        var properties: [(key: String, schema: JSONValue, required: Bool)] = []
        var required = Set<String>()
        if let value = object["required"] {
            guard let list = value.array, list.allSatisfy({ $0.string != nil }) else {
                throw error("required", path, "must be an array of strings")
            }
            required = Set(list.compactMap(\.string))
        }
        if let value = object["properties"] {
            guard let map = value.object else { throw error("properties", path, "must be an object of schemas") }
            for (key, schema) in map { properties.append((key, schema, required.contains(key))) }
        }
        for key in (object["required"]?.array ?? []).compactMap(\.string) where !properties.contains(where: { $0.key == key }) {
            properties.append((key, .bool(true), true))
        }
        var additional: JSONValue? = object["additionalProperties"]
        if additional == nil && object["properties"] == nil { additional = .bool(true) }
        if additional == .bool(false) { additional = nil }
        if let value = additional, value.bool == nil, value.object == nil {
            throw error("additionalProperties", path, "must be a boolean or a schema")
        }

        let ws = { (compiler: inout SchemaCompiler) in compiler.builder.call(compiler.whitespaceRule) }
        func member(key: Fragment, rule: Int, comma: Bool, _ compiler: inout SchemaCompiler) -> Fragment {
            var parts: [Fragment] = []
            if comma { parts += [ws(&compiler), compiler.builder.byte(0x2C)] }
            parts += [ws(&compiler), key, ws(&compiler), compiler.builder.byte(0x3A), ws(&compiler),
                      compiler.builder.call(rule)]
            return compiler.builder.sequence(parts)
        }

        let n = properties.count
        let nodes = (0...n).map { _ in [builder.empty(), builder.empty()] }
        let open = builder.byte(0x7B)
        builder.nfa.addEpsilon(from: open.end, to: nodes[0][0].start)
        for (i, property) in properties.enumerated() {
            let rule = try valueRule(property.schema, path: child(path, "properties", property.key))
            for started in 0...1 {
                if !property.required { builder.nfa.addEpsilon(from: nodes[i][started].start, to: nodes[i + 1][started].start) }
                let key = builder.literal(JSONValue.quoted(property.key))
                let m = member(key: key, rule: rule, comma: started == 1, &self)
                builder.nfa.addEpsilon(from: nodes[i][started].start, to: m.start)
                builder.nfa.addEpsilon(from: m.end, to: nodes[i + 1][1].start)
            }
        }
        if let additional {
            let rule = try valueRule(additional, path: child(path, "additionalProperties"))
            for started in 0...1 {
                let key = otherKey(excluding: properties.map(\.key))
                let m = member(key: key, rule: rule, comma: started == 1, &self)
                builder.nfa.addEpsilon(from: nodes[n][started].start, to: m.start)
                builder.nfa.addEpsilon(from: m.end, to: nodes[n][1].start)
            }
        }
        let close = builder.sequence([ws(&self), builder.byte(0x7D)])
        for started in 0...1 { builder.nfa.addEpsilon(from: nodes[n][started].start, to: close.start) }
        return Fragment(start: open.start, end: close.end)
    }

    /// A quoted key, without escapes, that is none of `excluded`: a trie of the excluded keys in which every
    /// byte that leaves the trie goes to a state reading any further characters.
    private mutating func otherKey(excluding excluded: [String]) -> Fragment {
        let open = builder.byte(0x22)
        let end = builder.nfa.addState()
        let free = builder.nfa.addState()
        let character = builder.jsonStringCharacter(escapes: false)
        builder.nfa.addEpsilon(from: free, to: character.start)
        builder.nfa.addEpsilon(from: character.end, to: free)
        builder.nfa.addBytes(0x22, 0x22, from: free, to: end)

        // Trie nodes: NFA state, children by byte, whether a key ends here, continuation bytes still expected.
        struct Node { var state: Int; var children: [UInt8: Int] = [:]; var isKey = false; var pending = 0 }
        var nodes = [Node(state: open.end)]
        for key in excluded {
            var node = 0
            var pending = 0
            for b in key.utf8 {
                pending = b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : b >= 0xC0 ? 1 : max(0, pending - 1)
                if let next = nodes[node].children[b] {
                    node = next
                } else {
                    nodes.append(Node(state: builder.nfa.addState(), pending: pending))
                    nodes[node].children[b] = nodes.count - 1
                    node = nodes.count - 1
                }
            }
            nodes[node].isKey = true
        }
        let tail: ClosedRange<UInt8> = 0x80...0xBF
        for node in nodes {
            let s = node.state
            for (b, child) in node.children { builder.nfa.addBytes(b, b, from: s, to: nodes[child].state) }
            func leaving(_ range: ClosedRange<UInt8>) -> [ClosedRange<UInt8>] {
                var out: [ClosedRange<UInt8>] = []
                var start: Int?
                for b in Int(range.lowerBound)...Int(range.upperBound) + 1 {
                    let inside = b <= Int(range.upperBound) && node.children[UInt8(b)] == nil
                    if inside && start == nil { start = b }
                    if !inside, let s0 = start { out.append(UInt8(s0)...UInt8(b - 1)); start = nil }
                }
                return out
            }
            if node.pending > 0 {
                // Inside a multi-byte character: another continuation byte, then the rest of the character.
                var after = builder.empty()
                for _ in 1..<node.pending { after = builder.sequence([after, builder.bytes([tail])]) }
                let leave = builder.bytes(leaving(tail))
                builder.nfa.addEpsilon(from: s, to: leave.start)
                builder.nfa.addEpsilon(from: leave.end, to: after.start)
                builder.nfa.addEpsilon(from: after.end, to: free)
                continue
            }
            if !node.isKey { builder.nfa.addBytes(0x22, 0x22, from: s, to: end) }
            for range in leaving(0x20...0x7F) where !range.contains(0x22) && !range.contains(0x5C) {
                builder.nfa.addBytes(range.lowerBound, range.upperBound, from: s, to: free)
            }
            // Ranges containing `"` or `\` are split around them.
            for range in leaving(0x20...0x7F) where range.contains(0x22) || range.contains(0x5C) {
                for b in range where b != 0x22 && b != 0x5C { builder.nfa.addBytes(b, b, from: s, to: free) }
            }
            let forms: [[ClosedRange<UInt8>]] = [
                [0xC2...0xDF, tail], [0xE0...0xE0, 0xA0...0xBF, tail], [0xE1...0xEC, tail, tail],
                [0xED...0xED, 0x80...0x9F, tail], [0xEE...0xEF, tail, tail], [0xF0...0xF0, 0x90...0xBF, tail, tail],
                [0xF1...0xF3, tail, tail, tail], [0xF4...0xF4, 0x80...0x8F, tail, tail],
            ]
            for form in forms {
                let leads = leaving(form[0])
                guard !leads.isEmpty else { continue }
                let rest = builder.sequence([builder.bytes(leads)] + form.dropFirst().map { builder.bytes([$0]) })
                builder.nfa.addEpsilon(from: s, to: rest.start)
                builder.nfa.addEpsilon(from: rest.end, to: free)
            }
        }
        return Fragment(start: open.start, end: end)
    }

    // MARK: any value

    private mutating func anyValue() throws -> Fragment {
        let object = try self.object(["additionalProperties": true], path: "#any")
        let array = try self.array([:], path: "#any")
        let string = builder.sequence([builder.byte(0x22), builder.star(builder.jsonStringCharacter()), builder.byte(0x22)])
        return builder.choice([object, array, string, number(), builder.literal("true"), builder.literal("false"),
                               builder.literal("null")])
    }
}
