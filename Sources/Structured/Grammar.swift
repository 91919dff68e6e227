/// A compiled grammar: a set of rules, each a deterministic automaton over bytes whose states may also call
/// other rules (a recursive transition network — a pushdown automaton whose stack holds return states).
/// Immutable and shareable; `GrammarMatcher` runs it.
///
/// States of all rules are numbered together. For state `q`:
/// - `next(q, b)` is the state after byte `b` within the same rule, or -1;
/// - `calls(q)` lists (rule, return state) pairs: the rule may be matched here, continuing at the return state;
/// - `isAccepting(q)`: the rule may end here (returning to its caller, or ending the document for the root).
public final class Grammar: @unchecked Sendable {
    /// Refuses grammars whose automaton would exceed this many states (each takes a 1 KiB transition row).
    public static let maximumStates = 16_384

    let stateCount: Int
    /// `table[q * 256 + b]`: the next state, or -1.
    let table: [Int32]
    let accepting: [Bool]
    /// Call edges of state `q`: `callRules[callOffsets[q]..<callOffsets[q + 1]]` with their return states.
    let callOffsets: [Int32]
    let callRules: [Int32]
    let callReturns: [Int32]
    /// Start state of each rule.
    let ruleStarts: [Int32]
    let rootRule: Int
    /// No calls and not accepting: a byte step is just a table lookup.
    let isPlain: [Bool]
    /// States that read any unescaped JSON string character and come back to themselves (see `TokenTrie`).
    let isFreeText: [Bool]

    init(nfa: ByteNFA, rules: [Fragment], root: Int) throws {
        var builder = Determinizer(nfa: nfa, rules: rules)
        try builder.run()
        stateCount = builder.accepting.count
        table = builder.table
        accepting = builder.accepting
        var offsets: [Int32] = [0], rulesOut: [Int32] = [], returns: [Int32] = []
        for calls in builder.calls {
            for call in calls {
                rulesOut.append(Int32(call.rule))
                returns.append(Int32(call.target))
            }
            offsets.append(Int32(rulesOut.count))
        }
        callOffsets = offsets
        callRules = rulesOut
        callReturns = returns
        ruleStarts = builder.ruleStarts.map(Int32.init)
        rootRule = root
        isPlain = (0..<stateCount).map { !builder.accepting[$0] && builder.calls[$0].isEmpty }
        let table = builder.table
        isFreeText = (0..<stateCount).map { Grammar.readsFreeText(table, from: $0) && builder.calls[$0].isEmpty }
        try checkLeftRecursion()
    }

    public var statesCount: Int { stateCount }

    @inline(__always) func next(_ state: Int32, _ byte: UInt8) -> Int32 {
        table[Int(state) &* 256 &+ Int(byte)]
    }

    /// Whether `state` loops over every unescaped JSON string character: ASCII 0x20–0x7F but `"` and `\`, and
    /// every well-formed multi-byte UTF-8 sequence.
    private static func readsFreeText(_ table: [Int32], from state: Int) -> Bool {
        let q = Int32(state)
        func step(_ s: Int32, _ b: UInt8) -> Int32 { s < 0 ? -1 : table[Int(s) * 256 + Int(b)] }
        for b in UInt8(0x20)...0x7F where b != 0x22 && b != 0x5C {
            if step(q, b) != q { return false }
        }
        // Every lead byte with every continuation range must come back to `state`.
        let tail: ClosedRange<UInt8> = 0x80...0xBF
        let forms: [[ClosedRange<UInt8>]] = [
            [0xC2...0xDF, tail], [0xE0...0xE0, 0xA0...0xBF, tail], [0xE1...0xEC, tail, tail],
            [0xED...0xED, 0x80...0x9F, tail], [0xEE...0xEF, tail, tail], [0xF0...0xF0, 0x90...0xBF, tail, tail],
            [0xF1...0xF3, tail, tail, tail], [0xF4...0xF4, 0x80...0x8F, tail, tail],
        ]
        for form in forms {
            // States reached after each prefix must agree across the bytes of a range (checked at both ends).
            var frontier: Set<Int32> = [q]
            for range in form {
                var next = Set<Int32>()
                for s in frontier {
                    for b in [range.lowerBound, range.upperBound, UInt8((Int(range.lowerBound) + Int(range.upperBound)) / 2)] {
                        next.insert(step(s, b))
                    }
                }
                if next.contains(-1) { return false }
                frontier = next
            }
            if frontier != [q] { return false }
        }
        return true
    }

