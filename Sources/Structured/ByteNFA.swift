/// A nondeterministic automaton over bytes in which every edge reads one byte range, reads nothing (ε), or
/// calls a rule (a sub-automaton that must match a whole value before the edge is taken). The schema compiler
/// writes every rule into one `ByteNFA`; `Grammar` determinizes each rule.
struct ByteNFA {
    struct ByteEdge {
        var low: UInt8
        var high: UInt8
        var target: Int
    }

    struct CallEdge: Hashable {
        var rule: Int
        var target: Int
    }

    private(set) var byteEdges: [[ByteEdge]] = []
    private(set) var epsilonEdges: [[Int]] = []
    private(set) var callEdges: [[CallEdge]] = []

    var stateCount: Int { byteEdges.count }

    mutating func addState() -> Int {
        byteEdges.append([])
        epsilonEdges.append([])
        callEdges.append([])
        return byteEdges.count - 1
    }

    mutating func addBytes(_ low: UInt8, _ high: UInt8, from: Int, to: Int) {
        byteEdges[from].append(ByteEdge(low: low, high: high, target: to))
    }

    mutating func addEpsilon(from: Int, to: Int) {
        epsilonEdges[from].append(to)
    }

    mutating func addCall(_ rule: Int, from: Int, to: Int) {
        callEdges[from].append(CallEdge(rule: rule, target: to))
    }

    /// The states reachable from `states` through ε edges (sorted, so equal closures compare equal).
    func closure(_ states: [Int]) -> [Int] {
        var seen = Set(states)
        var work = states
        while let state = work.popLast() {
            for next in epsilonEdges[state] where seen.insert(next).inserted { work.append(next) }
        }
        return seen.sorted()
    }
}

/// A piece of automaton with one entry and one exit state, built by `FragmentBuilder`.
struct Fragment {
    var start: Int
    var end: Int
}

/// Thompson-style construction helpers over a shared `ByteNFA`.
struct FragmentBuilder {
    var nfa = ByteNFA()

    mutating func empty() -> Fragment {
        let s = nfa.addState()
        return Fragment(start: s, end: s)
    }

    mutating func bytes(_ ranges: [ClosedRange<UInt8>]) -> Fragment {
        let s = nfa.addState(), e = nfa.addState()
        for range in ranges { nfa.addBytes(range.lowerBound, range.upperBound, from: s, to: e) }
        return Fragment(start: s, end: e)
    }

    mutating func byte(_ b: UInt8) -> Fragment { bytes([b...b]) }

    mutating func literal<S: Sequence>(_ text: S) -> Fragment where S.Element == UInt8 {
        var fragment = empty()
        for b in text {
            let next = nfa.addState()
            nfa.addBytes(b, b, from: fragment.end, to: next)
            fragment.end = next
        }
        return fragment
    }

    mutating func literal(_ text: String) -> Fragment { literal(Array(text.utf8)) }

    mutating func call(_ rule: Int) -> Fragment {
        let s = nfa.addState(), e = nfa.addState()
        nfa.addCall(rule, from: s, to: e)
        return Fragment(start: s, end: e)
    }

    mutating func sequence(_ parts: [Fragment]) -> Fragment {
        guard var result = parts.first else { return empty() }
        for part in parts.dropFirst() {
            nfa.addEpsilon(from: result.end, to: part.start)
            result.end = part.end
        }
        return result
    }

    mutating func choice(_ options: [Fragment]) -> Fragment {
        let s = nfa.addState(), e = nfa.addState()
        for option in options {
            nfa.addEpsilon(from: s, to: option.start)
            nfa.addEpsilon(from: option.end, to: e)
        }
        return Fragment(start: s, end: e)
    }

    mutating func optional(_ fragment: Fragment) -> Fragment {
        nfa.addEpsilon(from: fragment.start, to: fragment.end)
        return fragment
    }

    /// Zero or more repetitions of `fragment` (which must not be used elsewhere).
    mutating func star(_ fragment: Fragment) -> Fragment {
        let s = nfa.addState()
        nfa.addEpsilon(from: s, to: fragment.start)
        nfa.addEpsilon(from: fragment.end, to: s)
        return Fragment(start: s, end: s)
    }

    /// `make()` repeated between `minimum` and `maximum` times (nil: unbounded). `make` builds a fresh copy.
    mutating func repeating(_ minimum: Int, _ maximum: Int?, _ make: (inout FragmentBuilder) throws -> Fragment) rethrows
        -> Fragment {
        var parts: [Fragment] = []
        for _ in 0..<minimum { parts.append(try make(&self)) }
        if let maximum {
            // Nested optionals: (x (x (x)?)?)? keeps the automaton linear in the count.
            if maximum > minimum {
                var tail = optional(try make(&self))
                for _ in 0..<(maximum - minimum - 1) {
                    let head = try make(&self)
                    tail = optional(sequence([head, tail]))
                }
                parts.append(tail)
            }
        } else {
            parts.append(star(try make(&self)))
        }
        return sequence(parts)
    }

    // MARK: UTF-8 and JSON text

    /// One well-formed UTF-8 sequence of two to four bytes (a non-ASCII scalar; no surrogates, no overlongs).
    mutating func multibyteScalar() -> Fragment {
        let tail: ClosedRange<UInt8> = 0x80...0xBF
        let options: [[ClosedRange<UInt8>]] = [
            [0xC2...0xDF, tail],
            [0xE0...0xE0, 0xA0...0xBF, tail], [0xE1...0xEC, tail, tail], [0xED...0xED, 0x80...0x9F, tail],
            [0xEE...0xEF, tail, tail],
            [0xF0...0xF0, 0x90...0xBF, tail, tail], [0xF1...0xF3, tail, tail, tail],
            [0xF4...0xF4, 0x80...0x8F, tail, tail],
        ]
        return choice(options.map { ranges in sequence(ranges.map { bytes([$0]) }) })
    }

    /// One character of raw text (a tool call's string argument): any scalar but the C0 controls other than
    /// tab, line feed and carriage return.
    mutating func rawTextCharacter() -> Fragment {
        choice([bytes([0x09...0x0A, 0x0D...0x0D, 0x20...0x7F]), multibyteScalar()])
    }

    /// One character of a JSON string's text, as written between the quotes: an unescaped printable character
    /// (ASCII but `"` and `\`, or a multi-byte scalar) or an escape sequence. With `escapes` false, only
    /// unescaped characters.
    mutating func jsonStringCharacter(escapes: Bool = true) -> Fragment {
        var options = [bytes([0x20...0x21, 0x23...0x5B, 0x5D...0x7F]), multibyteScalar()]
        if escapes {
            let simple = sequence([byte(0x5C), bytes([0x22...0x22, 0x2F...0x2F, 0x5C...0x5C, 0x62...0x62,
                                                     0x66...0x66, 0x6E...0x6E, 0x72...0x72, 0x74...0x74])])
            let hex: [ClosedRange<UInt8>] = [0x30...0x39, 0x41...0x46, 0x61...0x66]
            let unicode = sequence([byte(0x5C), byte(0x75), bytes(hex), bytes(hex), bytes(hex), bytes(hex)])
            options += [simple, unicode]
        }
        return choice(options)
    }
}
