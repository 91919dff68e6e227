import Engine

/// The Engine's `GLMModel` as a `LanguageModel`: each session owns one `KVCache`, or with `speculative` an
/// `MTPDraftSession` (main and MTP caches) that drafts with the MTP layer.
public final class EngineLanguageModel: LanguageModel {
    public let model: GLMModel
    public let speculative: Bool

    /// Plain decoding.
    public init(model: GLMModel) {
        self.model = model
        self.speculative = false
    }

    /// With `speculative`, MTP speculative decoding; throws if the model has no MTP layer.
    public init(model: GLMModel, speculative: Bool) throws {
        if speculative && !model.hasMTP {
            throw EngineError.invalidArgument("--speculative mtp needs an MTP layer (model.layers.\(model.config.numHiddenLayers)), and \(model.directory.lastPathComponent) has none" + (model.missingMTPReason.map { " (\($0))" } ?? ""))
        }
        self.model = model
        self.speculative = speculative
    }

    public var vocabularySize: Int { model.config.vocabSize }

    public func makeSession(capacity: Int) throws -> InferenceSession {
        if speculative { return try EngineDraftSession(MTPDraftSession(model: model, capacity: capacity)) }
        return EngineSession(model: model, cache: model.makeCache(capacity: capacity))
    }

    /// Plain sessions' steps run as one `forward(batch:)`, streaming each weight once for all of them. That
    /// call changes no cache when any step is invalid, so then (and for other sessions) each step runs alone
    /// and only the invalid one fails.
    public func appendEach(_ steps: [DecodeStep]) -> [Result<[Float], Error>] {
        let requests = steps.compactMap { step in (step.session as? EngineSession)?.request(appending: step.token) }
        if steps.count > 1, requests.count == steps.count, let logits = try? model.forward(batch: requests) {
            return logits.map { .success($0) }
        }
        return steps.map { step in Result { try step.session.append([step.token]) } }
    }
}

final class EngineSession: PositionTransferSession {
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

    var bytesPerPosition: Int { cache.bytesPerPosition }
    var storageName: String { cache.storageName }

    func copyPositions(_ range: Range<Int>, into destination: UnsafeMutableRawPointer) {
        cache.copyPositions(range, into: destination)
    }

    func appendPositions(_ positions: Int, from source: UnsafeRawPointer) throws {
        try cache.appendPositions(positions, from: source)
    }

    /// `token` appended to this session's cache, as one request of a batched forward.
    func request(appending token: Int) -> GLMModel.ForwardRequest {
        GLMModel.ForwardRequest(tokens: [Int32(exactly: token) ?? -1], cache: cache, logits: .last)
    }
}

/// `MTPDraftSession` as a `SpeculativeInferenceSession`.
final class EngineDraftSession: SpeculativeInferenceSession {
    private let session: MTPDraftSession

    init(_ session: MTPDraftSession) { self.session = session }

    var count: Int { session.count }
    var capacity: Int { session.capacity }

    func truncate(to count: Int) { session.truncate(to: count) }

    func append(_ tokens: [Int]) throws -> [Float] {
        try session.append(tokens.map { Int32(exactly: $0) ?? -1 })
    }

    func speculate(after next: Int) throws -> DraftProposal {
        let proposal = try session.speculate(after: Int32(exactly: next) ?? -1)
        return DraftProposal(draft: Int(proposal.draft), logitsAfterToken: proposal.logitsAfterToken,
                             logitsAfterDraft: proposal.logitsAfterDraft)
    }

    func resolveDraft(accepted: Bool) { session.resolveDraft(accepted: accepted) }
}
