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
    /// Bit mask of the plain tokens.
    let plainTokens: [UInt64]
    let plainCount: Int

    /// - Parameters:
    ///   - tokens: the bytes of every token id (index = id).
    ///   - excluded: ids that a grammar never allows.
    public init(tokens: [[UInt8]], excluded: Set<Int>) {
        vocabularySize = tokens.count
        var plainMask = [UInt64](repeating: 0, count: (tokens.count + 63) / 64)
        var allIDs: [Int] = [], otherIDs: [Int] = []
        var plainCount = 0
        for (id, bytes) in tokens.enumerated() where !bytes.isEmpty && !excluded.contains(id) {
            allIDs.append(id)
            if TokenTrie.isPlain(bytes) {
                plainMask[id >> 6] |= 1 << UInt64(id & 63)
                plainCount += 1
            } else {
                otherIDs.append(id)
            }
        }
        plainTokens = plainMask
        self.plainCount = plainCount
        all = Trie(tokens: tokens, ids: allIDs)
        nonPlain = Trie(tokens: tokens, ids: otherIDs)
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

/// A byte trie in flat arrays. Node 0 is the root. Children of node `n` are
/// `childBytes/childNodes[childOffsets[n]..<childOffsets[n + 1]]`; the tokens whose bytes end at `n` are
/// `tokenIDs[tokenOffsets[n]..<tokenOffsets[n + 1]]`.
struct Trie {
    var childOffsets: [Int32] = []
    var childBytes: [UInt8] = []
    var childNodes: [Int32] = []
    var tokenOffsets: [Int32] = []
    var tokenIDs: [Int32] = []

    init(tokens: [[UInt8]], ids: [Int]) {
        // Build with per-node dictionaries, then flatten breadth-first.
        var children: [[UInt8: Int]] = [[:]]
        var ending: [[Int]] = [[]]
        for id in ids {
            var node = 0
            for b in tokens[id] {
                if let child = children[node][b] {
                    node = child
                } else {
                    children.append([:])
                    ending.append([])
                    children[node][b] = children.count - 1
                    node = children.count - 1
                }
            }
            ending[node].append(id)
        }
        var order = [0]
        var newID = [Int](repeating: 0, count: children.count)
        var head = 0
        while head < order.count {
            let node = order[head]
            head += 1
            for (_, child) in children[node].sorted(by: { $0.key < $1.key }) {
                newID[child] = order.count
                order.append(child)
            }
        }
        childOffsets = [0]
        tokenOffsets = [0]
        for node in order {
            for (b, child) in children[node].sorted(by: { $0.key < $1.key }) {
                childBytes.append(b)
                childNodes.append(Int32(newID[child]))
            }
            childOffsets.append(Int32(childBytes.count))
            tokenIDs.append(contentsOf: ending[node].map(Int32.init))
            tokenOffsets.append(Int32(tokenIDs.count))
        }
    }
}
