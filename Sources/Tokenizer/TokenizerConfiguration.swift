import Foundation
import JSON

/// The parts of `tokenizer_config.json` a server needs: the names of the special tokens it declares.
public struct TokenizerConfiguration: Sendable, Equatable {
    public let eosToken: String?
    public let bosToken: String?
    public let padToken: String?
    public let unknownToken: String?

    init(data: Data, file: String) throws {
        let reader = TokenizerFileReader(file: file)
        let root = try reader.document(from: data)
        guard root.object != nil else { throw reader.invalid("(root)", "expected an object") }
        /// Either "name" or {"content": "name", ...}.
        func tokenName(_ key: String) -> String? {
            root[key]?.string ?? root[key]?["content"]?.string
        }
        eosToken = tokenName("eos_token")
        bosToken = tokenName("bos_token")
        padToken = tokenName("pad_token")
        unknownToken = tokenName("unk_token")
    }
}
