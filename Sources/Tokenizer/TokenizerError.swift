/// Why a tokenizer could not be loaded (every such case names the file, or "tokenizer.json" for in-memory
/// data, and says what is wrong with it), or why ids could not be decoded (`idOutOfRange`).
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    /// The file could not be read (missing, unreadable).
    case unreadableFile(path: String, reason: String)
    /// The file is not valid JSON; `offset` is the byte where parsing stopped.
    case invalidJSON(file: String, offset: Int, reason: String)
    /// The JSON is valid but a field is missing or has the wrong shape.
    case invalidField(file: String, field: String, reason: String)
    /// The file asks for a component this reader does not implement (e.g. a WordPiece model).
    case unsupported(file: String, component: String, reason: String)
    /// `decode(validating:)` was given an id outside `0..<vocabularySize`; `index` is its position in the list.
    case idOutOfRange(id: Int, index: Int, vocabularySize: Int)

    public var description: String {
        switch self {
        case let .unreadableFile(path, reason):
            return "cannot read \(path): \(reason)"
        case let .invalidJSON(file, offset, reason):
            return "\(file): invalid JSON at byte \(offset): \(reason)"
        case let .invalidField(file, field, reason):
            return "\(file): field '\(field)': \(reason)"
        case let .unsupported(file, component, reason):
            return "\(file): unsupported \(component): \(reason)"
        case let .idOutOfRange(id, index, vocabularySize):
            return "token id \(id) at index \(index) is out of range: token ids must be in 0..<\(vocabularySize)"
        }
    }
}
