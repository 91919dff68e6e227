import Foundation
import Tokenizer

/// Everything the endpoints need about the model being served (thread-safe to share; generation itself goes
/// through the scheduler).
public final class ServedModel: @unchecked Sendable {
    /// The id clients send as `model` and `/v1/models` lists.
    public let id: String
    public let tokenizer: Tokenizer
    public let defaults: GenerationDefaults
    /// Ids that end generation: the model's EOS ids plus GLM's turn tokens.
    public let stopTokenIDs: Set<Int>
    /// Tokens per sequence (prompt + completion).
    public let contextSize: Int
    public let vocabularySize: Int
    public let created: Int
    /// The weights' format `/v1/models` reports (`weight_format`), e.g. "q4 (GLMServe blocks v1)"; nil: not shown.
    public var weightFormat: String?
    let scheduler: GenerationScheduler
    /// Grammars of `response_format`, compiled for this vocabulary.
    let structuredOutput: StructuredOutputCompiler

    /// GLM's end-of-turn tokens, stops in every GLM-4.x deployment.
    static let turnTokens = ["<|endoftext|>", "<|user|>", "<|observation|>", "<|system|>", "<|assistant|>"]

    public init(id: String, tokenizer: Tokenizer, defaults: GenerationDefaults, modelEOSTokenIDs: [Int],
                languageModel: LanguageModel, contextSize: Int, parallel: Int = 1, maxQueue: Int,
                prefixCache: PrefixCache? = nil, memory: KVMemoryGuard = KVMemoryGuard(), log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.id = id
        self.tokenizer = tokenizer
        self.defaults = defaults
        var stops = Set(defaults.eosTokenIDs).union(modelEOSTokenIDs)
        for name in ServedModel.turnTokens {
            if let tokenID = tokenizer.id(forToken: name) { stops.insert(tokenID) }
        }
        self.stopTokenIDs = stops
        self.contextSize = contextSize
        self.vocabularySize = languageModel.vocabularySize
        self.created = Int(Date().timeIntervalSince1970)
        self.structuredOutput = StructuredOutputCompiler(tokenizer: tokenizer, vocabularySize: languageModel.vocabularySize)
        self.scheduler = GenerationScheduler(model: languageModel, contextSize: contextSize, parallel: parallel,
                                             maxQueue: maxQueue, prefixCache: prefixCache, memory: memory,
                                             log: log)
        scheduler.start()
    }

    /// Stops the generation worker (waiting jobs are cancelled).
    public func stop() { scheduler.stop() }
}
