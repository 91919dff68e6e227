import Foundation

/// One sequence decoded with MTP speculation (model-spec §4–§5, one draft per step). It owns the main KV cache
/// and the MTP layer's cache and keeps them aligned:
///
/// - the main cache holds tokens `t_0 ..< t_n` and yields hidden states `h_0 ..< h_n`;
/// - MTP row `i` pairs token `t_{i+1}` with `h_i` (its logits predict `t_{i+2}`); rows `0 ..< m` are in the MTP
///   cache and the hidden states `h_m ..< h_n` wait in `unpaired` until their next token is known.
///
/// A decode step: the caller picks the next token `x` from the last logits, `speculate(after: x)` runs the MTP
/// rows up to `(x, h_{n-1})` to draft `d` and verifies `[x, d]` with one two-token forward of the main model; the
/// caller decides (with its own sampling rule) whether `d` is accepted and calls `resolveDraft(accepted:)`, which
/// on rejection drops `d`'s K/V from the main cache. The MTP cache only ever holds rows built from main-model
/// hidden states of tokens that stayed in the main cache, so it never needs rolling back.
public final class MTPDraftSession: @unchecked Sendable {
    public let model: GLMModel
    private let cache: KVCache
    private let mtpCache: KVCache
    /// The tokens in the main cache.
    private var tokens: [Int32] = []
    /// `h_m ..< h_n` (m = mtpCache.count, n = cache.count), row-major.
    private var unpaired: [Float] = []
    /// After `truncate` cut into the paired rows: the last kept token, dropped from the main cache so that its
    /// hidden state is recomputed (with the next `append`) before its MTP row is built.
    private var replay: Int32?
    /// Between `speculate` and `resolveDraft`.
    private var awaitingDecision = false

    /// A draft and the main model's logits over `[x, draft]`.
    public struct Proposal: Sendable {
        /// The MTP layer's greedy guess for the token after `x`.
        public let draft: Int32
        /// Logits after `x` (the distribution the draft is judged against).
        public let logitsAfterToken: [Float]
        /// Logits after the draft (valid only if it is accepted).
        public let logitsAfterDraft: [Float]
    }

    /// Throws if the model has no MTP layer.
    public init(model: GLMModel, capacity: Int) throws {
        guard model.hasMTP else {
            throw EngineError.invalidArgument("\(model.directory.lastPathComponent) has no MTP layer (model.layers.\(model.config.numHiddenLayers))")
        }
        self.model = model
        cache = model.makeCache(capacity: capacity)
        mtpCache = model.makeMTPCache(capacity: capacity)
    }

    /// Tokens held (the next token runs at position `count`).
    public var count: Int { cache.count + (replay == nil ? 0 : 1) }
    public var capacity: Int { cache.capacity }
    /// Tokens in the MTP cache (for tests): `count - 1` after an `append`, `count - 1` or `count - 2` after a step.
    public var draftCacheCount: Int { mtpCache.count }

    /// Keeps the first `count` tokens. MTP rows that only involve kept tokens stay; if the cut goes into them,
    /// the MTP cache keeps rows `0 ..< count - 1` and the last kept token is recomputed by the next `append`.
    public func truncate(to newCount: Int) {
        awaitingDecision = false
        guard newCount < count else { return }
        replay = nil                        // its position is at or after the cut (c ≤ cache.count = m below)
        let c = max(0, newCount)
        let m = mtpCache.count
        let H = model.config.hiddenSize
        tokens.removeLast(tokens.count - min(c, tokens.count))
        if c > m {                          // h_{c-1} is still unpaired: keep h_m ..< h_c
            cache.truncate(to: c)
            unpaired.removeLast(unpaired.count - (c - m) * H)
        } else {                            // rows 0 ..< c-1 stay; t_{c-1} is recomputed to get h_{c-1}
            cache.truncate(to: max(0, c - 1))
            mtpCache.truncate(to: max(0, c - 1))
            unpaired = []
            if c > 0 { replay = tokens.removeLast() }
        }
    }

    /// Appends `newTokens` (at least one) and returns the logits after the last of them. The MTP rows whose next
    /// token is now known are added to the MTP cache.
    public func append(_ newTokens: [Int32]) throws -> [Float] {
        guard !awaitingDecision else { throw EngineError.invalidArgument("resolveDraft must follow speculate") }
        guard !newTokens.isEmpty else { throw EngineError.invalidArgument("append needs at least one token") }
        let run = (replay.map { [$0] } ?? []) + newTokens
        let (logits, hidden) = try model.forwardKeepingHidden(run, cache: cache, logitRows: 1)
        replay = nil
        tokens += run
        unpaired += hidden
        try pairKnownRows()
        return logits
    }

