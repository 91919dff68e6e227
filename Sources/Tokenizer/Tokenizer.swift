import Foundation

/// Which added tokens `encode` recognises in the text.
public enum AddedTokenMatching: Sendable {
    /// Every added token (what `tokenizers` does by default).
    case all
    /// Only tokens not flagged special; special ones are encoded as plain text
    /// (`tokenizers`' `encode_special_tokens = True`).
    case nonSpecialOnly
    /// None: the whole text goes through the pre-tokenizer and BPE.
    case none
}

/// A Hugging Face byte-level BPE tokenizer read from `tokenizer.json`, giving the ids `tokenizers` gives.
/// Immutable after init; safe to share across threads.
///
/// Encoding: added tokens are found first (leftmost-longest, anywhere; `normalized: false` ones in the raw
/// text, the others after normalization), the text between them is normalized (none, NFC/NFD/NFKC/NFKD or a
/// Sequence), split by the pre-tokenizer (`Split` steps with the file's pattern, then `ByteLevel`) and each
/// piece BPE-encoded with the file's merges (`ignore_merges` honoured). The post-processor is not applied:
/// no BOS/EOS is added. Decoding maps tokens back to bytes (ByteLevel decoder) and reads them as UTF-8 with
/// U+FFFD for invalid sequences, like `tokenizers`.
/// Added-token ids are assigned as `tokenizers` assigns them (see `assigningIDs`), which for files it wrote
/// are the ids in the file.
public final class Tokenizer: @unchecked Sendable {
    /// Settings read from `tokenizer_config.json`, when the directory has one.
    public let configuration: TokenizerConfiguration?
    /// The added tokens of the file, in file order, with the ids they encode to.
    public let addedTokens: [AddedToken]
    /// One more than the largest id of the vocabulary and the added tokens.
    public let vocabularySize: Int

    private let normalizer: Normalizer
    private let preTokenizer: PreTokenizer
    private let model: BytePairModel
    /// Matchers for added tokens looked for in the raw text and in the normalized text.
    private let rawTokenMatcher: AddedTokenMatcher
    private let normalizedTokenMatcher: AddedTokenMatcher
    /// Token strings by id, added tokens taking precedence over vocabulary entries.
    private let tokenStrings: [String?]
    private let specialFlags: [Bool]
    private let otherVocabularyTokens: [String: Int]
    private let addedTokenIDs: [String: Int]
    /// What each id decodes to: `decodedBytes[decodedOffsets[id]..<decodedOffsets[id + 1]]`.
    private let decodedBytes: [UInt8]
    private let decodedOffsets: [Int]
    /// False when the file has no decoder: tokens are then joined with spaces, as `tokenizers` does.
    let decodesBytes: Bool

    /// Reads `directory/tokenizer.json` and, if present, `directory/tokenizer_config.json`.
    public convenience init(directory: URL) throws {
        let tokenizerURL = directory.appendingPathComponent("tokenizer.json")
        let data = try Self.read(tokenizerURL)
        let configURL = directory.appendingPathComponent("tokenizer_config.json")
        var configuration: TokenizerConfiguration?
        if FileManager.default.fileExists(atPath: configURL.path) {
            configuration = try TokenizerConfiguration(data: try Self.read(configURL), file: configURL.path)
        }
        try self.init(data: data, file: tokenizerURL.path, configuration: configuration)
    }

    public convenience init(tokenizerJSON: Data) throws {
        try self.init(data: tokenizerJSON, file: "tokenizer.json", configuration: nil)
    }

    private static func read(_ url: URL) throws -> Data {
        do {
            return try Data(contentsOf: url)
        } catch {
            let reason = FileManager.default.fileExists(atPath: url.path) ? "\(error.localizedDescription)" : "no such file"
            throw TokenizerError.unreadableFile(path: url.path, reason: reason)
        }
    }

