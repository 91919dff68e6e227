import Foundation

/// Typed reads of `config.json` values that fail with a message naming the key (its whole path, e.g.
/// `rope_parameters.rope_theta`), what the value must be, and what it is. Foundation's `JSONDecoder` reports a
/// number that does not fit the type (`2.5` for an `Int`) as "not valid JSON" with no key, so integers are read
/// through these helpers and never straight through `decode(Int.self, ...)`.
extension KeyedDecodingContainer {
    /// The integer at `key`; nil when the key is absent or null. A fraction or any other type is refused.
    func integer(_ key: Key) throws -> Int? {
        guard try isPresent(key) else { return nil }
        if let value = try? decode(Int.self, forKey: key) { return value }
        throw wrongValue(key, mustBe: "an integer")
    }

    /// The required integer at `key`.
    func requiredInteger(_ key: Key) throws -> Int {
        guard contains(key) else { throw missing(key) }
        guard let value = try integer(key) else { throw wrongValue(key, mustBe: "an integer") }
        return value
    }

    /// The number at `key`; nil when absent.
    func number(_ key: Key) throws -> Double? {
        guard try isPresent(key) else { return nil }
        if let value = try? decode(Double.self, forKey: key), !isBoolean(key) { return value }
        throw wrongValue(key, mustBe: "a number")
    }

    /// The boolean at `key`; nil when absent.
    func boolean(_ key: Key) throws -> Bool? {
        guard try isPresent(key) else { return nil }
        if isBoolean(key), let value = try? decode(Bool.self, forKey: key) { return value }
        throw wrongValue(key, mustBe: "true or false")
    }

    /// The string at `key`; nil when absent.
    func string(_ key: Key) throws -> String? {
        guard try isPresent(key) else { return nil }
        if let value = try? decode(String.self, forKey: key) { return value }
        throw wrongValue(key, mustBe: "a string")
    }

    /// The required string at `key`.
    func requiredString(_ key: Key) throws -> String {
        guard contains(key) else { throw missing(key) }
        guard let value = try string(key) else { throw wrongValue(key, mustBe: "a string") }
        return value
    }

    /// An integer or a list of integers at `key` (as `eos_token_id`); empty when absent or null.
    func integers(_ key: Key) throws -> [Int] {
        guard try isPresent(key) else { return [] }
        if !isBoolean(key), let one = try? decode(Int.self, forKey: key) { return [one] }
        if let list = try? decode([Int].self, forKey: key), !isBooleanList(key) { return list }
        throw wrongValue(key, mustBe: "an integer or a list of integers")
    }

    /// The object at `key`; nil when absent or null. Anything else is refused.
    func object<Nested: CodingKey>(_ key: Key, keyedBy _: Nested.Type) throws -> KeyedDecodingContainer<Nested>? {
        guard try isPresent(key) else { return nil }
        if let nested = try? nestedContainer(keyedBy: Nested.self, forKey: key) { return nested }
        throw wrongValue(key, mustBe: "an object")
    }

    /// Whether `key` is there with a value other than null (optional settings may be written as null).
    private func isPresent(_ key: Key) throws -> Bool {
        try contains(key) && !decodeNil(forKey: key)
    }

    // MARK: messages

    private func path(_ key: Key) -> String {
        (codingPath + [key]).map(\.stringValue).joined(separator: ".")
    }

    private func missing(_ key: Key) -> EngineError {
        .invalidConfig(file: "config.json", problem: "required key '\(path(key))' is missing")
    }

    private func wrongValue(_ key: Key, mustBe expected: String) -> EngineError {
        .invalidConfig(file: "config.json", problem: "'\(path(key))' must be \(expected), got \(found(key))")
    }

    /// JSON booleans also decode as numbers on some platforms; these tell them apart.
    private func isBoolean(_ key: Key) -> Bool {
        (try? decode(ConfigValue.self, forKey: key)).map { if case .boolean = $0 { return true } else { return false } } ?? false
    }

    private func isBooleanList(_ key: Key) -> Bool {
        guard case .list(let items)? = try? decode(ConfigValue.self, forKey: key) else { return false }
        return items.contains { if case .boolean = $0 { return true } else { return false } }
    }

    /// The value at `key` described for a message: `2.5`, `null`, `the string "x"`, `[1, 2.5]`, `an object`.
    private func found(_ key: Key) -> String {
        (try? decode(ConfigValue.self, forKey: key))?.description ?? "a value of another type"
    }
}

/// Any JSON value, decoded only to describe it in an error message.
private enum ConfigValue: Decodable, CustomStringConvertible {
    case null, boolean(Bool), number(Double), string(String), list([ConfigValue]), object

    init(from decoder: Decoder) throws {
        let single = try decoder.singleValueContainer()
        if single.decodeNil() { self = .null; return }
        if let value = try? single.decode(Bool.self) { self = .boolean(value); return }
        if let value = try? single.decode(Double.self) { self = .number(value); return }
        if let value = try? single.decode(String.self) { self = .string(value); return }
        if let value = try? single.decode([ConfigValue].self) { self = .list(value); return }
        self = .object
    }

    var description: String {
        switch self {
        case .null: return "null"
        case .boolean(let value): return "\(value)"
        case .number(let value):
            return value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
        case .string(let value): return "the string \"\(value)\""
        case .list(let items):
            return "[" + items.map { if case .string(let s) = $0 { return "\"\(s)\"" } else { return $0.description } }
                .joined(separator: ", ") + "]"
        case .object: return "an object"
        }
    }
}