    /// Drafts the token after `next` and verifies `[next, draft]` in one forward of the main model; afterwards the
    /// cache holds both (call `resolveDraft`). Needs room for two more tokens and at least one token before.
    public func speculate(after next: Int32) throws -> Proposal {
        guard !awaitingDecision else { throw EngineError.invalidArgument("resolveDraft must follow speculate") }
        guard replay == nil, cache.count > 0 else {
            throw EngineError.invalidArgument("speculate needs the logits of a preceding append")
        }
        guard cache.count + 2 <= cache.capacity else {
            throw EngineError.cacheFull(count: cache.count, adding: 2, capacity: cache.capacity)
        }
        let V = model.config.vocabSize
        // MTP rows m ..< n: tokens t_{m+1} ..< t_n and then `next`, with h_m ..< h_n; the last row drafts.
        let m = mtpCache.count
        let rowTokens = Array(tokens[(m + 1)...]) + [next]
        let mtpLogits = try model.mtpRows(rowTokens, hidden: unpaired, cache: mtpCache, headRows: 1)
        unpaired = []
        let draft = Int32(Self.argmax(mtpLogits[0 ..< V]))
        let (logits, hidden) = try model.forwardKeepingHidden([next, draft], cache: cache, logitRows: 2)
        tokens += [next, draft]
        unpaired = hidden
        awaitingDecision = true
        return Proposal(draft: draft, logitsAfterToken: Array(logits[0 ..< V]), logitsAfterDraft: Array(logits[V ..< 2 * V]))
    }

    /// Keeps the draft, or drops it from the main cache (its hidden state is discarded, so the MTP cache stays
    /// aligned: model-spec §4.5).
    public func resolveDraft(accepted: Bool) {
        guard awaitingDecision else { return }
        awaitingDecision = false
        guard !accepted else { return }
        cache.truncate(to: cache.count - 1)
        tokens.removeLast()
        unpaired.removeLast(model.config.hiddenSize)
    }

    /// Builds the MTP rows whose next token is in the main cache (all but the last unpaired hidden state).
    private func pairKnownRows() throws {
        let H = model.config.hiddenSize
        let m = mtpCache.count, n = cache.count
        guard n - m > 1 else { return }
        let rowTokens = Array(tokens[(m + 1) ..< n])
        _ = try model.mtpRows(rowTokens, hidden: Array(unpaired[0 ..< (n - 1 - m) * H]), cache: mtpCache, headRows: 0)
        unpaired.removeFirst((n - 1 - m) * H)
    }

    static func argmax(_ values: ArraySlice<Float>) -> Int {
        var best = values.startIndex
        for i in values.indices where values[i] > values[best] { best = i }
        return best - values.startIndex
    }
}

extension GLMModel {
    /// Runs `tokens` like `forward` and returns the logits of the last `logitRows` rows and the post-norm hidden
    /// states of all rows (`[tokens.count, hidden_size]`), so the MTP layer can pair every position.
    func forwardKeepingHidden(_ tokens: [Int32], cache: KVCache, logitRows: Int) throws -> (logits: [Float], hidden: [Float]) {
        guard !tokens.isEmpty else { throw EngineError.invalidArgument("forward needs at least one token") }
        guard !cache.isMTP, cache.layers == config.numHiddenLayers, cache.width == config.numKeyValueHeads * config.headDim else {
            throw EngineError.invalidArgument("the KV cache was made for a different model")
        }
        for id in tokens where id < 0 || Int(id) >= config.vocabSize {
            throw EngineError.tokenOutOfRange(id: id, vocabSize: config.vocabSize)
        }
        guard cache.count + tokens.count <= cache.capacity else {
            throw EngineError.cacheFull(count: cache.count, adding: tokens.count, capacity: cache.capacity)
        }
        let H = config.hiddenSize, T = tokens.count
        let rows = min(max(logitRows, 1), T)
        let hidden = model.hiddenStates([(tokens, cache)])
        let logits = linear(model.lmHead, Array(hidden[(T - rows) * H ..< T * H]), tokens: rows)
        return (logits, hidden)
    }

    /// `mtpForward` with logits for only the last `headRows` rows.
    func mtpRows(_ tokens: [Int32], hidden: [Float], cache: KVCache, headRows: Int) throws -> [Float] {
        guard let mtp = model.mtp else { throw EngineError.invalidArgument("\(directory.lastPathComponent) has no MTP layer") }
        guard !tokens.isEmpty, hidden.count == tokens.count * config.hiddenSize else {
            throw EngineError.invalidArgument("the MTP layer needs one hidden row per token")
        }
        guard cache.isMTP else { throw EngineError.invalidArgument("the MTP layer needs a cache from makeMTPCache") }
        for id in tokens where id < 0 || Int(id) >= config.vocabSize {
            throw EngineError.tokenOutOfRange(id: id, vocabSize: config.vocabSize)
        }
        guard cache.count + tokens.count <= cache.capacity else {
            throw EngineError.cacheFull(count: cache.count, adding: tokens.count, capacity: cache.capacity)
        }
        return model.mtp(mtp, tokens: tokens, hidden: hidden, cache: cache, zeroEmbeddingAtPositionZero: false,
                         headRows: headRows).logits
    }
}
