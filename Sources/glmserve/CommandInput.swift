import Foundation
import JSON

/// Reads the standard input of `glmserve tokenize` / `detokenize`, with errors that say what was expected.
enum CommandInput {
    /// A JSON array of integer token ids. Range checks are the tokenizer's (`decode(validating:)`).
    static func tokenIDs(_ data: Data) throws -> [Int] {
        let value: JSONValue
        do {
            value = try JSONValue.parse(data)
        } catch let error as JSONParseError {
            throw CommandInputError("stdin must be a JSON array of token ids: \(error)")
        }
        guard let elements = value.array else {
            throw CommandInputError("stdin must be a JSON array of token ids, not \(kind(of: value))")
        }
        return try elements.enumerated().map { index, element in
            guard let number = element.number, number.isInteger else {
                throw CommandInputError(
                    "stdin must be a JSON array of token ids: element \(index) is \(kind(of: element)), not an integer")
            }
            guard let id = number.int else {
                throw CommandInputError(
                    "stdin must be a JSON array of token ids: element \(index) is \(kind(of: element)), too large for a token id")
            }
            return id
        }
    }

    /// The bytes as text; invalid UTF-8 is refused rather than silently replaced.
    static func text(_ data: Data) throws -> String {
        var iterator = data.makeIterator()
        var decoder = Unicode.UTF8.ForwardParser()
        var offset = 0
        while true {
            switch decoder.parseScalar(from: &iterator) {
            case .valid(let encoded): offset += encoded.count
            case .emptyInput: return String(decoding: data, as: UTF8.self)
            case .error:
                throw CommandInputError("stdin is not valid UTF-8 text (invalid byte sequence at byte \(offset))")
            }
        }
    }

    private static func kind(of value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let flag): return "the boolean \(flag)"
        case .number(let number):
            if number.isInteger { return "the integer \(number.jsonText)" }
            return number.double.isFinite ? "the number \(number.jsonText)" : "a number too large for JSON"
        case .string(let text):
            return "the string " + JSONValue.quoted(text.count > 40 ? text.prefix(40) + "..." : text)
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// Bad input of a command (stdin or an option value found bad at run time); ArgumentParser prints it as `Error: <description>` and exits with 1.
struct CommandInputError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
