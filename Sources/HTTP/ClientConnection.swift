import Foundation
#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An accepted client socket: deadline-bounded reads, whole writes, and a cheap "is the peer gone?" probe.
final class ClientConnection: @unchecked Sendable {
    let fd: Int32
    let remoteAddress: String
    private let wakeFD: Int32
    private let lock = NSLock()
    private var writeFailed = false
    private var closed = false

    init(fd: Int32, remoteAddress: String, wakeFD: Int32, writeTimeout: TimeInterval) {
        self.fd = fd
        self.remoteAddress = remoteAddress
        self.wakeFD = wakeFD
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var timeout = timeval(tv_sec: Int(writeTimeout), tv_usec: Int((writeTimeout - floor(writeTimeout)) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { closeSocket() }

    func closeSocket() {
        lock.lock(); defer { lock.unlock() }
        if !closed { closed = true; close(fd) }
    }

    /// Reads up to `count` bytes into `buffer`, waiting at most until `deadline`.
    /// With `interruptible`, a server shutdown ends the wait.
    func read(into buffer: UnsafeMutableRawPointer, count: Int, deadline: Date, interruptible: Bool) -> ReadOutcome {
        while true {
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, interruptible ? 2 : 1, millisecondsUntil(deadline))
            if ready < 0 {
                if errno == EINTR { continue }
                return .closed
            }
            if ready == 0 { return .timedOut }
            if interruptible && fds[1].revents != 0 && fds[0].revents == 0 { return .interrupted }
            let n = recv(fd, buffer, count, 0)
            if n > 0 { return .data(n) }
            if n == 0 { return .closed }
            if errno == EINTR || errno == EAGAIN { continue }
            return .closed
        }
    }

    /// Writes all of `bytes`; false (and the connection marked failed) if the client is gone or stalled.
    @discardableResult
    func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard var base = bytes.baseAddress else { return !hasWriteFailed }
        var remaining = bytes.count
        while remaining > 0 {
            #if os(Linux)
            let n = send(fd, base, remaining, Int32(MSG_NOSIGNAL))
            #else
            let n = send(fd, base, remaining, 0)
            #endif
            if n > 0 {
                remaining -= n
                base += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                markWriteFailed()
                return false
            }
        }
        return true
    }

    @discardableResult
    func write(_ data: Data) -> Bool { data.withUnsafeBytes { write($0) } }

    @discardableResult
    func write(_ text: String) -> Bool {
        var copy = text
        return copy.withUTF8 { write(UnsafeRawBufferPointer($0)) }
    }

    private func markWriteFailed() {
        lock.lock(); writeFailed = true; lock.unlock()
    }

    var hasWriteFailed: Bool {
        lock.lock(); defer { lock.unlock() }
        return writeFailed
    }

    /// True if a write failed or the peer has closed or reset the connection. Never blocks.
    /// Bytes the client already sent (a pipelined request) are left unread.
    func isPeerGone() -> Bool {
        if hasWriteFailed { return true }
        var fds = [pollfd(fd: fd, events: Int16(POLLIN) | pollReadHangUp, revents: 0)]
        guard poll(&fds, 1, 0) > 0 else { return false }
        let events = fds[0].revents
        if events & (Int16(POLLERR) | Int16(POLLHUP) | Int16(POLLNVAL) | pollReadHangUp) != 0 { return true }
        if events & Int16(POLLIN) != 0 {
            var byte: UInt8 = 0
            let n = recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
            return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        }
        return false
    }

    /// Half-closes our side and discards what the client still sends (bounded), so it can read our last answer
    /// instead of getting a reset.
    func lingeringClose(maxBytes: Int = 64 * 1024 * 1024, timeout: TimeInterval = 2) {
        shutdown(fd, Int32(SHUT_WR))
        let deadline = Date().addingTimeInterval(timeout)
        var discarded = 0
        var scratch = [UInt8](repeating: 0, count: 64 * 1024)
        while discarded < maxBytes {
            let outcome = scratch.withUnsafeMutableBytes {
                guard let base = $0.baseAddress else { return ReadOutcome.closed }
                return read(into: base, count: $0.count, deadline: deadline, interruptible: false)
            }
            guard case let .data(n) = outcome else { break }
            discarded += n
        }
        closeSocket()
    }
}
