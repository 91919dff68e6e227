import Foundation

/// A set of token ids (one bit per id).
public struct TokenMask: Equatable, Sendable {
    public private(set) var words: [UInt64]

    public init(vocabularySize: Int) {
        words = [UInt64](repeating: 0, count: (vocabularySize + 63) / 64)
    }

    init(words: [UInt64]) { self.words = words }

    public func contains(_ id: Int) -> Bool {
        id >= 0 && id >> 6 < words.count && words[id >> 6] & (1 << UInt64(id & 63)) != 0
    }

    public mutating func insert(_ id: Int) {
        guard id >= 0 && id >> 6 < words.count else { return }
        words[id >> 6] |= 1 << UInt64(id & 63)
    }

    public var count: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }

    public var isEmpty: Bool { words.allSatisfy { $0 == 0 } }
}

/// Computes which tokens may come next for a grammar and a vocabulary: a depth-first walk of the token trie
/// that carries the matcher's configurations along and prunes every prefix no configuration accepts. Masks
/// are cached by matcher position (shared by every request that uses this grammar; thread-safe).
public final class GrammarTokenMasker: @unchecked Sendable {
    public let grammar: Grammar
    public let trie: TokenTrie
    private let lock = NSLock()
    private var cache: [[Int32]: TokenMask] = [:]
    /// Masks kept per grammar (each is vocabulary/8 bytes: 19 KB for 151k tokens).
    public static let cacheLimit = 512

    public init(grammar: Grammar, trie: TokenTrie) {
        self.grammar = grammar
        self.trie = trie
    }

    /// The tokens whose bytes the matcher accepts from its position (stop tokens are not included: the
    /// document may end when `matcher.isComplete`).
    public func allowedTokens(for matcher: GrammarMatcher) -> TokenMask {
        let key = matcher.key
        lock.lock()
        if let cached = cache[key] {
            lock.unlock()
            return cached
        }
        lock.unlock()
        let mask = computeMask(matcher)
        lock.lock()
        if cache.count >= GrammarTokenMasker.cacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[key] = mask
        lock.unlock()
        return mask
    }

    /// Plain-token masks of the grammar's narrower character classes (`pattern` strings), by class and run.
    private var classMasks: [Int64: [UInt64]] = [:]

    private func plainMask(class index: Int, run: Int) -> [UInt64] {
        let characters = grammar.plainClasses[index]
        let longest = trie.plainUpTo.count - 1
        if characters == .all { return trie.plainUpTo[min(run, longest)] }
        let key = Int64(index) << 32 | Int64(min(run, longest))
        lock.lock()
        if let mask = classMasks[key] { lock.unlock(); return mask }
        lock.unlock()
        let mask = trie.plainMask(characters, run: min(run, longest))
        lock.lock()
        if classMasks.count >= 128 { classMasks.removeAll(keepingCapacity: true) }
        classMasks[key] = mask
        lock.unlock()
        return mask
    }

    /// The mask without the cache (for benchmarks and tests).
    public func computeMask(_ matcher: GrammarMatcher) -> TokenMask {
        var words = [UInt64](repeating: 0, count: (trie.vocabularySize + 63) / 64)
        // A configuration whose plain characters run along a chain takes the plain tokens short enough for the
        // chain at once, and only the other tokens are walked; the rest walk the whole trie. The mask is the
        // union over configurations.
        var chained: [Configuration] = [], walked: [Configuration] = []
        for c in matcher.configurations {
            let run = grammar.plainRun[Int(c.state)]
            guard run >= 0 else { walked.append(c); continue }
            chained.append(c)
            guard run > 0 else { continue }
            let plain = plainMask(class: Int(grammar.plainClass[Int(c.state)]), run: Int(run))
            for i in words.indices { words[i] |= plain[i] }
        }
        var walker = Walker(grammar: grammar, arena: matcher.arena)
        if !chained.isEmpty {
            walker.workspace = chained
            walker.walk(trie.nonPlain, node: 0, range: 0..<chained.count, mask: &words)
        }
        if !walked.isEmpty {
            walker.workspace = walked
            walker.walk(trie.all, node: 0, range: 0..<walked.count, mask: &words)
        }
        return TokenMask(words: words)
    }
}

private struct Walker {
    let grammar: Grammar
    let arena: StackArena
    var workspace: [Configuration] = []
    private var scratch: [Configuration] = []
    private var next: [Configuration] = []

    init(grammar: Grammar, arena: StackArena) {
        self.grammar = grammar
        self.arena = arena
        workspace.reserveCapacity(4096)
    }

    mutating func walk(_ trie: Trie, node: Int, range: Range<Int>, mask: inout [UInt64]) {
        let first = Int(trie.childOffsets[node]), last = Int(trie.childOffsets[node + 1])
        var edge = first
        while edge < last {
            let byte = trie.childBytes[edge]
            let child = Int(trie.childNodes[edge])
            edge += 1
            let mark = workspace.count
            // Single plain configuration: a table lookup (the common case inside strings and numbers).
            if range.count == 1 {
                let c = workspace[range.lowerBound]
                let target = grammar.next(c.state, byte)
                if target < 0 { continue }
                if grammar.isPlain[Int(target)] {
                    workspace.append(Configuration(state: target, stack: c.stack))
                } else {
                    GrammarMatcher.close(Configuration(state: target, stack: c.stack), grammar: grammar, arena: arena,
                                         into: &workspace, segmentStart: mark, work: &scratch)
                }
            } else {
                next.removeAll(keepingCapacity: true)
                GrammarMatcher.step(workspace[range], byte, grammar: grammar, arena: arena, into: &next, work: &scratch)
                workspace.append(contentsOf: next)
            }
            if workspace.count == mark { continue }
            let tokensStart = Int(trie.tokenOffsets[child]), tokensEnd = Int(trie.tokenOffsets[child + 1])
            for i in tokensStart..<tokensEnd {
                let id = Int(trie.tokenIDs[i])
                mask[id >> 6] |= 1 << UInt64(id & 63)
            }
            if trie.childOffsets[child] < trie.childOffsets[child + 1] {
                walk(trie, node: child, range: mark..<workspace.count, mask: &mask)
            }
            workspace.removeLast(workspace.count - mark)
        }
    }
}
