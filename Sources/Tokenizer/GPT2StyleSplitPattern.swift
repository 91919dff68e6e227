/// A hand-written matcher for GPT-2's split regex (the one the ByteLevel pre-tokenizer uses with `use_regex`):
///
///     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
struct GPT2StyleSplitPattern: SplitPattern {
    static let regex = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

    func appendMatches(in text: UnsafeBufferPointer<UInt8>, range: Range<Int>, to matches: inout [Range<Int>]) {
        var scalars = ScalarBuffer()
        scalars.load(text, range: range)
        var index = 0
        while index < scalars.count {
            let length = matchLength(at: index, scalars: scalars)
            if length > 0 {
                matches.append(scalars.offsets[index]..<scalars.offsets[index + length])
                index += length
            } else {
                index += 1
            }
        }
    }

    private func matchLength(at start: Int, scalars: ScalarBuffer) -> Int {
        let values = scalars.values, classes = scalars.classes, count = scalars.count
        if values[start] == 0x27, start + 1 < count {
            switch values[start + 1] {
            case 0x73, 0x74, 0x6D, 0x64: return 2
            case 0x72, 0x76: if start + 2 < count, values[start + 2] == 0x65 { return 3 }
            case 0x6C: if start + 2 < count, values[start + 2] == 0x6C { return 3 }
            default: break
            }
        }
        let letter = ScalarClass.letter, number = ScalarClass.number, whitespace = ScalarClass.whitespace
        // ` ?X+` for X = \p{L}, \p{N}, [^\s\p{L}\p{N}], in that order.
        func run(_ accepts: (UInt8) -> Bool) -> Int? {
            var end = start
            if values[start] == 0x20, start + 1 < count, accepts(classes[start + 1]) { end = start + 1 }
            guard accepts(classes[end]) else { return nil }
            while end < count, accepts(classes[end]) { end += 1 }
            return end - start
        }
        if let length = run({ $0 & letter != 0 }) { return length }
        if let length = run({ $0 & number != 0 }) { return length }
        if let length = run({ $0 & (letter | number | whitespace) == 0 }) { return length }
        guard classes[start] & whitespace != 0 else { return 0 }
        var runEnd = start + 1
        while runEnd < count, classes[runEnd] & whitespace != 0 { runEnd += 1 }
        if runEnd == count || runEnd - start == 1 { return runEnd - start }
        return runEnd - 1 - start
    }
}
