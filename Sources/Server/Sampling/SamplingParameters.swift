/// How the next token is chosen from the logits. Neutral values switch a stage off.
public struct SamplingParameters: Sendable, Equatable {
    /// 0 means greedy (argmax).
    public var temperature: Double = 1
    /// Keep only the `topK` most likely tokens; 0 keeps all.
    public var topK: Int = 0
    /// Keep the smallest set of most likely tokens whose probability sums to at least `topP`; 1 keeps all.
    public var topP: Double = 1
    /// Drop tokens less likely than `minP` times the most likely one; 0 keeps all.
    public var minP: Double = 0
    /// OpenAI: subtracted once from the logit of every token already generated.
    public var presencePenalty: Double = 0
    /// OpenAI: subtracted per occurrence from the logit of every token already generated.
    public var frequencyPenalty: Double = 0
    /// Hugging Face / CTRL: positive logits of generated tokens are divided by it, negative ones multiplied.
    public var repetitionPenalty: Double = 1
    /// Added to the logits of the given token ids (−100 effectively bans, +100 effectively forces).
    public var logitBias: [Int: Double] = [:]
    /// Same seed + same request ⇒ same tokens; nil draws a random seed.
    public var seed: UInt64?

    public init() {}
}
