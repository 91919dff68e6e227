/// A JSON value that keeps everything needed to reproduce the text Python's `json.loads` + `json.dumps`
/// would make of it: object key order, and the integer/float distinction of numbers (integers stay exact text).
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)
}

// MARK: - Building values from Swift

extension JSONValue {
    public init(_ value: Bool) { self = .bool(value) }
    public init(_ value: Int) { self = .number(JSONNumber(value)) }
    public init(_ value: Double) { self = .number(JSONNumber(value)) }
    public init(_ value: String) { self = .string(value) }
    public init(_ value: [JSONValue]) { self = .array(value) }
    public init(_ value: JSONObject) { self = .object(value) }
    /// `nil` becomes `.null`.
    public init<T>(_ value: T?) where T: JSONRepresentable {
        self = value.map { $0.jsonValue } ?? .null
    }
}

/// Swift values that have a natural JSON form (used by `JSONValue.init(_:)` for optionals).
public protocol JSONRepresentable { var jsonValue: JSONValue { get } }
extension Bool: JSONRepresentable { public var jsonValue: JSONValue { .bool(self) } }
extension Int: JSONRepresentable { public var jsonValue: JSONValue { .number(JSONNumber(self)) } }
extension Double: JSONRepresentable { public var jsonValue: JSONValue { .number(JSONNumber(self)) } }
extension String: JSONRepresentable { public var jsonValue: JSONValue { .string(self) } }
extension JSONValue: JSONRepresentable { public var jsonValue: JSONValue { self } }
extension JSONObject: JSONRepresentable { public var jsonValue: JSONValue { .object(self) } }

// MARK: - Accessors

extension JSONValue {
    public var isNull: Bool { if case .null = self { return true } else { return false } }

    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var number: JSONNumber? { if case .number(let n) = self { return n } else { return nil } }
    public var array: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var object: JSONObject? { if case .object(let o) = self { return o } else { return nil } }

    /// The number as an `Int` if it is an integer (or an integral float) that fits; otherwise `nil`.
    public var int: Int? { number?.int }
    /// The number as a `Double` (integers converted, possibly rounded); `nil` for non-numbers.
    public var double: Double? { number?.double }

    /// Member of an object; `nil` if this is not an object or the key is absent.
    /// Setting on a non-object turns the value into an object; setting `nil` removes the key.
    public subscript(key: String) -> JSONValue? {
        get { object?[key] }
        set {
            var o = object ?? JSONObject()
            o[key] = newValue
            self = .object(o)
        }
    }

    /// Element of an array; `nil` if this is not an array or the index is out of range.
    public subscript(index: Int) -> JSONValue? {
        guard case .array(let a) = self, a.indices.contains(index) else { return nil }
        return a[index]
    }

    /// A short name of the value's kind, for error messages ("string", "array", …).
    public var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .number: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

// MARK: - Literals

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(JSONNumber(value)) }
    public init(floatLiteral value: Double) { self = .number(JSONNumber(value)) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// Keys keep the order they are written in.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        var o = JSONObject()
        for (k, v) in elements { o[k] = v }
        self = .object(o)
    }
}

extension JSONValue: CustomStringConvertible {
    public var description: String { serialized() }
}
