import ArgumentParser
import Foundation
import JSON
import Structured
import Tokenizer

/// `glmserve bench-grammar`: the cost of `response_format` constrained decoding — schema compile time and token
/// mask time per generated token — for three schema sizes, over a model's vocabulary (`--model`) or a synthetic
/// GLM-sized one (151,365 tokens: byte tokens, words with and without a leading space, numbers, punctuation
/// runs, whitespace runs, CJK text and split UTF-8 sequences). Each document of the three schemas is cut into
/// tokens as a tokenizer would (the longest allowed token that continues it) and the mask is computed before
/// every token; times are the thread's CPU time.
struct BenchGrammarCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-grammar",
        abstract: "Measure schema compile time and token-mask time per token for constrained decoding.")

    @Option(name: .long, help: "Model folder whose tokenizer.json to use (default: a synthetic 151k vocabulary).")
    var model: String?

    @Option(name: .long, help: "Repetitions of each document (the first run of each starts with empty mask caches).")
    var rounds: Int = 3

    @Flag(name: .long, help: "Print every uncached mask that took more than 2 ms, with the text that follows.")
    var trace = false

    func run() throws {
        let started = DispatchTime.now()
        let tokens: [[UInt8]], excluded: Set<Int>
        if let model {
            let tokenizer = try Tokenizer(directory: URL(fileURLWithPath: model))
            tokens = (0..<tokenizer.vocabularySize).map { tokenizer.bytes(ofToken: $0) }
            excluded = Set(tokenizer.addedTokens.map(\.id))
        } else {
            tokens = SyntheticVocabulary.make(count: 151_365)
            excluded = Set(151_329..<151_365)
        }
        let trie = TokenTrie(tokens: tokens, excluded: excluded)
        print(String(format: "vocabulary: %d tokens, trie of %d nodes, built in %.3f s", tokens.count, trie.nodeCount,
                     seconds(since: started)))
        var lookup: [[UInt8]: Int] = [:]
        for (id, bytes) in tokens.enumerated() where !excluded.contains(id) && !bytes.isEmpty { lookup[bytes] = id }

        for example in BenchSchemas.all {
            let compileStart = threadCPUTime()
            let grammar = try JSONSchemaGrammar.compile(schema: example.schema)
            let compileSeconds = threadCPUTime() - compileStart
            let masker = GrammarTokenMasker(grammar: grammar, trie: trie)
            var cold: [Double] = [], warm: [Double] = []
            var steps = 0
            for round in 0..<rounds {
                var matcher = GrammarMatcher(grammar: grammar)
                var rest = Array(example.document.utf8)[...]
                while true {
                    let maskStart = threadCPUTime()
                    let mask = round == 0 ? masker.computeMask(matcher) : masker.allowedTokens(for: matcher)
                    let elapsed = threadCPUTime() - maskStart
                    if round == 0 { cold.append(elapsed) } else { warm.append(elapsed) }
                    if round == 0 && elapsed > 0.002 && trace {
                        print(String(format: "  %.2f ms before %@ (%d allowed)", elapsed * 1e3,
                                     String(decoding: rest.prefix(12), as: UTF8.self), mask.count))
                    }
                    if round == 0 { _ = masker.allowedTokens(for: matcher) }
                    guard !rest.isEmpty else { break }
                    // The longest allowed token that continues the document (as a tokenizer would cut it).
                    var chosen: Int?
                    for length in stride(from: min(16, rest.count), through: 1, by: -1) {
                        if let id = lookup[Array(rest.prefix(length))], mask.contains(id) { chosen = id; break }
                    }
                    guard let id = chosen else { throw ValidationError("the document of '\(example.name)' left the grammar") }
                    matcher.accept(tokens[id])
                    rest = rest.dropFirst(tokens[id].count)
                    if round == 0 { steps += 1 }
                }
                guard matcher.isComplete else { throw ValidationError("the document of '\(example.name)' is incomplete") }
            }
            func summary(_ values: [Double]) -> String {
                let sorted = values.sorted()
                let mean = values.reduce(0, +) / Double(max(1, values.count))
                return String(format: "mean %.3f ms, median %.3f ms, max %.3f ms", mean * 1e3,
                              sorted[sorted.count / 2] * 1e3, (sorted.last ?? 0) * 1e3)
            }
            print(String(format: "%@: %d automaton states, compiled in %.2f ms; %d tokens per document",
                         example.name, grammar.statesCount, compileSeconds * 1e3, steps))
            print("  mask per token, uncached: \(summary(cold))")
            if !warm.isEmpty { print("  mask per token, cached:   \(summary(warm))") }
        }
    }

    /// CPU time of this thread: the figure is not inflated when the shared machine preempts the process.
    private func threadCPUTime() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    private func seconds(since start: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    }
}

