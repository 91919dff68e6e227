import Engine
import Foundation

/// `glmserve bench --mtp`: greedy decoding with one MTP draft per step, timed like the plain decode before it
/// (same prompt, same number of tokens), with the acceptance rate and a check that the tokens are the same.
struct MTPBench {
    let model: GLMModel
    let prompt: [Int32]
    /// The plain greedy tokens and the time they took (decode steps only).
    let plainTokens: [Int32]
    let plainSeconds: Double

    /// What the speculative run measured (nil rates when there was nothing to time).
    struct Result {
        let tokens: Int
        let seconds: Double
        let rate: Double?
        let plainRate: Double?
        let drafted: Int
        let accepted: Int
        let sameTokens: Bool

        var text: String {
            var lines: [String] = []
            if let rate, let plainRate {
                lines.append(String(format: "mtp decode   %d tokens in %.3f s = %.2f tokens/s (plain %.2f tokens/s, x%.2f)",
                                    tokens, seconds, rate, plainRate, rate / plainRate))
            }
            lines.append(String(format: "mtp drafts   %d drafted, %d accepted (%.1f%%); same tokens as plain greedy: %@", drafted,
                                accepted, 100 * Double(accepted) / Double(max(drafted, 1)), sameTokens ? "yes" : "NO"))
            return lines.joined(separator: "\n")
        }

        var jsonFields: [String] {
            var fields = ["\"mtp_drafted\": \(drafted)", "\"mtp_accepted\": \(accepted)", "\"mtp_same_tokens\": \(sameTokens)"]
            if let rate { fields.append(String(format: "\"mtp_tokens_per_second\": %.3f", rate)) }
            return fields
        }
    }

    /// Nil when the model has no MTP layer.
    func run() throws -> Result? {
        guard model.hasMTP else { return nil }
        let count = plainTokens.count
        let session = try MTPDraftSession(model: model, capacity: prompt.count + count + 2)
        var logits = try session.append(prompt)
        var tokens: [Int32] = []
        var drafted = 0, accepted = 0
        var pending: Int32?
        var seconds = 0.0
        while tokens.count < count {
            let x = pending ?? argmax(logits)
            pending = nil
            tokens.append(x)
            if tokens.count == count { break }
            let start = Date()
            let proposal = try session.speculate(after: x)
            let choice = argmax(proposal.logitsAfterToken)
            session.resolveDraft(accepted: choice == proposal.draft)
            seconds += Date().timeIntervalSince(start)
            drafted += 1
            if choice == proposal.draft {
                accepted += 1
                tokens.append(choice)
                logits = proposal.logitsAfterDraft
            } else {
                pending = choice
            }
        }
        tokens = Array(tokens.prefix(count))
        // The plain loop ran `count` one-token forwards: its rate is tokens per forward.
        // The MTP steps produced tokens 2 ... count (the first came from the prompt's logits).
        let timed = count >= 2 && seconds > 0 && plainSeconds > 0
        return Result(tokens: count, seconds: seconds, rate: timed ? Double(count - 1) / seconds : nil,
                      plainRate: timed ? Double(count) / plainSeconds : nil, drafted: drafted, accepted: accepted,
                      sameTokens: tokens == plainTokens)
    }

    private func argmax(_ values: [Float]) -> Int32 {
        var best = 0
        for i in values.indices where values[i] > values[best] { best = i }
        return Int32(best)
    }
}
