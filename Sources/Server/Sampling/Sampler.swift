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
        guard !logits.isEmpty else { return 0 }
        var adjusted = logits
        applyBiasAndPenalties(&adjusted)
        if parameters.temperature <= 0 { return Sampler.argmax(adjusted) }

        // Temperature, then the candidates worth sorting, most likely first.
        let inverseTemperature = Float(1 / parameters.temperature)
        let best = adjusted.max() ?? 0
        let floor = best - Sampler.logitWindow / inverseTemperature
        var candidates: [(id: Int, logit: Float)] = []
        for (id, logit) in adjusted.enumerated() where logit >= floor && logit.isFinite {
            candidates.append((id, logit * inverseTemperature))
        }
        guard !candidates.isEmpty else { return Sampler.argmax(adjusted) }
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

        // Draw from the renormalised survivors.
        let kept = probabilities[..<keep]
        let keptMass = kept.reduce(0, +)
        var target = generator.nextUnitInterval() * keptMass
        for (i, p) in kept.enumerated() {
            target -= p
            if target < 0 { return candidates[i].id }
        }
        return candidates[keep - 1].id
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
