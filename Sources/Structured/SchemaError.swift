/// A JSON schema the compiler cannot turn into a grammar: an unsupported keyword, a keyword with a wrong value,
/// or a schema too large. `path` is a JSON pointer into the schema (`#/properties/age`).
public struct SchemaError: Error, Equatable, CustomStringConvertible {
    public var keyword: String
    public var path: String
    public var reason: String

    public init(keyword: String, path: String, reason: String) {
        self.keyword = keyword
        self.path = path
        self.reason = reason
    }

    public var description: String {
        keyword.isEmpty ? "\(reason) (at \(path))" : "'\(keyword)' at \(path): \(reason)"
    }
}
