/// The regular-expression subset accepted in a schema's `pattern` (ECMA-262 syntax):
/// literals; `.`; classes `[a-z0-9_]`, `[^…]` over ASCII; escapes `\d \D \w \W \s \S \t \n \r \f \v`, `\uXXXX`
/// and escaped punctuation; groups `(…)` and `(?:…)`; alternation `|`; quantifiers `* + ? {n} {n,} {n,m}` (a
/// trailing lazy `?` is accepted: it matches the same strings); `^` at the very start and `$` at the very end.
/// Without `^`/`$` the pattern may match anywhere in the string, as JSON Schema says. Anything else (lookaround,
/// backreferences, `\b`, `\p{…}`, non-ASCII class ranges) is refused.
indirect enum RegexNode {
    case characters(CharacterSet)
    /// One non-ASCII scalar, as UTF-8.
    case scalar([UInt8])
    case sequence([RegexNode])
    case alternatives([RegexNode])
    case repeated(RegexNode, min: Int, max: Int?)

    /// Character positions once every count is unrolled (saturating).
    var size: Int {
        switch self {
        case .characters, .scalar: return 1
        case let .sequence(items), let .alternatives(items):
            return items.reduce(0) { min(Int.max / 2, $0 + $1.size) }
        case let .repeated(inner, min, max):
            let copies = Swift.max(1, max ?? min + 1)
            let (product, overflow) = inner.size.multipliedReportingOverflow(by: copies)
            return overflow ? Int.max / 2 : product
        }
    }

    /// A set of characters: some of ASCII, and optionally every non-ASCII scalar.
    struct CharacterSet {
        var ascii = [Bool](repeating: false, count: 128)
        var nonASCII = false

        static let any: CharacterSet = {
            var s = CharacterSet()
            s.ascii = [Bool](repeating: true, count: 128)
            s.nonASCII = true
            return s
        }()

        mutating func insert(_ range: ClosedRange<UInt8>) {
            for b in range where b < 128 { ascii[Int(b)] = true }
        }

        var inverted: CharacterSet {
            var s = CharacterSet()
            s.ascii = ascii.map { !$0 }
            s.nonASCII = !nonASCII
            return s
        }
    }
}

struct RegexParser {
    private let scalars: [Unicode.Scalar]
    private var position = 0
    private let path: String
    static let maximumCount = 1000
    /// Character positions a pattern may unroll to (`(a{100}){100}` is 10,000).
    static let maximumSize = 20_000

    init(_ pattern: String, path: String) {
        scalars = Array(pattern.unicodeScalars)
        self.path = path
    }

    private func error(_ reason: String) -> SchemaError {
        SchemaError(keyword: "pattern", path: path, reason: reason)
    }

    /// The pattern and whether it is anchored at its start and end.
    mutating func parse() throws -> (node: RegexNode, anchoredStart: Bool, anchoredEnd: Bool) {
        var anchoredStart = false, anchoredEnd = false
        var body = scalars
        if body.first == "^" { anchoredStart = true; body.removeFirst() }
        if body.last == "$" {
            // `\$` is a literal dollar: count the backslashes before it.
            var backslashes = 0
            var i = body.count - 2
            while i >= 0 && body[i] == "\\" { backslashes += 1; i -= 1 }
            if backslashes % 2 == 0 { anchoredEnd = true; body.removeLast() }
        }
        var parser = RegexParser(String(String.UnicodeScalarView(body)), path: path)
        let node = try parser.alternation()
        if parser.position < parser.scalars.count {
            throw error("unexpected '\(parser.scalars[parser.position])' at offset \(parser.position)")
        }
        guard node.size <= RegexParser.maximumSize else {
            throw error("the pattern unrolls to more than \(RegexParser.maximumSize) character positions (nested counts multiply)")
        }
        return (node, anchoredStart, anchoredEnd)
    }

    private var current: Unicode.Scalar? { position < scalars.count ? scalars[position] : nil }

    private mutating func alternation() throws -> RegexNode {
        var options = [try sequence()]
        while current == "|" {
            position += 1
            options.append(try sequence())
        }
        return options.count == 1 ? options[0] : .alternatives(options)
    }

    private mutating func sequence() throws -> RegexNode {
        var items: [RegexNode] = []
        while let c = current, c != "|", c != ")" {
            var atom = try self.atom()
            atom = try quantified(atom)
            items.append(atom)
        }
        return .sequence(items)
    }

