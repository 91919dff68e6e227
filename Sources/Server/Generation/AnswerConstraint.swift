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
    private var callTrie: TokenTrie?
    private var callBytes: [[UInt8]] = []
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

    /// The vocabulary for tool-call grammars: GLM's argument and call-closing tokens as marker bytes, every other
    /// added token left out.
    func toolCallTrie() -> (trie: TokenTrie, bytes: [[UInt8]]) {
        let plain = vocabularyBytes
        lock.lock(); defer { lock.unlock() }
        if let callTrie { return (callTrie, callBytes) }
        var tokens = plain
        // Tokens holding a 0xFF byte (never part of UTF-8 text) could spell a marker: left out.
        var excluded = Set(tokenizer.addedTokens.map(\.id))
        for (id, bytes) in plain.enumerated() where bytes.contains(0xFF) { excluded.insert(id) }
        for marker in JSONSchemaGrammar.ToolCallMarker.allCases {
            guard let id = tokenizer.id(forToken: marker.token), tokens.indices.contains(id) else { continue }
            tokens[id] = marker.bytes
            excluded.remove(id)
        }
        let built = TokenTrie(tokens: tokens, excluded: excluded)
        callTrie = built
        callBytes = tokens
        return (built, tokens)
    }

    /// The grammar of the request's tool calls when some are constrained: every tool when a call is forced
    /// (`forced`), else the tools marked `"strict": true`; nil when none is. A strict tool whose schema cannot be
    /// compiled is a 400 naming it; a tool that is only forced then keeps free arguments (its name is still
    /// constrained).
    func toolCallMasker(tools: [JSONValue], forced: Bool) throws -> GrammarTokenMasker? {
        // Token bytes only concatenate into the text with a byte-level decoder; without one calls stay free.
        guard tokenizer.decodesTokensToBytes else { return nil }
        var list: [JSONSchemaGrammar.Tool] = []
        for (index, tool) in tools.enumerated() {
            let function = tool["function"] ?? tool
            guard let name = function["name"]?.string else { continue }
            let strict = function["strict"]?.bool == true || tool["strict"]?.bool == true
            var entry = JSONSchemaGrammar.Tool(name: name, parameters: function["parameters"], constrained: forced || strict)
            if entry.constrained {
                do {
                    _ = try JSONSchemaGrammar.toolCall(tools: [entry])
                } catch let error as SchemaError {
                    // A strict tool must be enforced; a forced call of a tool that is not strict keeps free
                    // arguments when its schema uses keywords the grammar does not support (as before issue 12).
                    guard strict else {
                        entry.constrained = false
                        list.append(entry)
                        continue
                    }
                    let param = "tools[\(index)].function.parameters"
                    throw APIError(status: 400, message: "\(param): \(error.description)", param: param,
                                   code: "unsupported_schema")
                }
            }
            list.append(entry)
        }
        guard list.contains(where: \.constrained) else { return nil }
        let key = "tools:" + (forced ? "forced:" : "") + JSONValue.array(tools).serialized()
        return try cachedMasker(key: key) {
            let grammar: Grammar
            do {
                grammar = try JSONSchemaGrammar.toolCall(tools: list)
            } catch let error as SchemaError {
                throw APIError(status: 400, message: "tools: \(error.description)", param: "tools", code: "unsupported_schema")
            }
            return GrammarTokenMasker(grammar: grammar, trie: toolCallTrie().trie)
        }
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
        return try cachedMasker(key: key) {
            let grammar: Grammar
            switch format {
            case .text, .jsonObject: grammar = JSONSchemaGrammar.anyObject()
            case let .jsonSchema(schema):
                do {
                    grammar = try JSONSchemaGrammar.compile(schema: schema)
                } catch let error as SchemaError {
                    throw APIError(status: 400, message: "response_format.json_schema.schema: \(error.description)",
                                   param: "response_format.json_schema.schema", code: "unsupported_schema")
                }
            }
            return GrammarTokenMasker(grammar: grammar, trie: tokenTrie())
        }
    }

    /// The cached masker for `key`, else `make()`'s, kept under `key`; the least recently used of more than
    /// `cacheLimit` entries is dropped. Compiling runs outside the lock; when two requests compile the same key at
    /// once, the first one stored wins.
    private func cachedMasker(key: String, make: () throws -> GrammarTokenMasker) throws -> GrammarTokenMasker {
        func lookUp() -> GrammarTokenMasker? {
            guard let cached = maskers[key] else { return nil }
            recent.removeAll { $0 == key }
            recent.append(key)
            return cached
        }
        lock.lock()
        if let cached = lookUp() { lock.unlock(); return cached }
        lock.unlock()
        let masker = try make()
        lock.lock()
        defer { lock.unlock() }
        if let cached = lookUp() { return cached }
        maskers[key] = masker
        recent.append(key)
        if recent.count > StructuredOutputCompiler.cacheLimit { maskers[recent.removeFirst()] = nil }
        return masker
    }
}

