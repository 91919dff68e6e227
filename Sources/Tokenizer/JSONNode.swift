/// A parsed JSON value, as the tokenizer reader needs it. Objects keep their members in file order
/// (the vocabulary is read by iterating them; small objects are searched by key).
enum JSONNode {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONNode])
    case object([(key: String, value: JSONNode)])

    subscript(key: String) -> JSONNode? {
        guard case let .object(members) = self else { return nil }
        return members.first(where: { $0.key == key })?.value
    }

    var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    var stringValue: String? {
        if case let .string(value) = self { return value }
        return nil
    }

    var boolValue: Bool? {
        if case let .bool(value) = self { return value }
        return nil
    }

    /// The value as an integer, if it is a number with no fractional part that fits an `Int`.
    var intValue: Int? {
        guard case let .number(value) = self, value.rounded() == value,
              value >= -9.0e15, value <= 9.0e15 else { return nil }
        return Int(value)
    }

    var arrayValue: [JSONNode]? {
        if case let .array(value) = self { return value }
        return nil
    }

    var objectValue: [(key: String, value: JSONNode)]? {
        if case let .object(value) = self { return value }
        return nil
    }
}
