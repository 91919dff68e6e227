import JSON
import TestSupport
import XCTest
@testable import Structured

/// The token mask agrees with the byte matcher: a token is in the mask exactly when the matcher accepts its
/// bytes, so a text is reachable token by token exactly when it is a valid prefix. The vocabulary has every
/// single byte (so bytes of one UTF-8 character can arrive in separate tokens), tokens spanning several JSON
/// lexemes (`"},{"`), split multi-byte characters, and an excluded special token.
final class TokenMaskTests: XCTestCase {
    static let vocabulary: [[UInt8]] = {
        var tokens: [[UInt8]] = (0..<256).map { [UInt8($0)] }
        let pieces = ["{\"", "\":", "\",\"", "\"}", "},{\"", "\":\"", "[{", "}]", "\n", "  ", "\n  ", "true", "false",
                      "null", "12", "345", "-1", ".5", "e+", "red", "green", "k0", "k1", "k2", "\":{\"k", "\"]",
                      "[\"", "\",", "é", "漢", "😀", "ab", "-12", "2024", "-0", "\\n", "\\\"", "\\u00", "ana", " the",
                      "<think>", "\"}]}", "\":[", "1,", "\"a\":1", "xyz"]
        tokens += pieces.map { Array($0.utf8) }
        tokens.append([0xE6, 0xBC])          // the first two bytes of 漢
        tokens.append([0xA2, 0x22])          // its last byte and a quote
        tokens.append([0xF0, 0x9F])          // half of 😀
        tokens.append([0x98, 0x80, 0x22, 0x7D])
        tokens.append([])                    // an id without bytes
        return tokens
    }()
    static let special = vocabulary.firstIndex(of: Array("<think>".utf8))!

    static let trie = TokenTrie(tokens: vocabulary, excluded: [special])

    private func schemas() -> [JSONValue] {
        var sampler = SchemaSampler(random: SplitMix64(state: 12))
        var list: [JSONValue] = (0..<30).map { _ in sampler.schema() }
        list.append(["type": "object"])
        list.append(["type": "string", "maxLength": 3])
        list.append(["type": "string", "pattern": "^[a-c]{1,4}x\\d+$"])
        list.append(["type": "string", "pattern": "[^a]b.é"])
        list.append(["type": "string", "format": "email"])
        list.append(["$ref": "#/$defs/n", "$defs": ["n": ["type": "array", "items": ["$ref": "#/$defs/n"], "maxItems": 2]]])
        return list
    }

    func testMaskHoldsExactlyTheTokensTheMatcherAccepts() throws {
        var random = SplitMix64(state: 7)
        var completed = 0
        for schema in schemas() {
            let grammar = try JSONSchemaGrammar.compile(schema: schema)
            let masker = GrammarTokenMasker(grammar: grammar, trie: TokenMaskTests.trie)
            let validator = SchemaValidator(root: schema)
            for _ in 0..<3 {
                var matcher = GrammarMatcher(grammar: grammar)
                var text: [UInt8] = []
                for _ in 0..<60 {
                    let mask = masker.allowedTokens(for: matcher)
                    XCTAssertEqual(mask, masker.computeMask(matcher))
                    var allowed: [Int] = []
                    for (id, bytes) in TokenMaskTests.vocabulary.enumerated() {
                        var copy = matcher
                        let expected = id != TokenMaskTests.special && !bytes.isEmpty && copy.accept(bytes)
                        XCTAssertEqual(mask.contains(id), expected,
                                       "token \(id) \(String(decoding: bytes, as: UTF8.self)) after \(String(decoding: text, as: UTF8.self)) for \(schema)")
                        if expected { allowed.append(id) }
                    }
                    if matcher.isComplete && (allowed.isEmpty || Int.random(in: 0..<4, using: &random) == 0) { break }
                    guard let id = allowed.randomElement(using: &random) else {
                        XCTFail("dead end after \(String(decoding: text, as: UTF8.self)) for \(schema)")
                        break
                    }
                    XCTAssertTrue(matcher.accept(TokenMaskTests.vocabulary[id]))
                    text += TokenMaskTests.vocabulary[id]
                }
                if matcher.isComplete {
                    completed += 1
                    let value = try JSONValue.parse(text)
                    XCTAssertTrue(validator.isValid(value), "\(String(decoding: text, as: UTF8.self)) for \(schema)")
                }
            }
        }
        XCTAssertGreaterThan(completed, 20)
    }

