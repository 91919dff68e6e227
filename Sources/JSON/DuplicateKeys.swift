/// What `JSONValue.parse` does with a key written twice in one object.
public enum JSONDuplicateKeys: Sendable {
    /// The key keeps its first position and takes its last value, as Python's `json.loads` does.
    case lastValueWins
    /// The text is refused with a `JSONDuplicateKeyError` (for formats where a repeat is ambiguous or hostile).
    case rejected
}

/// A JSON text with a key written twice in one object, refused by `parse(_:duplicateKeys: .rejected)`.
public struct JSONDuplicateKeyError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Byte offset of the `{` that opens the object holding the repeat.
    public let offset: Int
    /// The keys leading from the document's root object to the repeated key, which is last
    /// (`["a", "b"]` for `{"a": {"b": 1, "b": 2}}`; array levels add no entry).
    public internal(set) var path: [String]

    public init(offset: Int, path: [String]) {
        self.offset = offset
        self.path = path
    }

    /// The repeated key.
    public var key: String { path.last ?? "" }

    public var description: String {
        let quoted = path.map { "'\($0)'" }.joined(separator: " → ")
        return "invalid JSON at byte \(offset): key \(quoted) appears more than once in its object"
    }

    /// The first key of `members` whose second occurrence comes earliest. Keys are compared by their
    /// Unicode scalars, as `JSONObject` compares them.
    static func firstRepeatedKey(in members: [JSONObject.Element]) -> String {
        var seen = Set<[Unicode.Scalar]>()
        for member in members where !seen.insert(Array(member.key.unicodeScalars)).inserted {
            return member.key
        }
        return ""
    }
}