    private mutating func quantified(_ atom: RegexNode) throws -> RegexNode {
        guard let c = current else { return atom }
        var node: RegexNode
        switch c {
        case "*": position += 1; node = .repeated(atom, min: 0, max: nil)
        case "+": position += 1; node = .repeated(atom, min: 1, max: nil)
        case "?": position += 1; node = .repeated(atom, min: 0, max: 1)
        case "{":
            guard let (low, high) = try bounds() else { return atom }
            node = .repeated(atom, min: low, max: high)
        default: return atom
        }
        if current == "?" { position += 1 }   // lazy: same language
        if let c = current, "*+?{".unicodeScalars.contains(c), c != "{" || (try? peekBounds()) != nil {
            throw error("a quantifier cannot follow another quantifier")
        }
        return node
    }

    private func peekBounds() throws -> (Int, Int?)? {
        var copy = self
        return try copy.bounds()
    }

    /// `{n}`, `{n,}`, `{n,m}`; nil (nothing consumed) when the brace is not a quantifier.
    private mutating func bounds() throws -> (Int, Int?)? {
        let start = position
        position += 1
        func number() -> Int? {
            var digits = ""
            while let c = current, ("0"..."9").contains(c) { digits.unicodeScalars.append(c); position += 1 }
            return Int(digits)
        }
        guard let low = number() else { position = start; return nil }
        var high: Int? = low
        if current == "," {
            position += 1
            high = number()
        }
        guard current == "}" else { position = start; return nil }
        position += 1
        if low > RegexParser.maximumCount || (high ?? 0) > RegexParser.maximumCount {
            throw error("repetition counts above \(RegexParser.maximumCount) are not supported")
        }
        if let high, high < low { throw error("{\(low),\(high)}: the maximum is below the minimum") }
        return (low, high)
    }

    private mutating func atom() throws -> RegexNode {
        guard let c = current else { throw error("unexpected end") }
        position += 1
        switch c {
        case "(":
            if current == "?" {
                guard position + 1 < scalars.count, scalars[position + 1] == ":" else {
                    throw error("lookaround and named groups are not supported")
                }
                position += 2
            }
            let inner = try alternation()
            guard current == ")" else { throw error("unclosed group") }
            position += 1
            return inner
        case "[": return .characters(try characterClass())
        case ".":
            var any = RegexNode.CharacterSet.any
            any.ascii[10] = false
            any.ascii[13] = false
            return .characters(any)
        case "\\": return try escape(inClass: false).node
        case "^", "$": throw error("'\(c)' is supported only at the very start or end of the pattern")
        case "*", "+", "?": throw error("nothing to repeat before '\(c)'")
        case ")": throw error("unbalanced ')'")
        default: return literal(c)
        }
    }

    private func literal(_ c: Unicode.Scalar) -> RegexNode {
        if c.value < 128 {
            var set = RegexNode.CharacterSet()
            set.ascii[Int(c.value)] = true
            return .characters(set)
        }
        return .scalar(Array(String(c).utf8))
    }

    private static func classSet(_ letter: Unicode.Scalar) -> RegexNode.CharacterSet? {
        var set = RegexNode.CharacterSet()
        switch letter {
        case "d", "D": set.insert(0x30...0x39)
        case "w", "W": set.insert(0x30...0x39); set.insert(0x41...0x5A); set.insert(0x61...0x7A); set.insert(0x5F...0x5F)
        case "s", "S": for b: UInt8 in [0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D] { set.ascii[Int(b)] = true }
        default: return nil
        }
        return letter.properties.isUppercase ? set.inverted : set
    }

    /// After a backslash: a class (`\d`), or one character (its code, or nil for a non-ASCII scalar).
    private mutating func escape(inClass: Bool) throws -> (node: RegexNode, code: UInt32?) {
        guard let c = current else { throw error("a trailing backslash") }
        position += 1
        if let set = RegexParser.classSet(c) { return (.characters(set), nil) }
        let controls: [Unicode.Scalar: UInt32] = ["t": 9, "n": 10, "r": 13, "f": 12, "v": 11, "0": 0]
        if let code = controls[c] { return (literal(Unicode.Scalar(code)!), code) }
        if c == "u" {
            guard position + 4 <= scalars.count,
                  let code = UInt32(String(String.UnicodeScalarView(scalars[position..<position + 4])), radix: 16),
                  let scalar = Unicode.Scalar(code) else { throw error("\\u needs four hex digits of a scalar") }
            position += 4
            return (literal(scalar), code)
        }
        if c == "b" && inClass { return (literal(Unicode.Scalar(8)), 8) }
        if c.properties.isAlphabetic || ("1"..."9").contains(c) {
            throw error("the escape '\\\(c)' is not supported")
        }
        return (literal(c), c.value)
    }

