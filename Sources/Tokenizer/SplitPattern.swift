import Foundation

/// Something that finds the non-overlapping matches of a split pattern in a UTF-8 text range, left to right
/// (the matches a regex `find_iter` would report). Ranges are byte offsets into the text.
protocol SplitPattern {
    func appendMatches(in text: UnsafeBufferPointer<UInt8>, range: Range<Int>, to matches: inout [Range<Int>])
}

/// Builds the matcher for a `Split` pattern: the hand-written matchers for the GPT-4/GLM and GPT-2 regex
/// families, ICU (`NSRegularExpression`) for any other regex, and a substring search for string patterns.
enum SplitPatterns {
    static func regex(_ pattern: String, file: String) throws -> SplitPattern {
        if let matcher = GPT4StyleSplitPattern(regex: pattern) { return matcher }
        if pattern == GPT2StyleSplitPattern.regex { return GPT2StyleSplitPattern() }
        return try ICURegexSplitPattern(pattern: pattern, file: file)
    }
}

/// A literal string pattern (`{"String": "..."}`).
struct LiteralSplitPattern: SplitPattern {
    let needle: [UInt8]

    func appendMatches(in text: UnsafeBufferPointer<UInt8>, range: Range<Int>, to matches: inout [Range<Int>]) {
        guard let first = needle.first else { return }
        var index = range.lowerBound
        while index + needle.count <= range.upperBound {
            if text[index] == first, needle.indices.allSatisfy({ text[index + $0] == needle[$0] }) {
                matches.append(index..<(index + needle.count))
                index += needle.count
            } else {
                index += 1
            }
        }
    }
}

/// Any other regex, run by ICU. ICU and Oniguruma (which `tokenizers` uses) agree on the usual syntax
/// (`\p{L}`, `(?i:…)`, look-ahead); this is the slow, general path.
struct ICURegexSplitPattern: SplitPattern {
    let expression: NSRegularExpression

    init(pattern: String, file: String) throws {
        do {
            expression = try NSRegularExpression(pattern: pattern, options: [])
        } catch {
            throw TokenizerError.unsupported(file: file, component: "Split regex",
                                             reason: "ICU cannot compile \(pattern): \(error)")
        }
    }

    func appendMatches(in text: UnsafeBufferPointer<UInt8>, range: Range<Int>, to matches: inout [Range<Int>]) {
        let string = String(decoding: UnsafeBufferPointer(rebasing: text[range]), as: UTF8.self)
        let whole = NSRange(location: 0, length: string.utf16.count)
        // Match ranges are UTF-16 offsets; walk the string once to turn them into UTF-8 offsets (a range may
        // start inside a grapheme cluster, so `Range(_:in:)` cannot be used).
        var index = string.startIndex
        var utf16Offset = 0
        var utf8Offset = range.lowerBound
        func advance(toUTF16 target: Int) {
            let next = string.utf16.index(index, offsetBy: target - utf16Offset)
            utf8Offset += string.utf8.distance(from: index, to: next)
            index = next
            utf16Offset = target
        }
        for result in expression.matches(in: string, options: [], range: whole) where result.range.length > 0 {
            advance(toUTF16: result.range.location)
            let start = utf8Offset
            advance(toUTF16: result.range.location + result.range.length)
            matches.append(start..<utf8Offset)
        }
    }
}
