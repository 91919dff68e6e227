import ArgumentParser
import Foundation
import JSON
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
        let ids = try CommandInput.tokenIDs(FileHandle.standardInput.readDataToEndOfFile())
        let text: String
        do {
            text = try tokenizer.decode(validating: ids, skipSpecialTokens: skipSpecialTokens)
        } catch TokenizerError.idOutOfRange(let id, let index, let vocabularySize) {
            // The server's /detokenize says "'tokens' must be an array of token ids (0..<N)".
            throw CommandInputError("stdin must be a JSON array of token ids (0..<\(vocabularySize)): "
                                    + "element \(index) is \(id), out of range")
        }
        print(JSONValue.quoted(text))
    }
}
