import ArgumentParser
import Foundation
import Tokenizer

/// `glmserve tokenize --model DIR`: text on stdin → the ids as a JSON array (added tokens matched).
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Read text on stdin and print its token ids as a JSON array.")

    @Option(name: .long, help: "A model folder with tokenizer.json (and optionally tokenizer_config.json).")
    var model: String

    @Flag(name: .long, help: "Encode special tokens (e.g. <|user|>) as plain text instead of matching them.")
    var specialTokensAsText = false

    func run() throws {
        let tokenizer = try Tokenizer(directory: URL(fileURLWithPath: model))
        let input = FileHandle.standardInput.readDataToEndOfFile()
        let text = String(decoding: input, as: UTF8.self)
        let ids = tokenizer.encode(text, addedTokens: specialTokensAsText ? .nonSpecialOnly : .all)
        print("[" + ids.map(String.init).joined(separator: ", ") + "]")
    }
}
