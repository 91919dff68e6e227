/// A tokenizer's vocabulary as byte tries, for computing which tokens may come next.
///
/// Tokens are given as their bytes (a byte-level BPE token decodes to bytes, not necessarily whole UTF-8
/// characters). Tokens marked excluded (special and added tokens such as `<think>`, whose text the chat
/// parser treats as structure) and empty ones are never allowed by a grammar.
///
/// Two tries: `all` holds every allowed token; `nonPlain` holds only the tokens that are not plain text, where
/// plain means every byte is an unescaped JSON string character (ASCII 0x20–0x7F but `"` and `\`, or part of a
/// well-formed multi-byte UTF-8 sequence that ends inside the token). In a free-text string state every plain
/// token is accepted and leads back to that state, so only the `nonPlain` trie needs walking there.
public final class TokenTrie: @unchecked Sendable {
    public let vocabularySize: Int
    let all: Trie
    let nonPlain: Trie
    /// `plainUpTo[n]`: bit mask of the plain tokens of at most `n` characters (the last entry: all of them).
    let plainUpTo: [[UInt64]]
    let plainCount: Int
    /// Every plain token: its id, character count, the ASCII characters it uses (bits) and whether it has
    /// multi-byte ones — for the masks of narrower character classes (`plainMask`).
    let plainIDs: [Int32]
    let plainCharacters: [Int32]
    let plainLow: [UInt64]
    let plainHigh: [UInt64]
    let plainNonASCII: [Bool]

    /// - Parameters:
    ///   - tokens: the bytes of every token id (index = id).
    ///   - excluded: ids that a grammar never allows.
    public init(tokens: [[UInt8]], excluded: Set<Int>) {
        vocabularySize = tokens.count
        let words = (tokens.count + 63) / 64
        var byLength: [[Int]] = []
        var allIDs: [Int] = [], otherIDs: [Int] = []
        var plainCount = 0
        var ids: [Int32] = [], counts: [Int32] = [], lows: [UInt64] = [], highs: [UInt64] = [], multi: [Bool] = []
        for (id, bytes) in tokens.enumerated() where !bytes.isEmpty && !excluded.contains(id) {
            allIDs.append(id)
            if TokenTrie.isPlain(bytes) {
                let characters = bytes.reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) }
                var low: UInt64 = 0, high: UInt64 = 0
                for b in bytes where b < 0x80 {
                    if b < 64 { low |= 1 << UInt64(b) } else { high |= 1 << UInt64(b - 64) }
                }
                ids.append(Int32(id))
                counts.append(Int32(characters))
                lows.append(low)
                highs.append(high)
                multi.append(bytes.contains { $0 >= 0x80 })
                while byLength.count <= characters { byLength.append([]) }
                byLength[characters].append(id)
                plainCount += 1
            } else {
                otherIDs.append(id)
            }
        }
        var masks: [[UInt64]] = []
        var running = [UInt64](repeating: 0, count: words)
        for ids in byLength {
            for id in ids { running[id >> 6] |= 1 << UInt64(id & 63) }
            masks.append(running)
        }
        if masks.isEmpty { masks.append(running) }
        plainUpTo = masks
        self.plainCount = plainCount
        plainIDs = ids
        plainCharacters = counts
        plainLow = lows
        plainHigh = highs
        plainNonASCII = multi
        all = Trie(tokens: tokens, ids: allIDs)
        nonPlain = Trie(tokens: tokens, ids: otherIDs)
    }

    /// The plain tokens of at most `run` characters that stay within `characters`.
    func plainMask(_ characters: PlainClass, run: Int) -> [UInt64] {
        if characters == .all { return plainUpTo[min(run, plainUpTo.count - 1)] }
        var words = [UInt64](repeating: 0, count: (vocabularySize + 63) / 64)
        for i in plainIDs.indices where Int(plainCharacters[i]) <= run
            && characters.contains(low: plainLow[i], high: plainHigh[i], usesNonASCII: plainNonASCII[i]) {
            let id = Int(plainIDs[i])
            words[id >> 6] |= 1 << UInt64(id & 63)
        }
        return words
    }

    /// Nodes in the trie of all tokens (for benchmarks).
    public var nodeCount: Int { all.childOffsets.count - 1 }

    static func isPlain(_ bytes: [UInt8]) -> Bool {
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b < 0x80 {
                guard b >= 0x20 && b != 0x22 && b != 0x5C else { return false }
                i += 1
                continue
            }
            let length: Int
            var second: ClosedRange<UInt8> = 0x80...0xBF
            switch b {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; second = 0xA0...0xBF
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; second = 0x80...0x9F
            case 0xF0: length = 4; second = 0x90...0xBF
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; second = 0x80...0x8F
            default: return false
            }
            guard i + length <= bytes.count, second.contains(bytes[i + 1]) else { return false }
            for k in 2..<length where !(0x80...0xBF).contains(bytes[i + k]) { return false }
            i += length
        }
        return true
    }
}

/// A byte trie in flat arrays, numbered breadth-first. Node 0 is the root. Children of node `n` are
/// `childBytes/childNodes[childOffsets[n]..<childOffsets[n + 1]]` (by byte); the tokens whose bytes end at `n`
/// are `tokenIDs[tokenOffsets[n]..<tokenOffsets[n + 1]]`.
struct Trie {
    var childOffsets: [Int32] = [0]
    var childBytes: [UInt8] = []
    var childNodes: [Int32] = []
    var tokenOffsets: [Int32] = [0]
    var tokenIDs: [Int32] = []

    init(tokens: [[UInt8]], ids: [Int]) {
        // Sorted by bytes, the tokens under any node form one contiguous range; each node's range splits into
        // the tokens ending there (they sort first) and one run per next byte.
        let order = ids.sorted { tokens[$0].lexicographicallyPrecedes(tokens[$1]) }
        var queue: [(range: Range<Int>, depth: Int)] = [(0..<order.count, 0)]
        var head = 0
        while head < queue.count {
            let (range, depth) = queue[head]
            head += 1
            var i = range.lowerBound
            while i < range.upperBound && tokens[order[i]].count == depth {
                tokenIDs.append(Int32(order[i]))
                i += 1
            }
            while i < range.upperBound {
                let byte = tokens[order[i]][depth]
                var j = i + 1
                while j < range.upperBound && tokens[order[j]][depth] == byte { j += 1 }
                childBytes.append(byte)
                childNodes.append(Int32(queue.count))
                queue.append((i..<j, depth + 1))
                i = j
            }
            childOffsets.append(Int32(childBytes.count))
            tokenOffsets.append(Int32(tokenIDs.count))
        }
    }
}
