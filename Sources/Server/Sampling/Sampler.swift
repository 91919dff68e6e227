import Foundation

/// Chooses tokens from logits: logit bias, penalties over the tokens generated so far, then either argmax
/// (temperature 0) or temperature → top-k → softmax → min-p → top-p → a draw from the seeded generator.
public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    private var generator: SeededGenerator
    /// How often each token has been generated (for the penalties).
    private var counts: [Int: Int] = [:]

    /// Candidates whose (temperature-scaled) logit is this far below the best have probability below e^-30
    /// relative to it; they are skipped before sorting, which changes no draw in practice.
    private static let logitWindow: Float = 30

    public init(parameters: SamplingParameters) {
        self.parameters = parameters
        var system = SystemRandomNumberGenerator()
        self.generator = SeededGenerator(seed: parameters.seed ?? system.next())
    }

    /// Records a generated token for the penalties.
    public mutating func accept(_ token: Int) {
        counts[token, default: 0] += 1
    }

    /// The next token id for `logits` (one value per vocabulary entry).
    public mutating func sample(_ logits: [Float]) -> Int {
        draw(from: distribution(logits))
    }

    /// Speculative decoding with a deterministic draft: with `p` the distribution `sample` would draw from for
    /// `logits`, the draft is accepted with probability p(draft); otherwise the token is drawn from p with the
    /// draft's mass removed and renormalised. The result is distributed exactly as `sample(logits)`; at
    /// temperature 0 it is the argmax, and the draft is accepted iff it is the argmax.
    public mutating func judgeDraft(_ draft: Int, logits: [Float]) -> (token: Int, accepted: Bool) {
        var p = distribution(logits)
        guard let index = p.ids.firstIndex(of: draft) else { return (draw(from: p), false) }
        if p.ids.count == 1 { return (draft, true) }
        if generator.nextUnitInterval() * p.mass < p.weights[index] { return (draft, true) }
        p.mass -= p.weights[index]
        p.ids.remove(at: index)
        p.weights.remove(at: index)
        return (draw(from: p), false)
    }

    /// Candidate ids, most likely first, with unnormalised probabilities summing to `mass`.
    struct Distribution {
        var ids: [Int]
        var weights: [Double]
        var mass: Double
        /// Temperature 0 (or no usable logits): the single id is taken without a draw.
        var isGreedy = false
    }

    /// The tokens `sample` may pick for `logits` and their weights.
    func distribution(_ logits: [Float]) -> Distribution {
        guard !logits.isEmpty else { return Distribution(ids: [0], weights: [1], mass: 1, isGreedy: true) }
        var adjusted = logits
        applyBiasAndPenalties(&adjusted)
        let greedy = Distribution(ids: [Sampler.argmax(adjusted)], weights: [1], mass: 1, isGreedy: true)
        if parameters.temperature <= 0 { return greedy }

        // Temperature, then the candidates worth sorting, most likely first.
        let inverseTemperature = Float(1 / parameters.temperature)
        let best = adjusted.max() ?? 0
        let floor = best - Sampler.logitWindow / inverseTemperature
        var candidates: [(id: Int, logit: Float)] = []
        for (id, logit) in adjusted.enumerated() where logit >= floor && logit.isFinite {
            candidates.append((id, logit * inverseTemperature))
        }
        guard !candidates.isEmpty else { return greedy }
        candidates.sort { $0.logit > $1.logit || ($0.logit == $1.logit && $0.id < $1.id) }
        if parameters.topK > 0 && candidates.count > parameters.topK {
            candidates.removeLast(candidates.count - parameters.topK)
        }

        // Softmax: p_i = exp(l_i − l_max) / Σ_j exp(l_j − l_max).
        let maxLogit = candidates[0].logit
        var probabilities = candidates.map { Double(exp($0.logit - maxLogit)) }
        let total = probabilities.reduce(0, +)
        for i in probabilities.indices { probabilities[i] /= total }

        // min-p: keep p_i ≥ min_p · p_max (the list is sorted, so it is a prefix).
        var keep = probabilities.count
        if parameters.minP > 0 {
            let threshold = parameters.minP * probabilities[0]
            keep = max(1, probabilities.prefix { $0 >= threshold }.count)
        }
        // top-p: the shortest prefix whose mass reaches top_p.
        if parameters.topP < 1 {
            var mass = 0.0
            var prefix = 0
            while prefix < keep {
                mass += probabilities[prefix]
                prefix += 1
                if mass >= parameters.topP { break }
            }
            keep = max(1, prefix)
        }
        let kept = Array(probabilities[..<keep])
        return Distribution(ids: candidates[..<keep].map(\.id), weights: kept, mass: kept.reduce(0, +))
    }

    /// A draw from the renormalised weights (none when greedy).
    private mutating func draw(from p: Distribution) -> Int {
        guard !p.isGreedy, !p.ids.isEmpty else { return p.ids.first ?? 0 }
        var target = generator.nextUnitInterval() * p.mass
        for (i, weight) in p.weights.enumerated() {
            target -= weight
            if target < 0 { return p.ids[i] }
        }
        return p.ids[p.ids.count - 1]
    }

    private func applyBiasAndPenalties(_ logits: inout [Float]) {
        for (id, bias) in parameters.logitBias where logits.indices.contains(id) {
            logits[id] += Float(bias)
        }
        for (id, count) in counts where logits.indices.contains(id) {
            var value = logits[id]
            if parameters.repetitionPenalty != 1 {
                let penalty = Float(parameters.repetitionPenalty)
                value = value > 0 ? value / penalty : value * penalty
            }
            value -= Float(parameters.frequencyPenalty) * Float(count)
            value -= Float(parameters.presencePenalty)
            logits[id] = value
        }
    }

    /// Index of the largest value (the lowest index among ties; NaN never wins).
    static func argmax(_ values: [Float]) -> Int {
        var bestIndex = 0
        var bestValue = -Float.infinity
        for (i, v) in values.enumerated() where v > bestValue {
            bestValue = v
            bestIndex = i
        }
        return bestIndex
    }
}