    private mutating func characterClass() throws -> RegexNode.CharacterSet {
        var set = RegexNode.CharacterSet()
        var negated = false
        if current == "^" { negated = true; position += 1 }
        var first = true
        while true {
            guard let c = current else { throw error("unclosed '['") }
            if c == "]" && !first { position += 1; break }
            first = false
            position += 1
            var low: UInt32
            if c == "\\" {
                let (node, code) = try escape(inClass: true)
                guard let code else {
                    if case let .characters(s) = node {
                        for i in 0..<128 where s.ascii[i] { set.ascii[i] = true }
                        set.nonASCII = set.nonASCII || s.nonASCII
                    }
                    continue
                }
                low = code
            } else {
                low = c.value
            }
            var high = low
            if current == "-", position + 1 < scalars.count, scalars[position + 1] != "]" {
                position += 1
                guard let h = current else { throw error("unclosed '['") }
                position += 1
                if h == "\\" {
                    let (_, code) = try escape(inClass: true)
                    guard let code else { throw error("a class escape cannot end a range") }
                    high = code
                } else {
                    high = h.value
                }
                if high < low { throw error("a character range out of order") }
            }
            guard high < 128 else { throw error("character classes may hold ASCII characters only") }
            for v in low...high { set.ascii[Int(v)] = true }
        }
        return negated ? set.inverted : set
    }
}

extension FragmentBuilder {
    /// The characters of `set`, written as they appear inside a JSON string (`"` as `\"`, `\` as `\\`, control
    /// characters as escapes).
    mutating func jsonCharacters(_ set: RegexNode.CharacterSet, raw: Bool = false) -> Fragment {
        var options: [Fragment] = []
        if raw {
            var ranges: [ClosedRange<UInt8>] = []
            var code = 0
            while code < 128 {
                if set.ascii[code] {
                    let start = code
                    while code + 1 < 128 && set.ascii[code + 1] { code += 1 }
                    ranges.append(UInt8(start)...UInt8(code))
                }
                code += 1
            }
            if !ranges.isEmpty { options.append(bytes(ranges)) }
            if set.nonASCII { options.append(multibyteScalar()) }
            return choice(options)
        }
        var ranges: [ClosedRange<UInt8>] = []
        var code = 0x20
        while code < 128 {
            if set.ascii[code] && code != 0x22 && code != 0x5C {
                let start = code
                while code + 1 < 128 && set.ascii[code + 1] && code + 1 != 0x22 && code + 1 != 0x5C { code += 1 }
                ranges.append(UInt8(start)...UInt8(code))
            }
            code += 1
        }
        if !ranges.isEmpty { options.append(bytes(ranges)) }
        let named: [Int: String] = [0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t",
                                    0x22: "\\\"", 0x5C: "\\\\"]
        for c in Array(0..<0x20) + [0x22, 0x5C] where set.ascii[c] {
            let hex = String(c, radix: 16)
            options.append(literal(named[c] ?? "\\u" + String(repeating: "0", count: 4 - hex.count) + hex))
        }
        if set.nonASCII { options.append(multibyteScalar()) }
        return choice(options)
    }

    /// The strings `node` matches, written inside a JSON string, or as they are (`raw`: tool-call values).
    mutating func regex(_ node: RegexNode, raw: Bool = false) -> Fragment {
        switch node {
        case let .characters(set): return jsonCharacters(set, raw: raw)
        case let .scalar(bytes): return literal(bytes)
        case let .sequence(items): return sequence(items.map { regex($0, raw: raw) })
        case let .alternatives(options): return choice(options.map { regex($0, raw: raw) })
        case let .repeated(inner, min, max): return repeating(min, max) { $0.regex(inner, raw: raw) }
        }
    }
}