    /// A rule that can reach a call of itself without reading a byte would make the matcher's stack grow
    /// forever (`{"$ref": "#"}` as its own first element, for instance).
    private func checkLeftRecursion() throws {
        // Rules callable from each rule's start without reading a byte (through nullable rules too).
        let ruleCount = ruleStarts.count
        var nullable = [Bool](repeating: false, count: ruleCount)
        var changed = true
        func epsilonReach(_ rule: Int) -> (states: [Int32], calls: [Int]) {
            var seen: Set<Int32> = [ruleStarts[rule]]
            var work = [ruleStarts[rule]]
            var called: [Int] = []
            while let q = work.popLast() {
                for i in Int(callOffsets[Int(q)])..<Int(callOffsets[Int(q) + 1]) {
                    called.append(Int(callRules[i]))
                    if nullable[Int(callRules[i])], seen.insert(callReturns[i]).inserted { work.append(callReturns[i]) }
                }
            }
            return (Array(seen), called)
        }
        while changed {
            changed = false
            for rule in 0..<ruleCount where !nullable[rule] {
                if epsilonReach(rule).states.contains(where: { accepting[Int($0)] }) {
                    nullable[rule] = true
                    changed = true
                }
            }
        }
        let edges = (0..<ruleCount).map { epsilonReach($0).calls }
        var state = [UInt8](repeating: 0, count: ruleCount)   // 0 new, 1 on the path, 2 done
        func visit(_ rule: Int) -> Bool {
            if state[rule] == 1 { return false }
            if state[rule] == 2 { return true }
            state[rule] = 1
            for callee in edges[rule] where !visit(callee) { return false }
            state[rule] = 2
            return true
        }
        for rule in 0..<ruleCount where !visit(rule) {
            throw SchemaError(keyword: "$ref", path: "#",
                              reason: "a $ref cycle that reads no text (the schema refers to itself before any value)")
        }
    }
}

/// Subset construction, rule by rule. Call edges are kept as calls: a DFA state's calls are those of its NFA
/// states, each returning to the DFA state of its target's ε-closure.
private struct Determinizer {
    let nfa: ByteNFA
    let rules: [Fragment]
    var table: [Int32] = []
    var accepting: [Bool] = []
    var calls: [[ByteNFA.CallEdge]] = []
    var ruleStarts: [Int] = []
    private var ids: [[Int]: Int] = [:]
    private var pending: [([Int], Int)] = []
    private var acceptStates: [Int] = []

    init(nfa: ByteNFA, rules: [Fragment]) {
        self.nfa = nfa
        self.rules = rules
    }

    mutating func run() throws {
        for (index, rule) in rules.enumerated() {
            ids.removeAll(keepingCapacity: true)
            acceptStates = [rule.end]
            _ = index
            ruleStarts.append(try state(for: nfa.closure([rule.start])))
            while let (set, id) = pending.popLast() { try expand(set, id) }
        }
    }

    private mutating func state(for set: [Int]) throws -> Int {
        if let id = ids[set] { return id }
        let id = accepting.count
        guard id < Grammar.maximumStates else {
            throw SchemaError(keyword: "", path: "#", reason: "the schema needs more than \(Grammar.maximumStates) automaton states; make it smaller (fewer or shorter length bounds, fewer alternatives)")
        }
        ids[set] = id
        accepting.append(set.contains(acceptStates[0]))
        calls.append([])
        table.append(contentsOf: repeatElement(-1, count: 256))
        pending.append((set, id))
        return id
    }

    private mutating func expand(_ set: [Int], _ id: Int) throws {
        // Byte targets: group bytes by their target NFA set (edges are ranges, so walk the 256 bytes once).
        var targets = [[Int]](repeating: [], count: 256)
        for q in set {
            for edge in nfa.byteEdges[q] {
                for b in Int(edge.low)...Int(edge.high) { targets[b].append(edge.target) }
            }
        }
        var cache: [[Int]: Int] = [:]
        for b in 0..<256 where !targets[b].isEmpty {
            let key = targets[b].sorted()
            let target: Int
            if let known = cache[key] {
                target = known
            } else {
                target = try state(for: nfa.closure(key))
                cache[key] = target
            }
            table[id * 256 + b] = Int32(target)
        }
        var seen = Set<ByteNFA.CallEdge>()
        var out: [ByteNFA.CallEdge] = []
        for q in set {
            for call in nfa.callEdges[q] {
                let target = try state(for: nfa.closure([call.target]))
                let edge = ByteNFA.CallEdge(rule: call.rule, target: target)
                if seen.insert(edge).inserted { out.append(edge) }
            }
        }
        calls[id] = out
    }
}
