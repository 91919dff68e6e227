import Engine

/// The Engine's `GLMModel` as a `LanguageModel`: each session owns one `KVCache`.
public final class EngineLanguageModel: LanguageModel {
    public let model: GLMModel

    public init(model: GLMModel) { self.model = model }

    public var vocabularySize: Int { model.config.vocabSize }

    public func makeSession(capacity: Int) throws -> InferenceSession {
        EngineSession(model: model, cache: model.makeCache(capacity: capacity))
    }
}

final class EngineSession: InferenceSession {
    private let model: GLMModel
    private let cache: KVCache

    init(model: GLMModel, cache: KVCache) {
        self.model = model
        self.cache = cache
    }

    var count: Int { cache.count }
    var capacity: Int { cache.capacity }

    func truncate(to count: Int) { cache.truncate(to: count) }

    func append(_ tokens: [Int]) throws -> [Float] {
        try model.forward(tokens.map { Int32(exactly: $0) ?? -1 }, cache: cache, logits: .last)
    }
}
