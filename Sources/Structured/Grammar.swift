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
    public static let maximumStates = 32_768

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
    /// How many plain characters (unescaped JSON string characters: ASCII 0x20–0x7F but `"` and `\`, and
    /// well-formed multi-byte scalars) can be read from a state when every such character leads to the same
    /// next state, and so on along the chain: then a plain token of n characters is accepted exactly when
    /// n ≤ this count (see `TokenTrie`). `Grammar.unboundedPlainRun` for a chain that loops; -1 when the
    /// characters lead to different states (the token trie must be walked).
    let plainRun: [Int32]
    static let unboundedPlainRun: Int32 = .max
    /// The plain characters a state with a run reads (the others it refuses): an index into `plainClasses`.
    let plainClass: [Int32]
    let plainClasses: [PlainClass]

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
        (plainRun, plainClass, plainClasses) = Grammar.plainRuns(table: builder.table, accepting: builder.accepting,
                                                                 calls: builder.calls)
        try checkLeftRecursion()
    }

    public var statesCount: Int { stateCount }

    @inline(__always) func next(_ state: Int32, _ byte: UInt8) -> Int32 {
        table[Int(state) &* 256 &+ Int(byte)]
    }

    /// The multi-byte UTF-8 forms: lead range, then continuation ranges.
    private static let multibyteForms: [[ClosedRange<UInt8>]] = {
        let tail: ClosedRange<UInt8> = 0x80...0xBF
        return [[0xC2...0xDF, tail], [0xE0...0xE0, 0xA0...0xBF, tail], [0xE1...0xEC, tail, tail],
                [0xED...0xED, 0x80...0x9F, tail], [0xEE...0xEF, tail, tail], [0xF0...0xF0, 0x90...0xBF, tail, tail],
                [0xF1...0xF3, tail, tail, tail], [0xF4...0xF4, 0x80...0x8F, tail, tail]]
    }()

    /// Where the plain characters go from `state`: every accepted one to the same state `target` (-1 when none
    /// is accepted), the accepted ones forming `characters`; nil when they go to different states, or when only
    /// some multi-byte scalars are accepted. Only for states without calls that do not end their rule (a plain
    /// character could otherwise also be read by a caller).
    private static func plainSuccessor(_ table: [Int32], from state: Int) -> (target: Int32, characters: PlainClass)? {
        func step(_ s: Int32, _ b: UInt8) -> Int32 { s < 0 ? -1 : table[Int(s) * 256 + Int(b)] }
        let q = Int32(state)
        var target: Int32 = -1
        var characters = PlainClass(low: 0, high: 0, nonASCII: false)
        for b in UInt8(0x20)...0x7F where b != 0x22 && b != 0x5C {
            let next = step(q, b)
            if next < 0 { continue }
            if target >= 0 && next != target { return nil }
            target = next
            characters.insert(b)
        }
        var formsAccepted = 0
        for form in multibyteForms {
            var frontier: Set<Int32> = [q]
            for range in form {
                var next = Set<Int32>()
                for s in frontier { for b in range { next.insert(step(s, b)) } }
                frontier = next
                if frontier == [-1] { break }
            }
            if frontier == [-1] { continue }
            guard frontier.count == 1, let end = frontier.first, target < 0 || end == target else { return nil }
            target = end
            formsAccepted += 1
        }
        if formsAccepted == multibyteForms.count {
            characters.nonASCII = true
        } else if formsAccepted > 0 {
            return nil
        }
        return (target, characters)
    }

    private static func plainRuns(table: [Int32], accepting: [Bool], calls: [[ByteNFA.CallEdge]])
        -> (runs: [Int32], classOf: [Int32], classes: [PlainClass]) {
        let count = accepting.count
        var info = [(target: Int32, characters: PlainClass)?](repeating: nil, count: count)
        for q in 0..<count where !accepting[q] && calls[q].isEmpty {
            info[q] = plainSuccessor(table, from: q)
        }
        var classes: [PlainClass] = [.all]
        var classIndex: [PlainClass: Int32] = [.all: 0]
        var classOf = [Int32](repeating: 0, count: count)
        for q in 0..<count {
            guard let characters = info[q]?.characters else { continue }
            if let index = classIndex[characters] {
                classOf[q] = index
            } else {
                classOf[q] = Int32(classes.count)
                classIndex[characters] = Int32(classes.count)
                classes.append(characters)
            }
        }
        // A chain keeps one class: where the next state reads other characters (and reads some), the token
        // trie must be walked.
        var successor = [Int32?](repeating: nil, count: count)
        for q in 0..<count {
            guard let (next, characters) = info[q] else { continue }
            if next >= 0, let after = info[Int(next)], after.target >= 0, after.characters != characters { continue }
            successor[q] = next
        }
        // run(q) = 1 + run(successor), 0 when every plain character is refused, -1 when the characters part
        // ways (here or further down the chain), unbounded when the chain loops.
        var runs = [Int32](repeating: -2, count: count)   // -2: not computed yet
        for start in 0..<count where runs[start] == -2 {
            var path: [Int] = []
            var position: [Int: Int] = [:]
            var q = start
            var result: Int32
            while true {
                if runs[q] != -2 { result = runs[q]; break }
                if let loopStart = position[q] {
                    for state in path[loopStart...] { runs[state] = unboundedPlainRun }
                    path.removeSubrange(loopStart...)
                    result = unboundedPlainRun
                    break
                }
                guard let next = successor[q] else { runs[q] = -1; result = -1; break }
                if next < 0 { runs[q] = 0; result = 0; break }
                position[q] = path.count
                path.append(q)
                q = Int(next)
            }
            for state in path.reversed() {
                if result >= 0 && result != unboundedPlainRun { result += 1 }
                runs[state] = result
            }
        }
        return (runs.map { $0 == -2 ? -1 : $0 }, classOf, classes)
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
        for rule in rules {
            ids.removeAll(keepingCapacity: true)
            acceptStates = [rule.end]
            ruleStarts.append(try state(for: nfa.closure([rule.start])))
            while let (set, id) = pending.popLast() { try expand(set, id) }
        }
    }

    /// The DFA state of an ε-closed set of NFA states. Only the important states identify it: those that read a
    /// byte, call a rule, or end the rule; states with only ε edges add nothing their successors (also in the
    /// closed set) do not. Keying on them merges equivalent sets, e.g. "inside a string" after an ASCII and after
    /// a multi-byte character, which the token mask's plain-run shortcut relies on.
    private mutating func state(for closed: [Int]) throws -> Int {
        let set = closed.filter { !nfa.byteEdges[$0].isEmpty || !nfa.callEdges[$0].isEmpty || $0 == acceptStates[0] }
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
        // Byte targets: the edges' range ends cut 0...255 into intervals on which the target set is constant.
        var cuts: Set<Int> = [0, 256]
        for q in set {
            for edge in nfa.byteEdges[q] {
                cuts.insert(Int(edge.low))
                cuts.insert(Int(edge.high) + 1)
            }
        }
        let bounds = cuts.sorted()
        var cache: [[Int]: Int] = [:]
        for (low, high) in zip(bounds, bounds.dropFirst()) {
            var key: [Int] = []
            for q in set {
                for edge in nfa.byteEdges[q] where Int(edge.low) <= low && low <= Int(edge.high) { key.append(edge.target) }
            }
            guard !key.isEmpty else { continue }
            key.sort()
            let target: Int
            if let known = cache[key] {
                target = known
            } else {
                target = try state(for: nfa.closure(key))
                cache[key] = target
            }
            for b in low..<high { table[id * 256 + b] = Int32(target) }
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

/// A set of plain characters: ASCII ones as bits, and either every multi-byte scalar or none.
struct PlainClass: Hashable {
    var low: UInt64
    var high: UInt64
    var nonASCII: Bool

    /// Every plain character: ASCII 0x20–0x7F but `"` and `\`, and every multi-byte scalar.
    static let all: PlainClass = {
        var c = PlainClass(low: 0, high: 0, nonASCII: true)
        for b in UInt8(0x20)...0x7F where b != 0x22 && b != 0x5C { c.insert(b) }
        return c
    }()

    mutating func insert(_ b: UInt8) {
        if b < 64 { low |= 1 << UInt64(b) } else { high |= 1 << UInt64(b - 64) }
    }

    /// Whether a token using the ASCII characters `low`/`high` (and multi-byte ones when `usesNonASCII`) stays
    /// within this class.
    func contains(low l: UInt64, high h: UInt64, usesNonASCII: Bool) -> Bool {
        l & ~low == 0 && h & ~high == 0 && (!usesNonASCII || nonASCII)
    }
}