/// A GLM-sized vocabulary of plausible tokens, the same on every run.
enum SyntheticVocabulary {
    static func make(count: Int) -> [[UInt8]] {
        var state: UInt64 = 0x5EED
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        func pick(_ n: Int) -> Int { Int(next() % UInt64(n)) }
        var tokens: [[UInt8]] = (0..<256).map { [UInt8($0)] }
        var seen = Set(tokens)
        func add(_ bytes: [UInt8]) { if !bytes.isEmpty && seen.insert(bytes).inserted { tokens.append(bytes) } }
        for n in 0..<1000 { add(Array(String(n).utf8)) }
        let punctuation = Array("{}[]\":,. -_()'!?;/\\#*=+<>\n\t".utf8)
        for a in punctuation { for b in punctuation { add([a, b]) } }
        for _ in 0..<4000 { add((0..<(3 + pick(3))).map { _ in punctuation[pick(punctuation.count)] }) }
        for n in 1...16 { add([UInt8](repeating: 0x20, count: n)); add([0x0A] + [UInt8](repeating: 0x20, count: n)) }
        let letters = Array("etaoinshrdlcumwfgypbvkjxqz".utf8)
        let limit = count - 36
        while tokens.count < limit {
            switch pick(20) {
            case 0..<2:   // CJK: one to three characters
                var bytes: [UInt8] = []
                for _ in 0..<(1 + pick(3)) { bytes += Array(String(UnicodeScalar(0x4E00 + UInt32(pick(0x5000)))!).utf8) }
                add(bytes)
            case 2:       // a split UTF-8 sequence
                let scalar = Array(String(UnicodeScalar(0x4E00 + UInt32(pick(0x5000)))!).utf8)
                add(pick(2) == 0 ? Array(scalar.prefix(2)) : Array(scalar.suffix(1 + pick(2))))
            case 3:       // a word with punctuation around it
                let word = (0..<(2 + pick(6))).map { _ in letters[min(pick(26), pick(26))] }
                add([punctuation[pick(punctuation.count)]] + word + (pick(2) == 0 ? [punctuation[pick(punctuation.count)]] : []))
            default:      // a word, often with a leading space, sometimes capitalised
                var word = (0..<(2 + pick(9))).map { _ in letters[min(pick(26), pick(26))] }
                if pick(4) == 0 { word[0] -= 32 }
                add(pick(10) < 6 ? [0x20] + word : word)
            }
        }
        for i in 0..<36 { tokens.append(Array("<|added_\(i)|>".utf8)) }
        return tokens
    }
}

/// Three schema sizes with a valid document each.
enum BenchSchemas {
    struct Example {
        var name: String
        var schema: JSONValue
        var document: String
    }

    static var all: [Example] { [small, medium, large] }

