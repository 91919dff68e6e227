import Foundation
import JSON

/// Reads the parts of a `tokenizer.json` into the pieces the tokenizer is made of, checking each one.
struct TokenizerFileReader {
    let file: String

    /// The file's JSON (strict RFC 8259, as `tokenizers`' serde_json reader is); a parse error names the file.
    func document(from data: Data) throws -> JSONValue {
        do {
            return try JSONValue.parse(data)
        } catch let failure as JSONParseError {
            throw TokenizerError.invalidJSON(file: file, offset: failure.offset, reason: failure.message)
        }
    }

    func invalid(_ field: String, _ reason: String) -> TokenizerError {
        .invalidField(file: file, field: field, reason: reason)
    }

    func unsupported(_ component: String, _ reason: String) -> TokenizerError {
        .unsupported(file: file, component: component, reason: reason)
    }

    // MARK: normalizer

    func normalizer(_ node: JSONValue?) throws -> Normalizer {
        guard let node, !node.isNull else { return Normalizer(forms: []) }
        return Normalizer(forms: try normalizationForms(node, field: "normalizer"))
    }

    private func normalizationForms(_ node: JSONValue, field: String) throws -> [Normalizer.Form] {
        guard let type = node["type"]?.string else { throw invalid(field, "missing 'type'") }
        if type == "Sequence" {
            guard let members = node["normalizers"]?.array else { throw invalid(field, "Sequence without 'normalizers'") }
            return try members.enumerated().flatMap { try normalizationForms($1, field: "\(field).normalizers[\($0)]") }
        }
        guard let form = Normalizer.Form(rawValue: type) else {
            throw unsupported("normalizer", "'\(type)' (supported: NFC, NFD, NFKC, NFKD, Sequence)")
        }
        return [form]
    }

    // MARK: pre-tokenizer

    func preTokenizer(_ node: JSONValue?) throws -> PreTokenizer {
        guard let node, !node.isNull else {
            throw unsupported("pre_tokenizer", "none; a byte-level BPE tokenizer needs a ByteLevel pre-tokenizer")
        }
        var steps: [JSONValue] = [node]
        if node["type"]?.string == "Sequence" {
            guard let members = node["pretokenizers"]?.array else {
                throw invalid("pre_tokenizer", "Sequence without 'pretokenizers'")
            }
            steps = members
        }
        var splits: [SplitStep] = []
        for (index, step) in steps.enumerated() {
            let field = "pre_tokenizer[\(index)]"
            switch step["type"]?.string {
            case "Split":
                splits.append(try splitStep(step, field: field))
            case "ByteLevel":
                guard index == steps.count - 1 else {
                    throw unsupported("pre_tokenizer", "ByteLevel must be the last step")
                }
                let usesRegex = step["use_regex"]?.bool ?? true
                return PreTokenizer(
                    splits: splits, addsPrefixSpace: step["add_prefix_space"]?.bool ?? true,
                    byteLevelSplit: usesRegex
                        ? SplitStep(pattern: GPT2StyleSplitPattern(), behavior: .isolated, invert: false) : nil)
            case let type?:
                throw unsupported("pre_tokenizer", "'\(type)' (supported: Sequence, Split, ByteLevel)")
            case nil:
                throw invalid(field, "missing 'type'")
            }
        }
        throw unsupported("pre_tokenizer", "no ByteLevel step; only byte-level BPE tokenizers are supported")
    }

    private func splitStep(_ node: JSONValue, field: String) throws -> SplitStep {
        let pattern: SplitPattern
        if let regex = node["pattern"]?["Regex"]?.string {
            pattern = try SplitPatterns.regex(regex, file: file)
        } else if let string = node["pattern"]?["String"]?.string {
            pattern = LiteralSplitPattern(needle: Array(string.utf8))
        } else {
            throw invalid("\(field).pattern", "expected {\"Regex\": ...} or {\"String\": ...}")
        }
        let behaviorName = node["behavior"]?.string ?? "Isolated"
        guard let behavior = SplitBehavior(rawValue: behaviorName) else {
            throw unsupported("Split behavior", "'\(behaviorName)'")
        }
        return SplitStep(pattern: pattern, behavior: behavior, invert: node["invert"]?.bool ?? false)
    }

    // MARK: decoder

    /// True for a ByteLevel decoder (alone or in a Sequence), false for none (tokens joined with spaces).
    func decodesBytes(_ node: JSONValue?) throws -> Bool {
        guard let node, !node.isNull else { return false }
        var steps = [node]
        if node["type"]?.string == "Sequence" { steps = node["decoders"]?.array ?? [] }
        guard !steps.isEmpty, steps.allSatisfy({ $0["type"]?.string == "ByteLevel" }) else {
            throw unsupported("decoder", "only ByteLevel (or none) is supported")
        }
        return true
    }

    // MARK: added tokens

    func addedTokens(_ node: JSONValue?) throws -> [AddedToken] {
        guard let node, !node.isNull else { return [] }
        guard let entries = node.array else { throw invalid("added_tokens", "expected an array") }
        return try entries.enumerated().map { index, entry in
            let field = "added_tokens[\(index)]"
            guard let id = entry["id"]?.int, id >= 0, id <= Int(Int32.max) else {
                throw invalid(field, "missing or invalid 'id'")
            }
            guard let content = entry["content"]?.string, !content.isEmpty else {
                throw invalid(field, "missing or empty 'content'")
            }
            let isSpecial = entry["special"]?.bool ?? false
            return AddedToken(
                id: id, content: content, isSpecial: isSpecial,
                isSingleWord: entry["single_word"]?.bool ?? false,
                stripsLeft: entry["lstrip"]?.bool ?? false,
                stripsRight: entry["rstrip"]?.bool ?? false,
                isNormalized: entry["normalized"]?.bool ?? !isSpecial)
        }
    }
}
