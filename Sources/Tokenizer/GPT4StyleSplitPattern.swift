/// A hand-written matcher for the GPT-4 ("cl100k") split regex family that GLM-4, Llama 3 and Qwen 2 use:
///
///     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
///
/// with any quantifier on `\p{N}` (`{1,3}`, `{1}` or none for digit-by-digit splitting, `+`, `{n}`, `{n,m}`).
/// Alternatives are tried in order at each position, as a backtracking regex engine does.
struct GPT4StyleSplitPattern: SplitPattern {
    static let prefix = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"#
    static let suffix = #"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    let minimumDigits: Int
    let maximumDigits: Int

    /// Recognises a regex of the family; nil for anything else.
    init?(regex: String) {
        guard regex.hasPrefix(Self.prefix), regex.hasSuffix(Self.suffix),
              regex.utf8.count >= Self.prefix.utf8.count + Self.suffix.utf8.count else { return nil }
        let quantifier = String(regex.dropFirst(Self.prefix.count).dropLast(Self.suffix.count))
        guard let bounds = Self.bounds(ofQuantifier: quantifier) else { return nil }
        (minimumDigits, maximumDigits) = bounds
    }

    /// `""` → 1…1, `+` → 1…∞, `{n}` → n…n, `{n,}` → n…∞, `{n,m}` → n…m.
    private static func bounds(ofQuantifier quantifier: String) -> (Int, Int)? {
        if quantifier.isEmpty { return (1, 1) }
        if quantifier == "+" { return (1, Int.max) }
        guard quantifier.hasPrefix("{"), quantifier.hasSuffix("}") else { return nil }
        let parts = quantifier.dropFirst().dropLast().split(separator: ",", omittingEmptySubsequences: false)
        guard let lower = parts.first.flatMap({ Int($0) }), lower >= 1 else { return nil }
        switch parts.count {
        case 1: return (lower, lower)
        case 2 where parts[1].isEmpty: return (lower, Int.max)
        case 2: guard let upper = Int(parts[1]), upper >= lower else { return nil }; return (lower, upper)
        default: return nil
        }
    }

    func appendMatches(in text: UnsafeBufferPointer<UInt8>, range: Range<Int>, to matches: inout [Range<Int>]) {
        var scalars = ScalarBuffer()
        scalars.load(text, range: range)
        scalars.values.withUnsafeBufferPointer { values in
            scalars.classes.withUnsafeBufferPointer { classes in
                var index = 0
                while index < values.count {
                    let length = matchLength(at: index, values: values, classes: classes)
                    if length > 0 {
                        matches.append(scalars.offsets[index]..<scalars.offsets[index + length])
                        index += length
                    } else {
                        index += 1
                    }
                }
            }
        }
    }

    /// The length in scalars of the match starting at `start`, 0 if none starts there.
    private func matchLength(at start: Int, values: UnsafeBufferPointer<UInt32>,
                             classes: UnsafeBufferPointer<UInt8>) -> Int {
        let count = values.count
        let letter = ScalarClass.letter, number = ScalarClass.number
        let whitespace = ScalarClass.whitespace, lineBreak = ScalarClass.lineBreak
        let first = classes[start]

        // (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if values[start] == 0x27, let length = Self.contractionLength(values, after: start) { return length }

        // [^\r\n\p{L}\p{N}]?\p{L}+
        var end = start
        if first & letter != 0 {
            end = start + 1
        } else if first & (letter | number | lineBreak) == 0, start + 1 < count, classes[start + 1] & letter != 0 {
            end = start + 2
        }
        if end > start {
            while end < count, classes[end] & letter != 0 { end += 1 }
            return end - start
        }

        // \p{N}{min,max}
        if first & number != 0 {
            end = start
            while end < count, end - start < maximumDigits, classes[end] & number != 0 { end += 1 }
            if end - start >= minimumDigits { return end - start }
        }

        //  ?[^\s\p{L}\p{N}]+[\r\n]*
        let other = letter | number | whitespace
        end = start
        if values[start] == 0x20, start + 1 < count, classes[start + 1] & other == 0 {
            end = start + 1
        }
        if classes[end] & other == 0 {
            while end < count, classes[end] & other == 0 { end += 1 }
            while end < count, classes[end] & lineBreak != 0 { end += 1 }
            return end - start
        }

        guard first & whitespace != 0 else { return 0 }
        var runEnd = start + 1
        while runEnd < count, classes[runEnd] & whitespace != 0 { runEnd += 1 }
        // \s*[\r\n]+ : up to and including the last line break of the whitespace run
        var last = runEnd - 1
        while last >= start, classes[last] & lineBreak == 0 { last -= 1 }
        if last >= start { return last + 1 - start }
        // \s+(?!\S) : the run, minus its last character when a non-space follows
        if runEnd == count { return runEnd - start }
        if runEnd - start >= 2 { return runEnd - 1 - start }
        // \s+
        return runEnd - start
    }

    /// `'s 't 're 've 'm 'll 'd`, case-insensitively (Unicode simple case folding: `ſ` folds to `s`).
    private static func contractionLength(_ values: UnsafeBufferPointer<UInt32>, after apostrophe: Int) -> Int? {
        func folded(_ index: Int) -> UInt32? {
            guard index < values.count else { return nil }
            let value = values[index]
            if value == 0x17F { return 0x73 }  // ſ
            if (0x41...0x5A).contains(value) { return value + 0x20 }
            return value
        }
        guard let next = folded(apostrophe + 1) else { return nil }
        switch next {
        case 0x73, 0x74, 0x6D, 0x64: return 2  // s t m d
        case 0x72, 0x76: return folded(apostrophe + 2) == 0x65 ? 3 : nil  // re ve
        case 0x6C: return folded(apostrophe + 2) == 0x6C ? 3 : nil  // ll
        default: return nil
        }
    }
}