    private init(data: Data, file: String, configuration: TokenizerConfiguration?) throws {
        let reader = TokenizerFileReader(file: file)
        let root = try reader.document(from: data)
        guard root.object != nil else { throw reader.invalid("(root)", "expected an object") }
        normalizer = try reader.normalizer(root["normalizer"])
        preTokenizer = try reader.preTokenizer(root["pre_tokenizer"])
        decodesBytes = try reader.decodesBytes(root["decoder"])
        let contents = try reader.bytePairModel(root["model"])
        model = contents.model
        otherVocabularyTokens = contents.otherTokens
        addedTokens = Self.assigningIDs(to: try reader.addedTokens(root["added_tokens"]), model: contents)
        self.configuration = configuration

        var strings = contents.tokens
        let largestAddedID = addedTokens.map(\.id).max() ?? -1
        if largestAddedID >= strings.count {
            strings.append(contentsOf: repeatElement(nil, count: largestAddedID + 1 - strings.count))
        }
        var special = [Bool](repeating: false, count: strings.count)
        var addedIDs: [String: Int] = [:]
        for token in addedTokens {
            strings[token.id] = token.content
            special[token.id] = token.isSpecial
            if addedIDs[token.content] == nil { addedIDs[token.content] = token.id }
        }
        tokenStrings = strings
        specialFlags = special
        addedTokenIDs = addedIDs
        vocabularySize = strings.count

        (decodedBytes, decodedOffsets) = Self.decodedBytes(of: strings)
        // Two passes, as in `tokenizers`: tokens with `normalized: false` in the raw text, then the others in
        // the normalized text between those matches (even when normalization changes nothing).
        let normalizer = self.normalizer
        let raw = addedTokens.filter { !$0.isNormalized }
        rawTokenMatcher = AddedTokenMatcher(tokens: raw, patterns: raw.map { Array($0.content.utf8) })
        let normalized = addedTokens.filter { $0.isNormalized }
        normalizedTokenMatcher = AddedTokenMatcher(
            tokens: normalized, patterns: normalized.map { Array(normalizer.normalize($0.content).utf8) })
    }

    /// The ids `tokenizers` gives added tokens (it does not trust the ids written in the file): a token whose
    /// content is already a vocabulary entry takes that entry's id; a new one takes the next id after the
    /// vocabulary (its entry count) or after the largest id given so far. For files `tokenizers` wrote
    /// itself this reproduces the ids in the file.
    private static func assigningIDs(to tokens: [AddedToken], model: BytePairModelContents) -> [AddedToken] {
        let vocabularyCount = model.entryCount
        var assigned: [String: Int] = [:]
        var largest: Int?
        var result: [AddedToken] = []
        for token in tokens where assigned[token.content] == nil {
            let id: Int
            if let existing = model.id(forToken: token.content) {
                id = existing
            } else if let largest, largest >= vocabularyCount || vocabularyCount == 0 {
                id = largest + 1
            } else {
                id = vocabularyCount
            }
            assigned[token.content] = id
            largest = max(largest ?? id, id)
            result.append(AddedToken(id: id, content: token.content, isSpecial: token.isSpecial,
                                     isSingleWord: token.isSingleWord, stripsLeft: token.stripsLeft,
                                     stripsRight: token.stripsRight, isNormalized: token.isNormalized))
        }
        return result
    }

    /// The ByteLevel decoder's view of a token: the bytes its characters stand for, or its own UTF-8 when a
    /// character is outside the byte alphabet (added tokens such as `<think>` are plain ASCII either way).
    private static func decodedBytes(of strings: [String?]) -> ([UInt8], [Int]) {
        var bytes: [UInt8] = []
        var offsets: [Int] = [0]
        offsets.reserveCapacity(strings.count + 1)
        for string in strings {
            if let string {
                let start = bytes.count
                if !TokenizerFileReader.appendBytes(of: string, to: &bytes) {
                    bytes.removeSubrange(start...)
                    bytes.append(contentsOf: string.utf8)
                }
            }
            offsets.append(bytes.count)
        }
        return (bytes, offsets)
    }

    // MARK: vocabulary

    public func id(forToken token: String) -> Int? {
        addedTokenIDs[token] ?? model.id(forToken: token, otherTokens: otherVocabularyTokens)
    }

    public func token(forID id: Int) -> String? {
        guard id >= 0, id < tokenStrings.count else { return nil }
        return tokenStrings[id]
    }

    public func isSpecial(_ id: Int) -> Bool {
        id >= 0 && id < specialFlags.count && specialFlags[id]
    }

    func isDecodable(_ id: Int) -> Bool {
        id >= 0 && id < tokenStrings.count && tokenStrings[id] != nil
    }

    // MARK: encoding

    /// The ids of `text`, with every added token matched (as `tokenizers` does by default); no BOS/EOS.
    public func encode(_ text: String) -> [Int] {
        encode(text, addedTokens: .all)
    }

