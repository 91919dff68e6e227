import Foundation

/// Perplexity of a token sequence, scored in windows (what `glmserve perplexity` prints).
public struct PerplexityResult: Sendable {
    /// exp(mean negative log-likelihood) over the counted tokens.
    public var perplexity: Double { exp(negativeLogLikelihood / Double(max(countedTokens, 1))) }
    /// Sum of −log p(token | its window's earlier tokens), natural log.
    public let negativeLogLikelihood: Double
    /// Tokens whose probability was counted.
    public let countedTokens: Int
    public let windows: Int
}

extension GLMModel {
    /// Cuts `tokens` into consecutive windows that start at multiples of `window` and hold `window + 1` tokens
    /// (the last may be shorter), scores each from an empty cache and counts every token after a window's first:
    /// each token but the very first is counted exactly once, predicted from at most `window` tokens before it.
    /// Log-probabilities are a float64 log-softmax of the f32 logits. `step` (default: the whole window) runs each
    /// window that many tokens per forward; 1 scores every token through the decode path (e.g. the KV type's
    /// decode attention kernels).
    public func perplexity(of tokens: [Int32], window: Int, step: Int? = nil,
                           progress: ((_ windowsDone: Int, _ windowsTotal: Int) -> Void)? = nil) throws -> PerplexityResult {
        guard window >= 1 else { throw EngineError.invalidArgument("the perplexity window must be at least 1 token") }
        guard tokens.count >= 2 else {
            throw EngineError.invalidArgument("perplexity needs at least 2 tokens, got \(tokens.count)")
        }
        let starts = Array(stride(from: 0, to: tokens.count - 1, by: window))
        let cache = makeCache(capacity: window + 1)
        let V = config.vocabSize
        var nll = 0.0, counted = 0
        for (done, start) in starts.enumerated() {
            let piece = Array(tokens[start ..< min(start + window + 1, tokens.count)])
            cache.truncate(to: 0)
            let stride = max(1, step ?? piece.count)
            var logits: [Float] = []
            for first in Swift.stride(from: 0, to: piece.count, by: stride) {
                logits += try forward(Array(piece[first ..< min(first + stride, piece.count)]), cache: cache, logits: .all)
            }
            logits.withUnsafeBufferPointer { all in
                for i in 0 ..< piece.count - 1 {
                    let row = UnsafeBufferPointer(rebasing: all[i * V ..< (i + 1) * V])
                    var top = -Double.infinity
                    for value in row { top = max(top, Double(value)) }
                    var sum = 0.0
                    for value in row { sum += exp(Double(value) - top) }
                    nll -= Double(row[Int(piece[i + 1])]) - top - log(sum)
                    counted += 1
                }
            }
            progress?(done + 1, starts.count)
        }
        return PerplexityResult(negativeLogLikelihood: nll, countedTokens: counted, windows: starts.count)
    }
}
