import Foundation
import JSON
import Structured
import Tokenizer

/// `response_format` of a request.
enum ResponseFormat: Equatable {
    case text
    case jsonObject
    case jsonSchema(JSONValue)
}

/// Compiles `response_format` schemas for one model's vocabulary: the token trie is built once (on first use),
/// compiled grammars and their mask caches are kept per schema (the most recent `cacheLimit`).
final class StructuredOutputCompiler: @unchecked Sendable {
    private let tokenizer: Tokenizer
    private let vocabularySize: Int
    private let lock = NSLock()
    private var trie: TokenTrie?
    private var bytes: [[UInt8]] = []
    private var maskers: [String: GrammarTokenMasker] = [:]
    private var recent: [String] = []
    static let cacheLimit = 16

    init(tokenizer: Tokenizer, vocabularySize: Int) {
        self.tokenizer = tokenizer
        self.vocabularySize = vocabularySize
    }

    /// The vocabulary as a trie: every token by its bytes, with added tokens (`<think>`, `<tool_call>`, the turn
    /// tokens…) left out — their text is structure to the output parser, never part of a JSON answer.
    func tokenTrie() -> TokenTrie {
        lock.lock(); defer { lock.unlock() }
        if let trie { return trie }
        let tokens = (0..<vocabularySize).map { tokenizer.bytes(ofToken: $0) }
        let built = TokenTrie(tokens: tokens, excluded: Set(tokenizer.addedTokens.map(\.id)))
        trie = built
        bytes = tokens
        return built
    }

    /// The bytes of every token id.
    var vocabularyBytes: [[UInt8]] {
        _ = tokenTrie()
        lock.lock(); defer { lock.unlock() }
        return bytes
    }

    /// The masker for `format` (nil for `.text`); throws a 400 naming the keyword and path of an unsupported
    /// schema.
    func masker(for format: ResponseFormat) throws -> GrammarTokenMasker? {
        let key: String
        switch format {
        case .text: return nil
        case .jsonObject: key = "json_object"
        case let .jsonSchema(schema): key = schema.serialized()
        }
        guard tokenizer.decodesTokensToBytes else {
            throw APIError(status: 400, message: "response_format needs a byte-level tokenizer; this model's has none.",
                           param: "response_format", code: "unsupported_value")
        }
        lock.lock()
        if let cached = maskers[key] {
            recent.removeAll { $0 == key }
            recent.append(key)
            lock.unlock()
            return cached
        }
        lock.unlock()
        let grammar: Grammar
        switch format {
        case .text: return nil
        case .jsonObject: grammar = JSONSchemaGrammar.anyObject()
        case let .jsonSchema(schema):
            do {
                grammar = try JSONSchemaGrammar.compile(schema: schema)
            } catch let error as SchemaError {
                throw APIError(status: 400, message: "response_format.json_schema.schema: \(error.description)",
                               param: "response_format.json_schema.schema", code: "unsupported_schema")
            }
        }
        let masker = GrammarTokenMasker(grammar: grammar, trie: tokenTrie())
        lock.lock()
        maskers[key] = masker
        recent.append(key)
        if recent.count > StructuredOutputCompiler.cacheLimit { maskers[recent.removeFirst()] = nil }
        lock.unlock()
        return masker
    }
}

/// The grammar an answer must follow, and where it starts (protocol.md §7.7's reasoning markers).
public struct AnswerConstraint: @unchecked Sendable {
    let masker: GrammarTokenMasker
    /// With thinking on: `<think>`, `</think>` and the newline tokens that may come before `<think>`; the
    /// reasoning is free and the grammar starts after `</think>` (or at the first token of an answer without
    /// reasoning).
    var reasoning: (open: Int, close: Int, leading: Set<Int>)?
    /// `<tool_call>`: when the request offers tools (`allowsToolCalls`) it is allowed instead of the document,
    /// before its first non-whitespace byte, and the rest of the answer is then unconstrained (a tool call,
    /// parsed as usual); otherwise it is never allowed (the output parser would take it for a call).
    var toolCallOpen: Int?
    var allowsToolCalls = false
    /// The bytes of every token id (shared by all requests of the model).
    let vocabularyBytes: [[UInt8]]

    func tokenBytes(_ id: Int) -> [UInt8] { vocabularyBytes.indices.contains(id) ? vocabularyBytes[id] : [] }
}

/// Tracks one generation through an `AnswerConstraint` and masks its logits.
struct AnswerConstraintState {
    private enum Phase { case beforeReasoning, reasoning, document, free }

    let constraint: AnswerConstraint
    private var phase: Phase
    private var matcher: GrammarMatcher
    private var documentStarted = false

    init(_ constraint: AnswerConstraint) {
        self.constraint = constraint
        phase = constraint.reasoning == nil ? .document : .beforeReasoning
        matcher = GrammarMatcher(grammar: constraint.masker.grammar)
    }

    /// Sets the logits of every token that may not come next to −∞. Stop tokens are allowed only once the
    /// document is complete (and never while reasoning).
    mutating func mask(_ logits: inout [Float], stopTokens: Set<Int>) {
        switch phase {
        case .free:
            return
        case .reasoning:
            for id in stopTokens where logits.indices.contains(id) { logits[id] = -.infinity }
            if let open = constraint.toolCallOpen, !constraint.allowsToolCalls, logits.indices.contains(open) {
                logits[open] = -.infinity
            }
            return
        case .beforeReasoning, .document:
            var allowed = constraint.masker.allowedTokens(for: matcher)
            if matcher.isComplete { for id in stopTokens { allowed.insert(id) } }
            if phase == .beforeReasoning, let markers = constraint.reasoning {
                allowed.insert(markers.open)
                for id in markers.leading { allowed.insert(id) }
            }
            if !documentStarted, constraint.allowsToolCalls, let open = constraint.toolCallOpen { allowed.insert(open) }
            if allowed.isEmpty { for id in stopTokens { allowed.insert(id) } }   // nothing fits: let it end
            let words = allowed.words
            for w in words.indices {
                let word = words[w]
                if word == .max { continue }
                let base = w << 6
                for bit in 0..<64 where word & (1 << UInt64(bit)) == 0 {
                    let id = base + bit
                    if id >= logits.count { break }
                    logits[id] = -.infinity
                }
            }
        }
    }

    /// Follows the chosen token.
    mutating func advance(_ token: Int, bytes: [UInt8]) {
        switch phase {
        case .free:
            return
        case .reasoning:
            if token == constraint.reasoning?.close { phase = .document }
            if token == constraint.toolCallOpen && constraint.allowsToolCalls { phase = .free }
        case .beforeReasoning, .document:
            if phase == .beforeReasoning, let markers = constraint.reasoning {
                if token == markers.open { phase = .reasoning; return }
                if markers.leading.contains(token) { return }
            }
            phase = .document
            if !documentStarted && constraint.allowsToolCalls && token == constraint.toolCallOpen {
                phase = .free
                return
            }
            matcher.accept(bytes)
            if bytes.contains(where: { !(0x09...0x0A).contains($0) && $0 != 0x0D && $0 != 0x20 }) {
                documentStarted = true
            }
        }
    }
}
