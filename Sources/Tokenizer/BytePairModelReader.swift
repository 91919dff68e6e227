import JSON

/// The `model` part of `tokenizer.json`: a BPE vocabulary and merge list.
struct BytePairModelContents {
    /// Token strings by id (nil where the vocabulary has a hole).
    var tokens: [String?]
    var model: BytePairModel
    /// Vocabulary tokens whose characters are not all byte-level characters (BPE never produces them).
    var otherTokens: [String: Int]
    /// The number of vocabulary entries.
    var entryCount: Int

    func id(forToken token: String) -> Int? {
        model.id(forToken: token, otherTokens: otherTokens)
    }
}

extension BytePairModel {
    /// The vocabulary id of a byte-level token string.
    func id(forToken token: String, otherTokens: [String: Int]) -> Int? {
        var bytes: [UInt8] = []
        if TokenizerFileReader.appendBytes(of: token, to: &bytes), let id = vocabulary.value(for: bytes) { return id }
        return otherTokens[token]
    }
}

extension TokenizerFileReader {
    func bytePairModel(_ node: JSONValue?) throws -> BytePairModelContents {
        guard let node else { throw invalid("model", "missing") }
        let type = node["type"]?.string ?? (node["merges"] != nil ? "BPE" : nil)
        guard type == "BPE" else {
            throw unsupported("model", "'\(type ?? "unknown")' (only BPE is supported)")
        }
        try checkUnsupportedOptions(node)
        guard let vocabulary = node["vocab"]?.object else { throw invalid("model.vocab", "expected an object") }
        guard let merges = node["merges"]?.array else { throw invalid("model.merges", "expected an array") }

        var tokens: [String?] = []
        var table = ByteSequenceTable(minimumCapacity: vocabulary.count)
        var otherTokens: [String: Int] = [:]
        var scratch: [UInt8] = []
        for (token, value) in vocabulary {
            guard let id = value.int, id >= 0, id < Self.maximumID else {
                throw invalid("model.vocab", "token \(token) has an invalid id (0..<\(Self.maximumID) expected)")
            }
            if id >= tokens.count { tokens.append(contentsOf: repeatElement(nil, count: id + 1 - tokens.count)) }
            tokens[id] = token
            scratch.removeAll(keepingCapacity: true)
            if Self.appendBytes(of: token, to: &scratch) {
                table.set(id, for: scratch)
            } else {
                otherTokens[token] = id
            }
        }

        var byteIDs = [Int32](repeating: -1, count: 256)
        for byte in 0..<256 {
            if let id = table.value(for: [UInt8(byte)]) { byteIDs[byte] = Int32(id) }
        }
        try checkEveryByteEncodable(byteIDs)

        var mergeTable = MergeTable(minimumCapacity: merges.count)
        for (rank, merge) in merges.enumerated() {
            let (left, right) = try mergeParts(merge, rank: rank)
            let leftID = try id(of: left, table: table, otherTokens: otherTokens, scratch: &scratch, rank: rank)
            let rightID = try id(of: right, table: table, otherTokens: otherTokens, scratch: &scratch, rank: rank)
            let mergedID = try id(of: left + right, table: table, otherTokens: otherTokens, scratch: &scratch, rank: rank)
            mergeTable.set(MergeTable.Merge(rank: Int32(rank), mergedID: Int32(mergedID)),
                           left: Int32(leftID), right: Int32(rightID))
        }

        let model = BytePairModel(vocabulary: table, byteIDs: byteIDs, merges: mergeTable,
                                  ignoresMerges: node["ignore_merges"]?.bool ?? false)
        return BytePairModelContents(tokens: tokens, model: model, otherTokens: otherTokens,
                                     entryCount: table.count + otherTokens.count)
    }

    /// Byte-level BPE starts every word from single-byte tokens, so a vocabulary without the symbol of some
    /// byte would silently drop that byte from the ids; such a file is refused.
    private func checkEveryByteEncodable(_ byteIDs: [Int32]) throws {
        let missing = byteIDs.indices.filter { byteIDs[$0] < 0 }
        guard !missing.isEmpty else { return }
        let shown = missing.prefix(8).map { byte in
            let symbol = ByteLevelAlphabet.string(of: [UInt8(byte)])
            let hex = String(byte, radix: 16, uppercase: true)
            return "'\(symbol)' (byte 0x\(hex.count == 1 ? "0" + hex : hex))"
        }
        let more = missing.count > shown.count ? ", ..." : ""
        throw invalid("model.vocab", "lacks the byte-level symbols of \(missing.count) of the 256 bytes: "
                      + shown.joined(separator: ", ") + more + "; every byte must have a token")
    }

    /// Ids are array indices here; a bound keeps a corrupt file from asking for a huge allocation.
    static let maximumID = 1 << 24

    private func checkUnsupportedOptions(_ node: JSONValue) throws {
        if node["byte_fallback"]?.bool == true {
            throw unsupported("model option", "byte_fallback (byte-level BPE needs none)")
        }
        if let value = node["dropout"]?.double, value > 0 {
            throw unsupported("model option", "dropout \(value) (only deterministic BPE is supported)")
        }
        for option in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let value = node[option]?.string, !value.isEmpty {
                throw unsupported("model option", "\(option) '\(value)'")
            }
        }
    }

    /// A merge is `"left right"` (older files) or `["left", "right"]`.
    private func mergeParts(_ merge: JSONValue, rank: Int) throws -> (String, String) {
        if let line = merge.string {
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw invalid("model.merges[\(rank)]", "expected two tokens, got '\(line)'") }
            return (String(parts[0]), String(parts[1]))
        }
        if let pair = merge.array, pair.count == 2, let left = pair[0].string, let right = pair[1].string {
            return (left, right)
        }
        throw invalid("model.merges[\(rank)]", "expected \"a b\" or [\"a\", \"b\"]")
    }

    private func id(of token: String, table: ByteSequenceTable, otherTokens: [String: Int],
                    scratch: inout [UInt8], rank: Int) throws -> Int {
        scratch.removeAll(keepingCapacity: true)
        if Self.appendBytes(of: token, to: &scratch), let id = table.value(for: scratch) { return id }
        if let id = otherTokens[token] { return id }
        throw invalid("model.merges[\(rank)]", "token '\(token)' is not in the vocabulary")
    }

    /// Appends the bytes a byte-level token stands for; false if a character is outside the byte alphabet.
    static func appendBytes(of token: String, to bytes: inout [UInt8]) -> Bool {
        for scalar in token.unicodeScalars {
            guard let byte = ByteLevelAlphabet.byte(for: scalar) else { return false }
            bytes.append(byte)
        }
        return true
    }
}
