import Foundation

/// One tensor's header entry, with offsets relative to the start of the data section.
struct TensorEntry: Sendable {
    let name: String
    let dtype: DType
    let shape: [Int]
    let begin: Int
    let end: Int
}

/// The parsed and validated header of a safetensors file.
///
/// Layout: 8-byte little-endian header length `n`, `n` bytes of JSON
/// `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {string: string}}`, then the data.
struct Header: Sendable {
    /// Largest header accepted, as in the reference implementation.
    static let maximumLength = 100_000_000

    let entries: [TensorEntry]            // sorted by data offset (file order)
    let metadata: [String: String]
    let dataStart: Int                    // 8 + n

    /// Parses and validates the header of `file` (its name, for messages) from the whole mapped file.
    init(file: String, bytes: UnsafeRawBufferPointer) throws {
        func fail(_ tensor: String?, _ problem: String) -> SafeTensorsError {
            SafeTensorsError(file: file, tensor: tensor, problem: problem)
        }
        guard bytes.count >= 8 else {
            throw fail(nil, "truncated: \(bytes.count) bytes, shorter than the 8-byte header length")
        }
        let rawLength = bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self).littleEndian
        guard rawLength >= 2 else {
            throw fail(nil, "header length \(rawLength) is too small for a JSON object")
        }
        guard rawLength <= UInt64(Header.maximumLength) else {
            throw fail(nil, "header length \(rawLength) exceeds the \(Header.maximumLength)-byte limit")
        }
        let length = Int(rawLength)
        guard length <= bytes.count - 8 else {
            throw fail(nil, "header length \(length) runs past the end of the file (\(bytes.count) bytes)")
        }
        dataStart = 8 + length
        let dataSize = bytes.count - dataStart

        let json = Data(bytes[8..<dataStart])
        guard json.first == UInt8(ascii: "{") else {
            throw fail(nil, "header does not start with '{' (not a JSON object)")
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: json, options: [])
        } catch {
            throw fail(nil, "header is not valid JSON (\(error.localizedDescription))")
        }
        guard let dictionary = object as? [String: Any] else {
            throw fail(nil, "header is not a JSON object")
        }

        var metadata: [String: String] = [:]
        var entries: [TensorEntry] = []
        entries.reserveCapacity(dictionary.count)
        for name in dictionary.keys.sorted() {        // sorted: the same fault is reported on every run
            guard let value = dictionary[name] else { continue }
            if name == "__metadata__" {
                if value is NSNull { continue }
                guard let map = value as? [String: Any] else {
                    throw fail(nil, "__metadata__ is not a JSON object")
                }
                for (key, item) in map {
                    guard let text = item as? String else {
                        throw fail(nil, "__metadata__ value for '\(key)' is not a string")
                    }
                    metadata[key] = text
                }
                continue
            }
            entries.append(try Header.entry(name: name, value: value, dataSize: dataSize, fail: fail))
        }

        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var previous: TensorEntry?
        for entry in entries where entry.end > entry.begin {
            if let previous, entry.begin < previous.end {
                throw fail(entry.name,
                           "data_offsets [\(entry.begin), \(entry.end)] overlap tensor '\(previous.name)' "
                           + "[\(previous.begin), \(previous.end)]")
            }
            previous = entry
        }
        self.entries = entries
        self.metadata = metadata
    }

    private static func entry(name: String, value: Any, dataSize: Int,
                              fail: (String?, String) -> SafeTensorsError) throws -> TensorEntry {
        guard !name.isEmpty else { throw fail(nil, "a tensor has an empty name") }
        guard let fields = value as? [String: Any] else {
            throw fail(name, "entry is not a JSON object")
        }
        guard let dtypeName = fields["dtype"] as? String else {
            throw fail(name, "missing or non-string 'dtype'")
        }
        guard let dtype = DType(rawValue: dtypeName) else {
            let known = DType.allCases.map(\.rawValue).joined(separator: ", ")
            throw fail(name, "unknown dtype '\(dtypeName)' (known: \(known))")
        }
        guard let shapeValues = fields["shape"] as? [Any] else {
            throw fail(name, "missing or non-array 'shape'")
        }
        var shape: [Int] = []
        for item in shapeValues {
            guard let dimension = integer(item) else {
                throw fail(name, "shape \(render(shapeValues)) has a non-integer dimension")
            }
            guard dimension >= 0 else {
                throw fail(name, "shape \(render(shapeValues)) has a negative dimension")
            }
            shape.append(dimension)
        }
        guard let offsetValues = fields["data_offsets"] as? [Any], offsetValues.count == 2 else {
            throw fail(name, "missing 'data_offsets' or not an array of two integers")
        }
        guard let begin = integer(offsetValues[0]), let end = integer(offsetValues[1]) else {
            throw fail(name, "data_offsets \(render(offsetValues)) are not integers")
        }
        guard begin >= 0, end >= 0 else {
            throw fail(name, "data_offsets [\(begin), \(end)] are negative")
        }
        guard end >= begin else {
            throw fail(name, "data_offsets [\(begin), \(end)] end before begin")
        }
        guard end <= dataSize else {
            throw fail(name, "data_offsets [\(begin), \(end)] run past the end of the data section "
                       + "(\(dataSize) bytes; file truncated or header lying)")
        }
        guard let byteCount = Header.byteCount(shape: shape, dtype: dtype) else {
            throw fail(name, "shape \(shape) × \(dtype.rawValue) overflows")
        }
        guard byteCount == end - begin else {
            throw fail(name, "shape \(shape) × \(dtype.rawValue) (\(dtype.byteSize) bytes) is \(byteCount) bytes "
                       + "but data_offsets [\(begin), \(end)] span \(end - begin)")
        }
        return TensorEntry(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
    }

    /// `product(shape) · dtype.byteSize`, or nil on overflow.
    static func byteCount(shape: [Int], dtype: DType) -> Int? {
        var count = dtype.byteSize
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            if overflow { return nil }
            count = product
        }
        return count
    }

    /// A JSON integer (not a boolean, not a fraction, fits in `Int`), else nil.
    private static func integer(_ value: Any) -> Int? {
        guard let number = value as? NSNumber else { return nil }
        let kind = String(cString: number.objCType)
        guard ["i", "q", "l", "s", "Q", "I", "L", "S"].contains(kind) else { return nil }
        return value as? Int
    }

    private static func render(_ values: [Any]) -> String {
        "[" + values.map { "\($0)" }.joined(separator: ", ") + "]"
    }
}
