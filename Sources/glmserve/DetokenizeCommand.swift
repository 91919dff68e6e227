import ArgumentParser
import Foundation
import Tokenizer

/// `glmserve detokenize --model DIR [--skip-special-tokens]`: a JSON array of ids on stdin → the text as a
/// JSON string.
struct DetokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detokenize",
        abstract: "Read a JSON array of token ids on stdin and print the decoded text as a JSON string.")

    @Option(name: .long, help: "A model folder with tokenizer.json (and optionally tokenizer_config.json).")
    var model: String

    @Flag(name: .long, help: "Leave out added tokens flagged special (<|user|>, [gMASK], ...).")
    var skipSpecialTokens = false

    func run() throws {
        let tokenizer = try Tokenizer(directory: URL(fileURLWithPath: model))
        let input = FileHandle.standardInput.readDataToEndOfFile()
        let ids: [Int]
        do {
            ids = try JSONDecoder().decode([Int].self, from: input)
        } catch {
            throw DetokenizeInputError()
        }
        print(jsonStringLiteral(tokenizer.decode(ids, skipSpecialTokens: skipSpecialTokens)))
    }
}

private struct DetokenizeInputError: Error, CustomStringConvertible {
    var description: String { "stdin must be a JSON array of integer token ids" }
}

/// `text` as a JSON string literal (non-ASCII kept as UTF-8, like `json.dumps(..., ensure_ascii=False)`).
private func jsonStringLiteral(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        case "\u{08}": result += "\\b"
        case "\u{0C}": result += "\\f"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: result.unicodeScalars.append(scalar)
        }
    }
    return result + "\""
}