    static let small = Example(
        name: "small (3 properties)",
        schema: ["type": "object",
                 "properties": ["name": ["type": "string"], "age": ["type": "integer"], "admin": ["type": "boolean"]],
                 "required": ["name", "age", "admin"], "additionalProperties": false],
        document: #"{"name": "Ada Lovelace, the first programmer", "age": 36, "admin": false}"#)

    static let medium = Example(
        name: "medium (order: nested array of objects, enums, formats, pattern)",
        schema: ["type": "object",
                 "properties": [
                    "id": ["type": "string", "format": "uuid"],
                    "date": ["type": "string", "format": "date"],
                    "status": ["enum": ["pending", "shipped", "delivered"]],
                    "customer": ["type": "object",
                                 "properties": ["name": ["type": "string", "maxLength": 40],
                                                "email": ["type": "string", "format": "email"],
                                                "phone": ["type": ["string", "null"], "pattern": "^\\+?[0-9 ]{6,15}$"]],
                                 "required": ["name", "email"], "additionalProperties": false],
                    "items": ["type": "array", "minItems": 1, "maxItems": 20,
                              "items": ["type": "object",
                                        "properties": ["sku": ["type": "string", "pattern": "^[A-Z]{3}-\\d{4}$"],
                                                       "quantity": ["type": "integer"], "price": ["type": "number"]],
                                        "required": ["sku", "quantity", "price"], "additionalProperties": false]],
                    "note": ["type": "string"],
                 ],
                 "required": ["id", "date", "status", "customer", "items"], "additionalProperties": false],
        document: #"{"id": "123e4567-e89b-12d3-a456-426614174000", "date": "2025-03-14", "status": "shipped", "customer": {"name": "Grace Hopper", "email": "grace@example.com", "phone": "+1 555 0100"}, "items": [{"sku": "ABC-1234", "quantity": 2, "price": 19.99}, {"sku": "XYZ-0001", "quantity": 1, "price": 5.5}], "note": "Leave the parcel at the door; ring twice. 谢谢!"}"#)

    static let large: Example = {
        // 48 properties of mixed kinds in three nested groups, plus a recursive comment tree.
        var groups = JSONObject()
        var document = "{"
        for g in 0..<3 {
            var properties = JSONObject()
            var required: [JSONValue] = []
            var parts: [String] = []
            for p in 0..<16 {
                let key = "g\(g)_field\(p)"
                required.append(.string(key))
                switch p % 4 {
                case 0:
                    properties[key] = ["type": "string", "maxLength": 64]
                    parts.append("\"\(key)\": \"value number \(p) of group \(g)\"")
                case 1:
                    properties[key] = ["type": "integer"]
                    parts.append("\"\(key)\": \(p * 37)")
                case 2:
                    properties[key] = ["enum": ["alpha", "beta", "gamma", "delta"]]
                    parts.append("\"\(key)\": \"gamma\"")
                default:
                    properties[key] = ["type": "array", "items": ["type": "number"], "maxItems": 8]
                    parts.append("\"\(key)\": [1.5, 2, 3.25]")
                }
            }
            groups["group\(g)"] = ["type": "object", "properties": .object(properties), "required": .array(required),
                                   "additionalProperties": false]
            document += (g > 0 ? ", " : "") + "\"group\(g)\": {" + parts.joined(separator: ", ") + "}"
        }
        groups["comments"] = ["type": "array", "items": ["$ref": "#/$defs/comment"]]
        document += #", "comments": [{"text": "first", "replies": [{"text": "a reply", "replies": []}]}]}"#
        let schema: JSONValue = [
            "type": "object", "properties": .object(groups),
            "required": ["group0", "group1", "group2", "comments"], "additionalProperties": false,
            "$defs": ["comment": ["type": "object",
                                  "properties": ["text": ["type": "string"],
                                                 "replies": ["type": "array", "items": ["$ref": "#/$defs/comment"]]],
                                  "required": ["text", "replies"], "additionalProperties": false]],
        ]
        return Example(name: "large (51 properties, recursive $defs)", schema: schema, document: document)
    }()
}
