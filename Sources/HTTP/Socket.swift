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

/// A listening TCP socket.
final class ListeningSocket: @unchecked Sendable {
    let fd: Int32
    let port: Int
    let displayAddress: String

    init(host: String, port: Int, backlog: Int32 = 128) throws {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_flags = AI_PASSIVE
        #if os(Linux)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw SocketError.addressResolution("\(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }

        var lastError: Error = SocketError.addressResolution(host)
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let info = candidate {
            candidate = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            if fd < 0 { lastError = SocketError.system("socket", errno); continue }
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            if bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 {
                lastError = SocketError.system("bind \(host):\(port)", errno); close(fd); continue
            }
            if listen(fd, backlog) != 0 {
                lastError = SocketError.system("listen", errno); close(fd); continue
            }
            self.fd = fd
            let local = ListeningSocket.localAddress(fd)
            self.port = local.port
            self.displayAddress = local.host.contains(":") ? "[\(local.host)]:\(local.port)" : "\(local.host):\(local.port)"
            return
        }
        throw lastError
    }

    deinit { close(fd) }

    static func localAddress(_ fd: Int32) -> (host: String, port: Int) {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard ok == 0 else { return ("?", 0) }
        return describe(&storage)
    }

    static func describe(_ storage: inout sockaddr_storage) -> (host: String, port: Int) {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                    var addr = address.pointee.sin_addr
                    inet_ntop(AF_INET, &addr, &buffer, socklen_t(buffer.count))
                    return (String(cString: buffer), Int(UInt16(bigEndian: address.pointee.sin_port)))
                }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                    var addr = address.pointee.sin6_addr
                    inet_ntop(AF_INET6, &addr, &buffer, socklen_t(buffer.count))
                    return (String(cString: buffer), Int(UInt16(bigEndian: address.pointee.sin6_port)))
                }
            }
        default:
            return ("?", 0)
        }
    }

    /// Waits for a connection; nil when `wakeFD` became readable (shutdown) or on a transient error.
    func accept(wakeFD: Int32) -> (fd: Int32, remote: String)? {
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
        let ready = poll(&fds, 2, -1)
        if ready <= 0 || fds[1].revents != 0 { return nil }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let client = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(fd, $0, &length) }
        }
        if client < 0 {
            usleep(10_000)      // e.g. out of file descriptors: do not spin
            return nil
        }
        let remote = ListeningSocket.describe(&storage)
        return (client, remote.host.contains(":") ? "[\(remote.host)]:\(remote.port)" : "\(remote.host):\(remote.port)")
    }
}

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
                read(into: $0.baseAddress!, count: $0.count, deadline: deadline, interruptible: false)
            }
            guard case let .data(n) = outcome else { break }
            discarded += n
        }
        closeSocket()
    }
}
