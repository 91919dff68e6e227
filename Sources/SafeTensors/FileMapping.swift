import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only into memory. The mapping lives as long as this object.
final class FileMapping: @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer
    private let base: UnsafeMutableRawPointer?

    /// Maps `url` with `PROT_READ`/`MAP_PRIVATE`. With `populate`, the kernel pre-faults every page at map time
    /// (`MAP_POPULATE` on Linux), moving the page-fault cost from the first forward pass to loading.
    init(url: URL, populate: Bool) throws {
        let name = url.lastPathComponent
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw SafeTensorsError(file: name, problem: "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw SafeTensorsError(file: name, problem: "cannot stat: \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw SafeTensorsError(file: name, problem: "not a regular file")
        }
        let size = Int(info.st_size)
        guard size > 0 else {
            base = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        var flags = MAP_PRIVATE
        #if os(Linux)
        if populate { flags |= MAP_POPULATE }
        #endif
        let address = mmap(nil, size, PROT_READ, flags, fd, 0)
        guard let address, address != MAP_FAILED else {
            throw SafeTensorsError(file: name, problem: "mmap of \(size) bytes failed: \(String(cString: strerror(errno)))")
        }
        base = address
        bytes = UnsafeRawBufferPointer(start: address, count: size)
    }

    deinit {
        if let base { munmap(base, bytes.count) }
    }
}