/// The grammars an answer must follow, and where they apply (protocol.md §7.7's reasoning markers).
public struct AnswerConstraint: @unchecked Sendable {
    /// The `response_format` document (nil: the answer's text is free).
    let masker: GrammarTokenMasker?
    /// Tool calls whose arguments are constrained (strict tools, forced calls): from after `<tool_call>`
    /// through `</tool_call>`, over `toolCallBytes`.
    var toolCallMasker: GrammarTokenMasker?
    /// With thinking on: `<think>`, `</think>` and the newline tokens that may come before `<think>`; the
    /// reasoning is free and the document starts after `</think>` (or at the first token of an answer without
    /// reasoning).
    var reasoning: (open: Int, close: Int, leading: Set<Int>)?
    /// `<tool_call>`. With a document: allowed instead of it (before its first non-whitespace byte) when the
    /// request offers tools (`allowsToolCalls`), never otherwise (the output parser would take it for a call).
    var toolCallOpen: Int?
    var allowsToolCalls = false
    /// The bytes of every token id (shared by all requests of the model).
    let vocabularyBytes: [[UInt8]]
    /// The same with the tool-call special tokens as `JSONSchemaGrammar.ToolCallMarker` bytes.
    var toolCallBytes: [[UInt8]] = []

    func tokenBytes(_ id: Int) -> [UInt8] { vocabularyBytes.indices.contains(id) ? vocabularyBytes[id] : [] }
    func callBytes(_ id: Int) -> [UInt8] { toolCallBytes.indices.contains(id) ? toolCallBytes[id] : [] }
}

/// Tracks one generation through an `AnswerConstraint` and masks its logits.
struct AnswerConstraintState {
    private enum Phase {
        /// Thinking on, nothing but leading newlines yet.
        case beforeReasoning
        case reasoning
        /// The `response_format` document (`masker`).
        case document
        /// Free text (no document constraint, or after a tool call).
        case text
        /// Inside a constrained tool call.
        case toolCall
        /// Unconstrained to the end (a tool call that is not constrained began).
        case free
    }

    let constraint: AnswerConstraint
    private var phase: Phase
    private var matcher: GrammarMatcher?
    private var callMatcher: GrammarMatcher?
    private var documentStarted = false

    init(_ constraint: AnswerConstraint) {
        self.constraint = constraint
        matcher = constraint.masker.map { GrammarMatcher(grammar: $0.grammar) }
        phase = constraint.reasoning != nil ? .beforeReasoning : constraint.masker != nil ? .document : .text
    }

    /// Sets the logits of every token that may not come next to −∞. With a document, stop tokens are allowed
    /// only once it is complete (and never while reasoning); inside a constrained tool call, only its grammar's
    /// tokens.
    mutating func mask(_ logits: inout [Float], stopTokens: Set<Int>) {
        switch phase {
        case .free, .text:
            return
        case .reasoning:
            guard constraint.masker != nil else { return }
            for id in stopTokens where logits.indices.contains(id) { logits[id] = -.infinity }
            if let open = constraint.toolCallOpen, !constraint.allowsToolCalls, logits.indices.contains(open) {
                logits[open] = -.infinity
            }
        case .toolCall:
            guard let masker = constraint.toolCallMasker, let callMatcher else { return }
            var allowed = masker.allowedTokens(for: callMatcher)
            if allowed.isEmpty { for id in stopTokens { allowed.insert(id) } }
            AnswerConstraintState.apply(allowed, to: &logits)
        case .beforeReasoning, .document:
            guard let masker = constraint.masker, let matcher else { return }   // thinking on, free text
            var allowed = masker.allowedTokens(for: matcher)
            if matcher.isComplete { for id in stopTokens { allowed.insert(id) } }
            if phase == .beforeReasoning, let markers = constraint.reasoning {
                allowed.insert(markers.open)
                for id in markers.leading { allowed.insert(id) }
            }
            if !documentStarted, constraint.allowsToolCalls, let open = constraint.toolCallOpen { allowed.insert(open) }
            if allowed.isEmpty { for id in stopTokens { allowed.insert(id) } }   // nothing fits: let it end
            AnswerConstraintState.apply(allowed, to: &logits)
        }
    }

    private static func apply(_ allowed: TokenMask, to logits: inout [Float]) {
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

    /// Follows the chosen (or forced) token.
    mutating func advance(_ token: Int) {
        let opensCall = token == constraint.toolCallOpen
        switch phase {
        case .free:
            return
        case .toolCall:
            callMatcher?.accept(constraint.callBytes(token))
            if callMatcher?.isComplete == true && callMatcher?.acceptsNoMoreBytes == true {
                callMatcher = nil
                phase = .text
            }
        case .text:
            if opensCall { startCall() }
        case .reasoning:
            if token == constraint.reasoning?.close { phase = constraint.masker != nil ? .document : .text }
            if opensCall { startCall() }
        case .beforeReasoning, .document:
            if phase == .beforeReasoning, let markers = constraint.reasoning {
                if token == markers.open { phase = .reasoning; return }
                if markers.leading.contains(token) { return }
            }
            phase = constraint.masker != nil ? .document : .text
            if opensCall && (constraint.masker == nil || (!documentStarted && constraint.allowsToolCalls)) {
                startCall()
                return
            }
            guard phase == .document else { return }
            let bytes = constraint.tokenBytes(token)
            matcher?.accept(bytes)
            if bytes.contains(where: { !(0x09...0x0A).contains($0) && $0 != 0x0D && $0 != 0x20 }) {
                documentStarted = true
            }
        }
    }

    /// `<tool_call>` was chosen: its arguments follow the tool-call grammar when there is one.
    private mutating func startCall() {
        if let masker = constraint.toolCallMasker {
            callMatcher = GrammarMatcher(grammar: masker.grammar)
            phase = .toolCall
        } else {
            phase = .free
        }
    }
}
