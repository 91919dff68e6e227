/// A position of the matcher: a state of some rule and the stack of return states below it.
struct Configuration: Hashable {
    var state: Int32
    /// Id of the stack in the matcher's `StackArena`; -1 is the empty stack (the root rule).
    var stack: Int32
}

/// Stacks of return states, hash-consed: a stack is (top return state, id of the stack below), so pushing and
/// popping never copy, and equal stacks have equal ids within one arena.
final class StackArena {
    private(set) var tops: [Int32] = []
    private(set) var rests: [Int32] = []
    private var ids: [Int64: Int32] = [:]

    func push(_ state: Int32, onto rest: Int32) -> Int32 {
        let key = Int64(state) << 32 | Int64(UInt32(bitPattern: rest))
        if let id = ids[key] { return id }
        let id = Int32(tops.count)
        tops.append(state)
        rests.append(rest)
        ids[key] = id
        return id
    }

    /// The return states of `stack`, top first.
    func unwound(_ stack: Int32) -> [Int32] {
        var out: [Int32] = []
        var s = stack
        while s >= 0 {
            out.append(tops[Int(s)])
            s = rests[Int(s)]
        }
        return out
    }
}

/// Runs a `Grammar` over bytes. The current position is a set of configurations (more than one while the text
/// read so far fits several alternatives), always closed: every pending call is entered and every rule that
/// may end has also returned. A byte is accepted when at least one configuration reads it.
public struct GrammarMatcher {
    public let grammar: Grammar
    let arena: StackArena
    private(set) var configurations: [Configuration]

    public init(grammar: Grammar) {
        self.grammar = grammar
        self.arena = StackArena()
        var start: [Configuration] = []
        GrammarMatcher.close(Configuration(state: grammar.ruleStarts[grammar.rootRule], stack: -1), grammar: grammar,
                             arena: arena, into: &start, segmentStart: 0)
        self.configurations = start
    }

    /// True when the text read so far is a whole document (the root rule may end here).
    public var isComplete: Bool {
        configurations.contains { $0.stack < 0 && grammar.accepting[Int($0.state)] }
    }

    /// True when no byte can follow (only the end of the document).
    public var acceptsNoMoreBytes: Bool {
        for c in configurations {
            let row = Int(c.state) * 256
            for b in 0..<256 where grammar.table[row + b] >= 0 { return false }
        }
        return true
    }

    /// Reads `byte`; returns false (and changes nothing) when no configuration accepts it.
    @discardableResult
    public mutating func accept(_ byte: UInt8) -> Bool {
        var next: [Configuration] = []
        GrammarMatcher.step(configurations, byte, grammar: grammar, arena: arena, into: &next)
        guard !next.isEmpty else { return false }
        configurations = next
        return true
    }

    /// Reads `bytes`; returns false (and changes nothing) when they are not a continuation of the text.
    @discardableResult
    public mutating func accept<S: Sequence>(_ bytes: S) -> Bool where S.Element == UInt8 {
        var current = configurations
        for byte in bytes {
            var next: [Configuration] = []
            GrammarMatcher.step(current, byte, grammar: grammar, arena: arena, into: &next)
            if next.isEmpty { return false }
            current = next
        }
        configurations = current
        return true
    }

    /// A canonical description of the position (equal for equal positions), for caching masks.
    var key: [Int32] {
        var parts: [[Int32]] = configurations.map { [$0.state] + arena.unwound($0.stack) }
        parts.sort { $0.lexicographicallyPrecedes($1) }
        var key: [Int32] = []
        for part in parts {
            key.append(contentsOf: part)
            key.append(-1)
        }
        return key
    }

    // MARK: stepping

    /// Appends the closed successors of `configurations` after `byte` to `out`.
    @inline(__always)
    static func step<C: RandomAccessCollection>(_ configurations: C, _ byte: UInt8, grammar: Grammar,
                                                arena: StackArena, into out: inout [Configuration])
    where C.Element == Configuration {
        var work: [Configuration] = []
        step(configurations, byte, grammar: grammar, arena: arena, into: &out, work: &work)
    }

    static func step<C: RandomAccessCollection>(_ configurations: C, _ byte: UInt8, grammar: Grammar,
                                                arena: StackArena, into out: inout [Configuration],
                                                work: inout [Configuration])
    where C.Element == Configuration {
        let segmentStart = out.count
        for c in configurations {
            let target = grammar.next(c.state, byte)
            if target < 0 { continue }
            if grammar.isPlain[Int(target)] {
                let successor = Configuration(state: target, stack: c.stack)
                if !contains(out, from: segmentStart, successor) { out.append(successor) }
            } else {
                close(Configuration(state: target, stack: c.stack), grammar: grammar, arena: arena, into: &out,
                      segmentStart: segmentStart, work: &work)
            }
        }
    }

    @inline(__always)
    private static func contains(_ out: [Configuration], from start: Int, _ c: Configuration) -> Bool {
        var i = start
        while i < out.count {
            if out[i] == c { return true }
            i += 1
        }
        return false
    }

    /// Adds `configuration` and everything reachable from it without reading: calls entered, ended rules
    /// returned from.
    static func close(_ configuration: Configuration, grammar: Grammar, arena: StackArena,
                      into out: inout [Configuration], segmentStart: Int) {
        var work: [Configuration] = []
        close(configuration, grammar: grammar, arena: arena, into: &out, segmentStart: segmentStart, work: &work)
    }

    /// `close` with a caller-owned work list (left empty), so that hot loops do not allocate.
    static func close(_ configuration: Configuration, grammar: Grammar, arena: StackArena,
                      into out: inout [Configuration], segmentStart: Int, work: inout [Configuration]) {
        work.append(configuration)
        while let c = work.popLast() {
            if contains(out, from: segmentStart, c) { continue }
            out.append(c)
            let q = Int(c.state)
            let callStart = Int(grammar.callOffsets[q]), callEnd = Int(grammar.callOffsets[q + 1])
            if callStart < callEnd {
                for i in callStart..<callEnd {
                    let stack = arena.push(grammar.callReturns[i], onto: c.stack)
                    work.append(Configuration(state: grammar.ruleStarts[Int(grammar.callRules[i])], stack: stack))
                }
            }
            if grammar.accepting[q] && c.stack >= 0 {
                work.append(Configuration(state: arena.tops[Int(c.stack)], stack: arena.rests[Int(c.stack)]))
            }
        }
    }
}
