import Foundation
import JSON

/// An independent validator for the keywords the grammar supports (the oracle of the tests): written from the
/// JSON Schema specification, sharing no code with the compiler.
public struct SchemaValidator {
    public let root: JSONValue

    public init(root: JSONValue) { self.root = root }

    public func isValid(_ value: JSONValue) -> Bool { validate(value, root) }

    private func validate(_ value: JSONValue, _ schema: JSONValue) -> Bool {
        if let flag = schema.bool { return flag }
        guard let s = schema.object else { return false }
        if let ref = s["$ref"]?.string {
            var node = root
            if ref != "#" {
                for part in ref.dropFirst(2).split(separator: "/") { guard let next = node[String(part)] else { return false }; node = next }
            }
            return validate(value, node)
        }
        if let types = s["type"] {
            let names = types.string.map { [$0] } ?? (types.array ?? []).compactMap(\.string)
            guard names.contains(where: { matches(value, type: $0) }) else { return false }
        }
        if let list = s["enum"]?.array, !list.contains(where: { equal($0, value) }) { return false }
        if let constant = s["const"], !equal(constant, value) { return false }
        if let branches = s["anyOf"]?.array, !branches.contains(where: { validate(value, $0) }) { return false }
        if let branches = s["oneOf"]?.array, branches.filter({ validate(value, $0) }).count != 1 { return false }
        switch value {
        case let .string(text):
            let length = text.unicodeScalars.count
            if let m = s["minLength"]?.int, length < m { return false }
            if let m = s["maxLength"]?.int, length > m { return false }
            if let pattern = s["pattern"]?.string {
                guard let regex = try? NSRegularExpression(pattern: pattern),
                      regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil else { return false }
            }
        case let .array(items):
            if let m = s["minItems"]?.int, items.count < m { return false }
            if let m = s["maxItems"]?.int, items.count > m { return false }
            let prefix = s["prefixItems"]?.array ?? []
            for (i, item) in items.enumerated() {
                if i < prefix.count {
                    if !validate(item, prefix[i]) { return false }
                } else if let itemSchema = s["items"], !validate(item, itemSchema) {
                    return false
                }
            }
        case let .object(members):
            for key in (s["required"]?.array ?? []).compactMap(\.string) where !members.contains(key) { return false }
            let properties = s["properties"]?.object ?? JSONObject()
            for (key, member) in members {
                if let propertySchema = properties[key] {
                    if !validate(member, propertySchema) { return false }
                } else if let additional = s["additionalProperties"], !validate(member, additional) {
                    return false
                }
            }
        default: break
        }
        return true
    }

    private func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("number", .number), ("string", .string), ("array", .array),
             ("object", .object): return true
        case let ("integer", .number(n)): return n.isInteger || n.double.rounded() == n.double
        default: return false
        }
    }

    private func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        if case let .number(x) = a, case let .number(y) = b { return x.double == y.double }
        return a == b
    }
}

/// Random schemas over the supported keywords, and random instances of them.
public struct SchemaSampler<G: RandomNumberGenerator> {
    public var random: G

    public init(random: G) { self.random = random }

    public mutating func schema(depth: Int = 0) -> JSONValue {
        let kinds = depth >= 2 ? ["string", "integer", "number", "boolean", "null", "enum"] :
            ["string", "integer", "number", "boolean", "null", "enum", "object", "object", "array", "anyOf", "nullable"]
        let kind = kinds.randomElement(using: &random)!
        switch kind {
        case "string":
            switch Int.random(in: 0..<4, using: &random) {
            case 0: return ["type": "string"]
            case 1: return ["type": "string", "minLength": JSONValue(Int.random(in: 0...2, using: &random)),
                            "maxLength": JSONValue(Int.random(in: 3...6, using: &random))]
            case 2: return ["type": "string", "pattern": "^[a-c]+-\\d{2}$"]
            default: return ["type": "string", "format": "date"]
            }
        case "enum": return ["enum": ["red", "green", 3, nil, ["a": 1]]]
        case "nullable": return ["type": ["integer", "null"]]
        case "anyOf": return ["anyOf": [schema(depth: depth + 1), ["type": "boolean"]]]
        case "array":
            var a: JSONObject = ["type": "array", "items": schema(depth: depth + 1)]
            if Bool.random(using: &random) { a["minItems"] = 1; a["maxItems"] = 3 }
            if Bool.random(using: &random) { a["prefixItems"] = [["type": "string"]] }
            return .object(a)
        case "object":
            var properties = JSONObject()
            var required: [JSONValue] = []
            for i in 0..<Int.random(in: 1...3, using: &random) {
                properties["k\(i)"] = schema(depth: depth + 1)
                if Bool.random(using: &random) { required.append(JSONValue("k\(i)")) }
            }
            var o: JSONObject = ["type": "object", "properties": .object(properties), "required": .array(required)]
            o["additionalProperties"] = Bool.random(using: &random) ? false : ["type": "integer"]
            return .object(o)
        default:
            return ["type": JSONValue(kind)]
        }
    }
}
