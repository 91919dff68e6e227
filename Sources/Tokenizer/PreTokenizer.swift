/// How a `Split` pre-tokenizer treats the pattern's matches (`tokenizers`' `SplitDelimiterBehavior`).
enum SplitBehavior: String {
    case isolated = "Isolated"
    case removed = "Removed"
    case mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext"
    case contiguous = "Contiguous"
}

/// One `Split` step: cuts every piece at the pattern's matches.
struct SplitStep {
    let pattern: SplitPattern
    let behavior: SplitBehavior
    let invert: Bool

    /// Appends the pieces `text[range]` splits into.
    func split(_ text: UnsafeBufferPointer<UInt8>, range: Range<Int>, into pieces: inout [Range<Int>]) {
        var matches: [Range<Int>] = []
        pattern.appendMatches(in: text, range: range, to: &matches)
        var marked: [(range: Range<Int>, isMatch: Bool)] = []
        marked.reserveCapacity(matches.count * 2 + 1)
        var previousEnd = range.lowerBound
        for match in matches {
            if match.lowerBound > previousEnd { marked.append((previousEnd..<match.lowerBound, invert)) }
            marked.append((match, !invert))
            previousEnd = match.upperBound
        }
        if previousEnd < range.upperBound { marked.append((previousEnd..<range.upperBound, invert)) }
        apply(marked, into: &pieces)
    }

    private func apply(_ marked: [(range: Range<Int>, isMatch: Bool)], into pieces: inout [Range<Int>]) {
        switch behavior {
        case .isolated:
            for piece in marked { pieces.append(piece.range) }
        case .removed:
            for piece in marked where !piece.isMatch { pieces.append(piece.range) }
        case .mergedWithPrevious, .contiguous:
            let first = pieces.count
            var previousWasMatch = false
            for piece in marked {
                let joins = behavior == .contiguous ? piece.isMatch == previousWasMatch
                                                    : piece.isMatch && !previousWasMatch
                if joins, pieces.count > first {
                    pieces[pieces.count - 1] = pieces[pieces.count - 1].lowerBound..<piece.range.upperBound
                } else {
                    pieces.append(piece.range)
                }
                previousWasMatch = piece.isMatch
            }
        case .mergedWithNext:
            var reversed: [Range<Int>] = []
            var previousWasMatch = false
            for piece in marked.reversed() {
                if piece.isMatch && !previousWasMatch, let last = reversed.last {
                    reversed[reversed.count - 1] = piece.range.lowerBound..<last.upperBound
                } else {
                    reversed.append(piece.range)
                }
                previousWasMatch = piece.isMatch
            }
            pieces.append(contentsOf: reversed.reversed())
        }
    }
}

/// The pre-tokenizer of a byte-level BPE tokenizer: any `Split` steps, then the `ByteLevel` step
/// (optionally a leading space per piece, optionally GPT-2's split regex). The byte-to-character mapping of
/// ByteLevel needs no work here: the BPE model works on bytes directly.
struct PreTokenizer {
    let splits: [SplitStep]
    let addsPrefixSpace: Bool
    let byteLevelSplit: SplitStep?

    /// Calls `body` with each pre-token's bytes, in order.
    func forEachPreToken(in text: UnsafeBufferPointer<UInt8>, range: Range<Int>,
                         _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        var pieces = [range]
        for step in splits {
            var next: [Range<Int>] = []
            next.reserveCapacity(pieces.count)
            for piece in pieces { step.split(text, range: piece, into: &next) }
            pieces = next
        }
        for piece in pieces where !piece.isEmpty {
            if addsPrefixSpace, text[piece.lowerBound] != 0x20 {
                var prefixed: [UInt8] = [0x20]
                prefixed.append(contentsOf: UnsafeBufferPointer(rebasing: text[piece]))
                prefixed.withUnsafeBufferPointer { finish($0, range: 0..<$0.count, body) }
            } else {
                finish(text, range: piece, body)
            }
        }
    }

    private func finish(_ text: UnsafeBufferPointer<UInt8>, range: Range<Int>,
                        _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        guard let byteLevelSplit else {
            body(UnsafeBufferPointer(rebasing: text[range]))
            return
        }
        var pieces: [Range<Int>] = []
        byteLevelSplit.split(text, range: range, into: &pieces)
        for piece in pieces where !piece.isEmpty { body(UnsafeBufferPointer(rebasing: text[piece])) }
    }
}