    public func encode(_ text: String, addedTokens matching: AddedTokenMatching) -> [Int] {
        var text = text
        var encoder = WordEncoder(model: model)
        text.withUTF8 { bytes in
            let all = 0..<bytes.count
            guard matching != .none, !rawTokenMatcher.isEmpty else {
                encodeNormalizing(bytes, range: all, matching: matching, encoder: &encoder)
                return
            }
            var position = 0
            for match in rawTokenMatcher.matches(in: bytes, range: all, skipping: skipRule(matching)) {
                encodeNormalizing(bytes, range: position..<match.range.lowerBound, matching: matching, encoder: &encoder)
                encoder.output.append(rawTokenMatcher.tokens[match.tokenIndex].id)
                position = match.range.upperBound
            }
            encodeNormalizing(bytes, range: position..<bytes.count, matching: matching, encoder: &encoder)
        }
        return encoder.output
    }

    private func skipRule(_ matching: AddedTokenMatching) -> (AddedToken) -> Bool {
        matching == .nonSpecialOnly ? { $0.isSpecial } : { _ in false }
    }

    /// Normalizes a stretch of text between raw added tokens, then looks for normalized added tokens in it.
    private func encodeNormalizing(_ bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>,
                                   matching: AddedTokenMatching, encoder: inout WordEncoder) {
        guard !range.isEmpty else { return }
        guard !normalizer.isIdentity else {
            encodeMatchingNormalizedTokens(bytes, range: range, matching: matching, encoder: &encoder)
            return
        }
        var normalized = normalizer.normalize(String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self))
        normalized.withUTF8 { normalizedBytes in
            encodeMatchingNormalizedTokens(normalizedBytes, range: 0..<normalizedBytes.count, matching: matching,
                                           encoder: &encoder)
        }
    }

    private func encodeMatchingNormalizedTokens(_ bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>,
                                                matching: AddedTokenMatching, encoder: inout WordEncoder) {
        guard matching != .none, !normalizedTokenMatcher.isEmpty else {
            encodePlain(bytes, range: range, encoder: &encoder)
            return
        }
        var position = range.lowerBound
        for match in normalizedTokenMatcher.matches(in: bytes, range: range, skipping: skipRule(matching)) {
            encodePlain(bytes, range: position..<match.range.lowerBound, encoder: &encoder)
            encoder.output.append(normalizedTokenMatcher.tokens[match.tokenIndex].id)
            position = match.range.upperBound
        }
        encodePlain(bytes, range: position..<range.upperBound, encoder: &encoder)
    }

    /// Pre-tokenizes and BPE-encodes text that holds no added token.
    private func encodePlain(_ bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>, encoder: inout WordEncoder) {
        guard !range.isEmpty else { return }
        preTokenizer.forEachPreToken(in: bytes, range: range) { word in encoder.encode(word) }
    }

    // MARK: decoding

    /// The text of `ids`: token bytes concatenated and read as UTF-8, invalid sequences as U+FFFD.
    /// Unknown ids are ignored. With `skipSpecialTokens`, added tokens flagged special are left out.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        let kept = ids.filter { isDecodable($0) && !(skipSpecialTokens && isSpecial($0)) }
        guard decodesBytes else { return kept.compactMap { token(forID: $0) }.joined(separator: " ") }
        var bytes: [UInt8] = []
        for id in kept { appendBytes(of: id, to: &bytes) }
        return LossyUTF8.decode(bytes)
    }

    /// `decode(ids)` after checking that every id is in `0..<vocabularySize`.
    /// - Throws: `TokenizerError.idOutOfRange` naming the first id outside that range and its position.
    public func decode(validating ids: [Int], skipSpecialTokens: Bool = false) throws -> String {
        if let index = ids.firstIndex(where: { !(0..<vocabularySize).contains($0) }) {
            throw TokenizerError.idOutOfRange(id: ids[index], index: index, vocabularySize: vocabularySize)
        }
        return decode(ids, skipSpecialTokens: skipSpecialTokens)
    }

    func appendBytes(of id: Int, to bytes: inout [UInt8]) {
        bytes.append(contentsOf: decodedBytes[decodedOffsets[id]..<decodedOffsets[id + 1]])
    }

    public func makeStreamingDecoder(skipSpecialTokens: Bool = false) -> StreamingDecoder {
        StreamingDecoder(tokenizer: self, skipSpecialTokens: skipSpecialTokens)
    }
}
