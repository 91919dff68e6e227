import Foundation
#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Shared, thread-safe state of a running server: the stop flag, the wake-up pipe and the connection count.
final class ServerState: @unchecked Sendable {
    private let condition = NSCondition()
    private var stopping = false
    private var connections = 0
    /// Readable once shutdown began (never drained), so every `poll` that includes it wakes up.
    let wakeReadFD: Int32
    private let wakeWriteFD: Int32

    init() throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw SocketError.system("pipe", errno) }
        wakeReadFD = fds[0]
        wakeWriteFD = fds[1]
    }

    deinit {
        close(wakeReadFD)
        close(wakeWriteFD)
    }

    var isStopping: Bool {
        condition.lock(); defer { condition.unlock() }
        return stopping
    }

    func beginStopping() {
        condition.lock()
        let first = !stopping
        stopping = true
        condition.broadcast()
        condition.unlock()
        if first {
            var byte: UInt8 = 1
            _ = write(wakeWriteFD, &byte, 1)
        }
    }

    /// Reserves a connection slot; false when `limit` connections are open.
    func openConnection(limit: Int) -> Bool {
        condition.lock(); defer { condition.unlock() }
        guard connections < limit else { return false }
        connections += 1
        return true
    }

    func closeConnection() {
        condition.lock()
        connections -= 1
        condition.broadcast()
        condition.unlock()
    }

    var openConnections: Int {
        condition.lock(); defer { condition.unlock() }
        return connections
    }

    /// Blocks until no connection is open or `deadline` passes; true if all closed.
    func waitForConnectionsToClose(deadline: Date) -> Bool {
        condition.lock(); defer { condition.unlock() }
        while connections > 0 {
            if !condition.wait(until: deadline) { return connections == 0 }
        }
        return true
    }
}
