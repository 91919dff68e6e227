/// What the scheduler needs from a model: sessions that hold a KV cache and turn tokens into next-token logits.
/// `EngineLanguageModel` adapts the Engine's `GLMModel`. Calls are made from one thread only.
public protocol LanguageModel: AnyObject {
    /// Size of the logits vector.
    var vocabularySize: Int { get }
    /// A fresh session able to hold `capacity` tokens.
    func makeSession(capacity: Int) throws -> InferenceSession
}

/// One sequence's KV cache.
public protocol InferenceSession: AnyObject {
    /// Tokens held in the cache.
    var count: Int { get }
    var capacity: Int { get }
    /// Keeps the first `count` tokens.
    func truncate(to count: Int)
    /// Appends `tokens` (at least one) and returns the logits after the last of them.
    func append(_ tokens: [Int]) throws -> [Float]
}
