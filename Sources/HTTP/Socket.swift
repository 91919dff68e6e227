import Foundation
#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Errors of the socket layer.
public enum SocketError: Error, CustomStringConvertible {
    case system(String, Int32)
    case addressResolution(String)

    public var description: String {
        switch self {
        case let .system(call, code): return "\(call) failed: \(String(cString: strerror(code)))"
        case let .addressResolution(message): return "cannot resolve address: \(message)"
        }
    }
}

/// Why a read stopped short.
enum ReadOutcome {
    case data(Int)
    case closed
    case timedOut
    case interrupted   // server shutdown
}

/// `poll` flag for "peer closed its write side" (Linux); 0 elsewhere.
#if os(Linux)
let pollReadHangUp: Int16 = 0x2000
#else
let pollReadHangUp: Int16 = 0
#endif

/// Milliseconds from now until `deadline`, clamped to poll's range.
func millisecondsUntil(_ deadline: Date) -> Int32 {
    let ms = deadline.timeIntervalSinceNow * 1000
    if ms <= 0 { return 0 }
    return Int32(min(ms.rounded(.up), Double(Int32.max)))
}
