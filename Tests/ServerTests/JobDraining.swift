@testable import Server

/// Reads a job's events until it ends: the tokens and how it ended (`nil` cause: it failed, or never ended within
/// about 1000 s of polling). `cancelAfter` cancels the job once that many tokens have arrived.
func drain(_ job: GenerationJob, cancelAfter: Int? = nil) -> (tokens: [Int], cause: FinishCause?) {
    var tokens: [Int] = []
    for _ in 0..<20_000 {
        switch job.nextEvent(timeout: 0.05) {
        case let .token(id)?:
            tokens.append(id)
            if tokens.count == cancelAfter { job.cancel() }
        case let .finished(cause)?: return (tokens, cause)
        case .failed?: return (tokens, nil)
        case nil: continue
        }
    }
    return (tokens, nil)
}
