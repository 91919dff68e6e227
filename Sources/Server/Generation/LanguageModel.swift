/// What the scheduler needs from a model: sessions that hold a KV cache and turn tokens into next-token logits.
/// `EngineLanguageModel` adapts the Engine's `GLMModel`. Calls are made from one thread only.
public protocol LanguageModel: AnyObject {
    /// Size of the logits vector.
    var vocabularySize: Int { get }
    /// A fresh session able to hold `capacity` tokens.
    func makeSession(capacity: Int) throws -> InferenceSession
    /// Appends one token to each of several distinct sessions and returns, per step and in order, the logits
    /// after it or that step's error; one step's failure leaves the others' results and caches intact.
    /// The default runs `append` session by session; a model may run all steps in one pass.
    func appendEach(_ steps: [DecodeStep]) -> [Result<[Float], Error>]
}

/// One decode token for one session.
public struct DecodeStep {
    public var session: InferenceSession
    public var token: Int

    public init(session: InferenceSession, token: Int) {
        self.session = session
        self.token = token
    }
}

extension LanguageModel {
    public func appendEach(_ steps: [DecodeStep]) -> [Result<[Float], Error>] {
        steps.map { step in Result { try step.session.append([step.token]) } }
    }
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

/// A session whose cached positions can be copied out and appended from elsewhere, so the server's
/// `PrefixCache` can keep blocks of them for any later request. Sessions that are not one (speculative ones, whose
/// MTP cache lags the main one) simply take no part in the prefix cache.
public protocol PositionTransferSession: InferenceSession {
    /// Bytes one position takes (the size of a block is `blockTokens` times this).
    var bytesPerPosition: Int { get }
    /// The element type stored, e.g. "f32" (part of a cache file's fingerprint).
    var storageName: String { get }
    /// Copies positions `range` (all below `count`) into `destination`.
    func copyPositions(_ range: Range<Int>, into destination: UnsafeMutableRawPointer)
    /// Appends `positions` positions in the layout `copyPositions` writes.
    func appendPositions(_ positions: Int, from source: UnsafeRawPointer) throws
}

/// A session that can also draft one token and verify it with the main model (speculative decoding).
public protocol SpeculativeInferenceSession: InferenceSession {
    /// Drafts the token after `next` and runs `[next, draft]`; the cache then holds both, and `resolveDraft`
    /// must follow. Needs `count + 2 <= capacity` and a preceding `append`.
    func speculate(after next: Int) throws -> DraftProposal
    /// Keeps the draft, or drops it (and everything derived from it) from the cache.
    func resolveDraft(accepted: Bool)
}

/// A drafted token and the main model's logits after the token before it and after it.
public struct DraftProposal {
    public var draft: Int
    public var logitsAfterToken: [Float]
    public var logitsAfterDraft: [Float]

    public init(draft: Int, logitsAfterToken: [Float], logitsAfterDraft: [Float]) {
        self.draft = draft
        self.logitsAfterToken = logitsAfterToken
        self.logitsAfterDraft = logitsAfterDraft
    }
}
