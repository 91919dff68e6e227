import Foundation

/// Collects named tensors and writes them as one safetensors file.
///
/// Tensors are laid out in the order they were added, back to back. The JSON header is padded with spaces to a
/// multiple of 8 bytes (as the reference implementation does), so data starts 8-byte aligned.
public struct SafeTensorsWriter {
    private struct Pending {
        let name: String
        let dtype: DType
        let shape: [Int]
        let bytes: [UInt8]
    }

    private var tensors: [Pending] = []
    private var names: Set<String> = []
    /// Written as `__metadata__` when not empty.
    public var metadata: [String: String] = [:]

    public init() {}

    /// Adds a tensor from its raw little-endian bytes.
    public mutating func add(name: String, dtype: DType, shape: [Int], bytes: [UInt8]) throws {
        func fail(_ problem: String) -> SafeTensorsError {
            SafeTensorsError(file: "(writer)", tensor: name, problem: problem)
        }
        guard !name.isEmpty, name != "__metadata__" else { throw fail("invalid tensor name") }
        guard !names.contains(name) else { throw fail("added twice") }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw fail("shape \(shape) has a negative dimension") }
        guard let expected = Header.byteCount(shape: shape, dtype: dtype) else {
            throw fail("shape \(shape) × \(dtype.rawValue) overflows")
        }
        guard expected == bytes.count else {
            throw fail("shape \(shape) × \(dtype.rawValue) needs \(expected) bytes, got \(bytes.count)")
        }
        names.insert(name)
        tensors.append(Pending(name: name, dtype: dtype, shape: shape, bytes: bytes))
    }

    /// Adds an F32 tensor.
    public mutating func add(name: String, floats: [Float], shape: [Int]) throws {
        try add(name: name, dtype: .f32, shape: shape, bytes: SafeTensorsWriter.littleEndianBytes(floats.map(\.bitPattern)))
    }

    /// Adds a BF16 tensor, rounding each value to nearest-even (NaN stays NaN).
    public mutating func add(name: String, bfloat16From floats: [Float], shape: [Int]) throws {
        try add(name: name, dtype: .bf16, shape: shape,
                bytes: SafeTensorsWriter.littleEndianBytes(floats.map(FloatEncoding.bf16)))
    }

    /// Adds an I32 tensor.
    public mutating func add(name: String, int32s: [Int32], shape: [Int]) throws {
        try add(name: name, dtype: .i32, shape: shape, bytes: SafeTensorsWriter.littleEndianBytes(int32s))
    }

    /// The complete file contents.
    public func serialized() -> [UInt8] {
        var output = prefix()
        for tensor in tensors { output.append(contentsOf: tensor.bytes) }
        return output
    }

    /// Writes the file through a temporary file in the same folder that is renamed into place, so readers never
    /// see a half-written file. Tensor data is streamed, not assembled in memory a second time.
    public func write(to url: URL) throws {
        func fail(_ problem: String) -> SafeTensorsError {
            SafeTensorsError(file: url.lastPathComponent, problem: problem)
        }
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).partial")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw fail("cannot create \(temporary.lastPathComponent) in \(url.deletingLastPathComponent().path)")
        }
        do {
            let handle = try FileHandle(forWritingTo: temporary)
            defer { try? handle.close() }
            try handle.write(contentsOf: prefix())
            for tensor in tensors { try handle.write(contentsOf: tensor.bytes) }
            try handle.synchronize()
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw fail("cannot write: \(error.localizedDescription)")
        }
        guard rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw fail("cannot move the written file into place: \(reason)")
        }
    }

    /// The 8-byte header length and the space-padded JSON header.
    private func prefix() -> [UInt8] {
        var entries: [String] = []
        var offset = 0
        if !metadata.isEmpty {
            let fields = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0] ?? ""))" }
            entries.append("\"__metadata__\":{\(fields.joined(separator: ","))}")
        }
        for tensor in tensors {
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            let end = offset + tensor.bytes.count
            entries.append("\(jsonString(tensor.name)):{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],"
                           + "\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var header = Array("{\(entries.joined(separator: ","))}".utf8)
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }
        return SafeTensorsWriter.littleEndianBytes([UInt64(header.count)]) + header
    }

    private static func littleEndianBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: values.count * MemoryLayout<T>.size)
        bytes.withUnsafeMutableBytes { raw in
            for (index, value) in values.enumerated() {
                raw.storeBytes(of: value.littleEndian, toByteOffset: index * MemoryLayout<T>.size, as: T.self)
            }
        }
        return bytes
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped, everything else raw UTF-8.
    private func jsonString(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20:
                result += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}

/// Conversions from `Float` to the narrow formats.
public enum FloatEncoding {
    /// F32 → BF16 with round-to-nearest-even; NaN maps to a quiet NaN.
    public static func bf16(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(bits >> 16) | 0x0040 }
        let rounding = 0x7FFF + ((bits >> 16) & 1)
        return UInt16((bits &+ rounding) >> 16)
    }
}
