import Foundation

/// Greedy decoding with one MTP draft per step (model-spec §5, k = 1). Each step verifies `[x, draft]` in one
/// two-token forward: if the main model's choice after `x` is the draft, both the draft and the bonus token after
/// it are emitted; otherwise the main model's choice is emitted and the draft's cache entry is dropped. The MTP
/// layer then runs over the newly accepted positions with the main model's hidden states ("draft extend"), so its
/// cache only ever holds target-derived rows. The emitted tokens are exactly those of plain greedy decoding.
public struct MTPGreedyResult: Sendable {
    public let tokens: [Int32]
    /// Drafts proposed and drafts the main model accepted.
    public let drafted: Int
    public let accepted: Int
}

extension GLMModel {
    /// Decodes up to `maxTokens` tokens after `prompt` (which must be non-empty) and stops after any token in
    /// `stopTokens`. `cache` and `mtpCache` must be empty and hold `prompt.count + maxTokens + 1` positions.
    public func generateGreedyWithMTP(prompt: [Int32], maxTokens: Int, stopTokens: Set<Int32> = [],
                                      cache: KVCache, mtpCache: KVCache) throws -> MTPGreedyResult {
        guard hasMTP else { throw EngineError.invalidArgument("\(directory.lastPathComponent) has no MTP layer") }
        guard !prompt.isEmpty, maxTokens >= 0 else { throw EngineError.invalidArgument("empty prompt or negative maxTokens") }
        guard cache.count == 0, mtpCache.count == 0 else { throw EngineError.invalidArgument("the caches must be empty") }
        guard cache.capacity >= prompt.count + maxTokens + 1, mtpCache.capacity >= prompt.count + maxTokens + 1 else {
            throw EngineError.invalidArgument("the caches must hold prompt + maxTokens + 1 positions")
        }
        let H = config.hiddenSize, V = config.vocabSize
        func argmax(_ logits: ArraySlice<Float>) -> Int32 {
            var best = logits.startIndex
            for i in logits.indices where logits[i] > logits[best] { best = i }
            return Int32(best - logits.startIndex)
        }
        var out: [Int32] = []
        var drafted = 0, accepted = 0
        guard maxTokens > 0 else { return MTPGreedyResult(tokens: [], drafted: 0, accepted: 0) }

        // Prefill, then the MTP over the prompt: row i pairs prompt[i+1] (or the first new token) with hidden i.
        let first = try forwardWithHidden(prompt, cache: cache, logits: .all)
        var x = argmax(first.logits[(prompt.count - 1) * V ..< prompt.count * V])
        out.append(x)
        var mtpLogits = try mtpForward(Array(prompt.dropFirst()) + [x], hidden: first.hidden, cache: mtpCache).logits
        var draft = argmax(mtpLogits[mtpLogits.count - V ..< mtpLogits.count])

        while out.count < maxTokens && !stopTokens.contains(x) {
            drafted += 1
            let verify = try forwardWithHidden([x, draft], cache: cache, logits: .all)
            let choice = argmax(verify.logits[0 ..< V])
            if choice == draft {
                accepted += 1
                let bonus = argmax(verify.logits[V ..< 2 * V])
                out.append(draft)
                if out.count == maxTokens || stopTokens.contains(draft) { break }
                out.append(bonus)
                mtpLogits = try mtpForward([draft, bonus], hidden: verify.hidden, cache: mtpCache).logits
                x = bonus
            } else {
                cache.truncate(to: cache.count - 1)              // drop the rejected draft's K/V
                out.append(choice)
                mtpLogits = try mtpForward([choice], hidden: Array(verify.hidden[0 ..< H]), cache: mtpCache).logits
                x = choice
            }
            draft = argmax(mtpLogits[mtpLogits.count - V ..< mtpLogits.count])
        }
        return MTPGreedyResult(tokens: out, drafted: drafted, accepted: accepted)
    }
}
