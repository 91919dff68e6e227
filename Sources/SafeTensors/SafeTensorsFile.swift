import Foundation

/// One safetensors file, mapped read-only and validated on open. Nothing is copied: tensors are views into the
/// mapping, which stays alive as long as this object.
public final class SafeTensorsFile: @unchecked Sendable {
    public let url: URL
    private let mapping: FileMapping
    private let header: Header
    private let index: [String: Int]

    /// Maps and validates `url`. `populate` pre-faults every page now (see `FileMapping`).
    public init(url: URL, populate: Bool = false) throws {
        self.url = url
        mapping = try FileMapping(url: url, populate: populate)
        header = try Header(file: url.lastPathComponent, bytes: mapping.bytes)
        var index: [String: Int] = [:]
        for (position, entry) in header.entries.enumerated() {
            index[entry.name] = position
        }
        self.index = index
    }

    /// The file's name (its last path component), as used in error messages.
    public var name: String { url.lastPathComponent }

    /// Tensor names in file order (by data offset).
    public var tensorNames: [String] { header.entries.map(\.name) }

    /// The header's `__metadata__` map (empty when absent).
    public var metadata: [String: String] { header.metadata }

    /// Size of the whole file in bytes.
    public var fileSize: Int { mapping.bytes.count }

    /// Total bytes of tensor data.
    public var tensorBytes: Int { header.entries.reduce(0) { $0 + ($1.end - $1.begin) } }

    public func contains(_ name: String) -> Bool { index[name] != nil }

    /// Bytes of tensor data of `name` (0 if absent).
    func byteCount(of name: String) -> Int {
        guard let position = index[name] else { return 0 }
        return header.entries[position].end - header.entries[position].begin
    }

    /// The named tensor, or an error naming the file and the tensor.
    public func tensor(named name: String) throws -> TensorView {
        guard let position = index[name] else {
            throw SafeTensorsError(file: self.name, tensor: name, problem: "not in this file")
        }
        let entry = header.entries[position]
        let start = header.dataStart + entry.begin
        let slice = UnsafeRawBufferPointer(rebasing: mapping.bytes[start..<(header.dataStart + entry.end)])
        return TensorView(name: name, dtype: entry.dtype, shape: entry.shape, file: self.name, bytes: slice,
                          owner: mapping)
    }
}
