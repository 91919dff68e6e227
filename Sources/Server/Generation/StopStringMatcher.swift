/// Finds user stop strings in text that arrives in pieces (one token's text at a time), so a stop string split
/// across tokens is still caught. Text that might be the start of a stop string is held back until it is
/// resolved; the stop string itself and everything after it are never released.
///
/// Works on UTF-8 bytes: a valid UTF-8 stop string can only match at a scalar boundary, so released text is
/// always whole scalars.
public struct StopStringMatcher: Sendable {
    private let stops: [[UInt8]]
    private var pending: [UInt8] = []
    public private(set) var isStopped = false
    /// The stop string that matched (the earliest one in the text).
    public private(set) var matchedStop: String?

    public init(stops: [String]) {
        self.stops = stops.map { Array($0.utf8) }.filter { !$0.isEmpty }
    }

    /// Adds `text`; returns the text that can be released now. After a match, `isStopped` is true and
    /// further input is ignored.
    public mutating func feed(_ text: String) -> String {
        guard !isStopped else { return "" }
        pending.append(contentsOf: text.utf8)
        guard !stops.isEmpty else { return takePending(count: pending.count) }
        if let (match, stop) = earliestMatch() {
            isStopped = true
            matchedStop = String(decoding: stop, as: UTF8.self)
            let released = String(decoding: pending[..<match], as: UTF8.self)
            pending.removeAll()
            return released
        }
        let held = longestSuffixThatStartsAStop()
        return takePending(count: pending.count - held)
    }

    /// Releases whatever is still held back (the text ended without completing a stop string).
    public mutating func finish() -> String {
        guard !isStopped else { return "" }
        return takePending(count: pending.count)
    }

    private mutating func takePending(count: Int) -> String {
        let released = String(decoding: pending[..<count], as: UTF8.self)
        pending.removeFirst(count)
        return released
    }

    private func earliestMatch() -> (offset: Int, stop: [UInt8])? {
        var best: (offset: Int, stop: [UInt8])?
        for stop in stops where stop.count <= pending.count {
            var start = 0
            while start + stop.count <= pending.count && start < (best?.offset ?? Int.max) {
                if pending[start] == stop[0] && pending[start..<(start + stop.count)].elementsEqual(stop) {
                    best = (start, stop)
                    break
                }
                start += 1
            }
        }
        return best
    }

    /// Length of the longest suffix of `pending` that is a proper prefix of some stop string.
    private func longestSuffixThatStartsAStop() -> Int {
        var longest = 0
        for stop in stops {
            let limit = min(stop.count - 1, pending.count)
            var length = limit
            while length > longest {
                if pending[(pending.count - length)...].elementsEqual(stop[..<length]) {
                    longest = length
                    break
                }
                length -= 1
            }
        }
        return longest
    }
}
