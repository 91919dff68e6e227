/// An entry of `added_tokens` in `tokenizer.json`.
public struct AddedToken: Sendable, Equatable {
    public let id: Int
    public let content: String
    /// Special tokens are removed by `decode(_:skipSpecialTokens: true)`.
    public let isSpecial: Bool
    /// Matched only when not glued to word characters on either side.
    public let isSingleWord: Bool
    /// Swallows the whitespace on its left / right when matched.
    public let stripsLeft: Bool
    public let stripsRight: Bool
    /// Matched in the normalized text (true) or in the raw text (false).
    public let isNormalized: Bool
}

/// Finds added tokens in text the way `tokenizers`' `AddedVocabulary` does: leftmost-longest
/// non-overlapping occurrences anywhere (an Aho-Corasick search), then the `single_word`, `lstrip` and `rstrip`
/// rules, and with `skipping` tokens that are found but left as plain text.
struct AddedTokenMatcher {
    struct Match {
        let range: Range<Int>
        let tokenIndex: Int
    }

    let tokens: [AddedToken]
    private let patterns: [[UInt8]]
    /// Trie: child of (node, byte) → node; `terminal[node]` = token index or -1.
    private var children: [Int: Int32] = [:]
    private var terminal: [Int32] = [-1]
    private var startsToken = [Bool](repeating: false, count: 256)

    /// `patterns[i]` is what token `i` looks like in the text it is matched against.
    init(tokens: [AddedToken], patterns: [[UInt8]]) {
        self.tokens = tokens
        self.patterns = patterns
        for (index, pattern) in patterns.enumerated() where !pattern.isEmpty {
            var node = 0
            for byte in pattern {
                let key = node << 8 | Int(byte)
                if let child = children[key] {
                    node = Int(child)
                } else {
                    terminal.append(-1)
                    children[key] = Int32(terminal.count - 1)
                    node = terminal.count - 1
                }
            }
            if terminal[node] < 0 { terminal[node] = Int32(index) }  // first of equal contents wins
            startsToken[Int(pattern[0])] = true
        }
    }

    var isEmpty: Bool { terminal.count == 1 }

    func matches(in text: UnsafeBufferPointer<UInt8>, range: Range<Int>,
                 skipping isSkipped: (AddedToken) -> Bool) -> [Match] {
        var result: [Match] = []
        var position = range.lowerBound
        var previousEnd = range.lowerBound
        while position < range.upperBound {
            guard startsToken[Int(text[position])], let (length, index) = longestMatch(in: text, at: position, end: range.upperBound) else {
                position += 1
                continue
            }
            let token = tokens[index]
            var start = position, stop = position + length
            position = stop
            if isSkipped(token) { continue }
            if token.isSingleWord {
                let wordBefore = start > range.lowerBound && UTF8Scanning.scalar(endingAt: start, in: text, from: range.lowerBound).map(Self.isWordCharacter) == true
                let wordAfter = stop < range.upperBound && UTF8Scanning.scalar(startingAt: stop, in: text, to: range.upperBound).map(Self.isWordCharacter) == true
                if wordBefore || wordAfter { continue }
            }
            if token.stripsLeft {
                while start > previousEnd, let scalar = UTF8Scanning.scalar(endingAt: start, in: text, from: previousEnd),
                      scalar.properties.isWhitespace {
                    start -= UTF8.width(scalar)
                }
            }
            if token.stripsRight {
                while stop < range.upperBound, let scalar = UTF8Scanning.scalar(startingAt: stop, in: text, to: range.upperBound),
                      scalar.properties.isWhitespace {
                    stop += UTF8.width(scalar)
                }
                position = stop
            }
            previousEnd = stop
            result.append(Match(range: start..<stop, tokenIndex: index))
        }
        return result
    }

    private func longestMatch(in text: UnsafeBufferPointer<UInt8>, at start: Int, end: Int) -> (Int, Int)? {
        var node = 0
        var best: (Int, Int)?
        var position = start
        while position < end, let child = children[node << 8 | Int(text[position])] {
            node = Int(child)
            position += 1
            if terminal[node] >= 0 { best = (position - start, Int(terminal[node])) }
        }
        return best
    }

    /// `\w` as Rust's regex crate defines it.
    private static func isWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
        let properties = scalar.properties
        if properties.isAlphabetic || properties.isJoinControl { return true }
        switch properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }
}

/// Reading single scalars out of valid UTF-8.
enum UTF8Scanning {
    static func scalar(startingAt index: Int, in text: UnsafeBufferPointer<UInt8>, to end: Int) -> Unicode.Scalar? {
        guard index < end else { return nil }
        var iterator = UnsafeBufferPointer(rebasing: text[index..<min(end, index + 4)]).makeIterator()
        var decoder = UTF8()
        if case let .scalarValue(scalar) = decoder.decode(&iterator) { return scalar }
        return nil
    }

    static func scalar(endingAt index: Int, in text: UnsafeBufferPointer<UInt8>, from start: Int) -> Unicode.Scalar? {
        guard index > start else { return nil }
        var lead = index - 1
        while lead > start, lead > index - 4, text[lead] & 0xC0 == 0x80 { lead -= 1 }
        return scalar(startingAt: lead, in: text, to: index)
    }
}