    /// Random texts (valid documents and mutations of them), cut into random tokens of the vocabulary: the walk
    /// through the masks reaches the end exactly when the matcher accepts the text byte by byte.
    func testTextsAreReachableExactlyWhenValidPrefixes() throws {
        var random = SplitMix64(state: 99)
        let ids = Dictionary(TokenMaskTests.vocabulary.enumerated().filter { $0.offset != TokenMaskTests.special }
            .map { ($0.element, $0.offset) }, uniquingKeysWith: { a, _ in a })
        let schema: JSONValue = ["type": "object",
                                 "properties": ["k0": ["type": "string"], "k1": ["type": "array", "items": ["type": "integer"]],
                                                "k2": ["enum": ["red", "green"]]],
                                 "required": ["k0"], "additionalProperties": false]
        let grammar = try JSONSchemaGrammar.compile(schema: schema)
        let masker = GrammarTokenMasker(grammar: grammar, trie: TokenMaskTests.trie)
        let seeds = ["{\"k0\":\"é漢😀 the\",\"k1\":[12,-1],\"k2\":\"red\"}", "{ \"k0\" : \"a\\n\\\"b\" }",
                     "{\"k0\":\"\",\"k2\":\"green\"}", "{\"k0\":\"x\",\"k1\":[]}"]
        var valid = 0, invalid = 0
        for _ in 0..<400 {
            var text = Array(seeds.randomElement(using: &random)!.utf8)
            switch Int.random(in: 0..<4, using: &random) {
            case 0: break
            case 1: text[Int.random(in: 0..<text.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
            case 2: text.insert(Array("\",:{}[]1 \"a".utf8).randomElement(using: &random)!,
                                at: Int.random(in: 0...text.count, using: &random))
            default: text.remove(at: Int.random(in: 0..<text.count, using: &random))
            }
            text = Array(text.prefix(Int.random(in: 1...text.count, using: &random)))
            var byteMatcher = GrammarMatcher(grammar: grammar)
            let isValidPrefix = byteMatcher.accept(text)
            // Random segmentation into vocabulary tokens.
            var matcher = GrammarMatcher(grammar: grammar)
            var position = 0
            var reachable = true
            while position < text.count {
                var choices: [Int] = []
                for length in 1...min(8, text.count - position) {
                    if let id = ids[Array(text[position..<position + length])] { choices.append(id) }
                }
                let id = choices.randomElement(using: &random)!
                guard masker.allowedTokens(for: matcher).contains(id) else { reachable = false; break }
                XCTAssertTrue(matcher.accept(TokenMaskTests.vocabulary[id]))
                position += TokenMaskTests.vocabulary[id].count
            }
            XCTAssertEqual(reachable, isValidPrefix, String(decoding: text, as: UTF8.self))
            if isValidPrefix { valid += 1 } else { invalid += 1 }
            if isValidPrefix && byteMatcher.isComplete {
                XCTAssertTrue(SchemaValidator(root: schema).isValid(try JSONValue.parse(text)))
            }
        }
        XCTAssertGreaterThan(valid, 50)
        XCTAssertGreaterThan(invalid, 50)
    }

    func testMultibyteCharactersSplitAcrossTokens() throws {
        let grammar = try JSONSchemaGrammar.compile(schema: ["type": "string", "maxLength": 2])
        let masker = GrammarTokenMasker(grammar: grammar, trie: TokenMaskTests.trie)
        var matcher = GrammarMatcher(grammar: grammar)
        let vocabulary = TokenMaskTests.vocabulary
        func id(_ bytes: [UInt8]) -> Int { vocabulary.firstIndex(of: bytes)! }
        for token in [[0x22], [0xE6, 0xBC], [0xA2, 0x22]] as [[UInt8]] {
            XCTAssertTrue(masker.allowedTokens(for: matcher).contains(id(token)))
            XCTAssertTrue(matcher.accept(token))
        }
        XCTAssertTrue(matcher.isComplete)
        // After a lead byte only continuation bytes may follow.
        var half = GrammarMatcher(grammar: grammar)
        half.accept([0x22, 0xF0, 0x9F])
        let mask = masker.allowedTokens(for: half)
        XCTAssertFalse(mask.contains(id([0x98, 0x80, 0x22, 0x7D])))   // its `}` cannot follow a string document
        XCTAssertTrue(mask.contains(0x98))
        XCTAssertFalse(mask.contains(0x41))
        XCTAssertFalse(mask.contains(0x22))
    }
}

/// Plain runs: the shortcut that spares walking the token trie inside strings.
final class PlainRunTests: XCTestCase {
    private func runs(_ schema: JSONValue, after text: String) throws -> [Int32] {
        let grammar = try JSONSchemaGrammar.compile(schema: schema)
        var matcher = GrammarMatcher(grammar: grammar)
        XCTAssertTrue(matcher.accept(Array(text.utf8)))
        return matcher.configurations.map { grammar.plainRun[Int($0.state)] }
    }

    func testFreeStringsRunUnboundedAndBoundedStringsCountDown() throws {
        XCTAssertEqual(try runs(["type": "string"], after: "\""), [Grammar.unboundedPlainRun])
        XCTAssertEqual(try runs(["type": "string"], after: "\"ab"), [Grammar.unboundedPlainRun])
        XCTAssertEqual(try runs(["type": "object", "properties": ["a": ["type": "string"]]], after: "{\"a\": \"x"),
                       [Grammar.unboundedPlainRun])
        XCTAssertEqual(try runs(["type": "string", "maxLength": 5], after: "\"ab"), [3])
        XCTAssertTrue(try runs(["type": "integer"], after: "1").allSatisfy { $0 == -1 })
        // A class chain: `[a-c]` three more times at most, then `x` (another class: the chain ends there).
        XCTAssertEqual(try runs(["type": "string", "pattern": "^[a-c]{1,4}x$"], after: "\"a"), [-1])
        XCTAssertEqual(try runs(["type": "string", "pattern": "^[a-c]+$"], after: "\"ab"), [Grammar.unboundedPlainRun])
    }
}
