import Foundation
@testable import Tokenizer

/// Builds small `tokenizer.json` files for the generality tests. The vocabulary always holds the 256 byte
/// characters at ids 0–255 (byte b has id b), except `omittedBytes`; `extraTokens` follow from id 256 in order.
struct TokenizerJSONBuilder {
    static let glmRegex = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    var extraTokens: [String] = []
    var merges: [(String, String)] = []
    var mergesAsStrings = false
    var ignoreMerges = false
    var regex = glmRegex
    var normalizer: Any = NSNull()
    var addedTokens: [[String: Any]] = []
    var modelType = "BPE"
    /// Bytes whose symbols are left out of the vocabulary (a broken file).
    var omittedBytes: Set<UInt8> = []

    /// The byte-level spelling of `text` (space → Ġ, ...).
    static func byteLevel(_ text: String) -> String {
        ByteLevelAlphabet.string(of: Array(text.utf8))
    }

    /// The id of `token` in the built vocabulary.
    func id(of token: String) -> Int {
        if token.unicodeScalars.count == 1, let byte = ByteLevelAlphabet.byte(for: token.unicodeScalars.first!) {
            return Int(byte)
        }
        return 256 + (extraTokens.firstIndex(of: token) ?? -1000)
    }

    static func addedToken(_ content: String, id: Int, special: Bool, singleWord: Bool = false,
                           lstrip: Bool = false, rstrip: Bool = false, normalized: Bool = false) -> [String: Any] {
        ["id": id, "content": content, "special": special, "single_word": singleWord,
         "lstrip": lstrip, "rstrip": rstrip, "normalized": normalized]
    }

    func json() throws -> Data {
        var vocab: [String: Int] = [:]
        for byte in 0..<256 where !omittedBytes.contains(UInt8(byte)) {
            vocab[ByteLevelAlphabet.string(of: [UInt8(byte)])] = byte
        }
        for (offset, token) in extraTokens.enumerated() { vocab[token] = 256 + offset }
        let mergeList: [Any] = merges.map { mergesAsStrings ? "\($0.0) \($0.1)" as Any : [$0.0, $0.1] as Any }
        let root: [String: Any] = [
            "version": "1.0",
            "truncation": NSNull(), "padding": NSNull(),
            "added_tokens": addedTokens,
            "normalizer": normalizer,
            "pre_tokenizer": [
                "type": "Sequence",
                "pretokenizers": [
                    ["type": "Split", "pattern": ["Regex": regex], "behavior": "Isolated", "invert": false],
                    ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false],
                ],
            ],
            "post_processor": NSNull(),
            "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true],
            "model": [
                "type": modelType, "dropout": NSNull(), "unk_token": NSNull(),
                "continuing_subword_prefix": NSNull(), "end_of_word_suffix": NSNull(),
                "fuse_unk": false, "byte_fallback": false, "ignore_merges": ignoreMerges,
                "vocab": vocab, "merges": mergeList,
            ] as [String: Any],
        ]
        return try JSONSerialization.data(withJSONObject: root)
    }

    func tokenizer() throws -> Tokenizer {
        try Tokenizer(tokenizerJSON: try json())
    }
}
