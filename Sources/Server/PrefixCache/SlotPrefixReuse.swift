import Foundation

/// How the scheduler's slots use the `PrefixCache`: before a job's prefill, `reuse` extends the slot's own cached
/// prefix with the longest chain of cached blocks of the prompt; after every step, `publish` hands the slot's newly
/// completed blocks to the cache. Only sessions that can move positions (`PositionTransferSession`) take part.
extension PrefixCache {
    /// Makes `slot` hold the longest cached prefix of `prompt` it can get: its own first `common` tokens (which
    /// match `prompt`) or, if longer, its whole blocks before `common` followed by cached blocks of the prompt.
    /// Returns the number of prompt tokens the slot now holds (its session and `tokens` agree on them).
    func reuse(in slot: Slot, prompt: [Int], common: Int) throws -> Int {
        guard let session = slot.session as? PositionTransferSession,
              session.bytesPerPosition * blockTokens == blockBytes else { return common }
        let keys = keys(for: prompt)
        let own = common / blockTokens
        let found = blocks(of: prompt, keys: keys, from: own, limit: session.capacity / blockTokens)
        let reach = (own + found.count) * blockTokens
        guard reach > common else { return common }
        session.truncate(to: own * blockTokens)
        slot.truncateTokens(to: own * blockTokens)
        for block in found {
            try session.appendPositions(blockTokens, from: UnsafeRawPointer(block.bytes.baseAddress!))
            slot.tokens += block.tokens.map(Int.init)
        }
        slot.blockKeys = Array(keys.prefix(own + found.count))
        slot.publishedBlocks = slot.blockKeys.count
        return reach
    }

    /// Publishes the whole blocks of `slot`'s sequence that are not published yet.
    func publish(from slot: Slot) {
        guard let session = slot.session as? PositionTransferSession,
              session.bytesPerPosition * blockTokens == blockBytes else { return }
        let whole = min(slot.tokens.count, session.count) / blockTokens
        while slot.blockKeys.count < whole {
            let i = slot.blockKeys.count
            let parent = slot.blockKeys.last ?? .root
            slot.blockKeys.append(parent.chained(with: slot.tokens[i * blockTokens ..< (i + 1) * blockTokens]))
        }
        while slot.publishedBlocks < whole {
            let i = slot.publishedBlocks
            let range = i * blockTokens ..< (i + 1) * blockTokens
            publish(key: slot.blockKeys[i], parent: i == 0 ? .root : slot.blockKeys[i - 1], depth: i,
                    tokens: slot.tokens[range]) { session.copyPositions(range, into: $0) }
            slot.publishedBlocks += 1
        }
    }
}
