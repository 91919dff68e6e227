import Foundation

/// What a prefix-cache file must match to be loaded: the model's weights and config and the KV layout. Computed
/// from `config.json` (all of it), every `*.safetensors` file's name, size and header, and 16 samples of 4 KiB
/// spread over each file's tensor data (reading every weight would take minutes on a large model), plus the KV
/// storage type, bytes per position and block size. Files with another fingerprint are left alone (another model
/// may share the folder).
public struct ModelFingerprint: Hashable, Sendable, CustomStringConvertible {
    public let key: BlockKey

    public var description: String { key.description }

    public init(key: BlockKey) { self.key = key }

    /// - Parameter kvLayout: e.g. "f32 layers=4 bytes/position=4096 block=256".
    public static func of(modelDirectory: URL, kvLayout: String) throws -> ModelFingerprint {
        var hasher = StableHasher()
        hasher.combine("glmserve prefix cache v1")
        hasher.combine(kvLayout)
        hasher.combine(bytes: Array(try Data(contentsOf: modelDirectory.appendingPathComponent("config.json"))))
        let names = try FileManager.default.contentsOfDirectory(atPath: modelDirectory.path)
            .filter { $0.hasSuffix(".safetensors") }.sorted()
        for name in names {
            let url = modelDirectory.appendingPathComponent(name)
            let handle = try FileHandle(forReadingFrom: url)
            defer { try? handle.close() }
            let size = try handle.seekToEnd()
            hasher.combine(name)
            hasher.combine(size)
            try handle.seek(toOffset: 0)
            let lengthBytes = try handle.read(upToCount: 8) ?? Data()
            var headerLength: UInt64 = 0
            for (i, byte) in lengthBytes.prefix(8).enumerated() { headerLength |= UInt64(byte) << (8 * UInt64(i)) }
            let header = try handle.read(upToCount: Int(min(headerLength, 100_000_000))) ?? Data()
            hasher.combine(bytes: Array(header))
            let dataStart = min(8 + headerLength, size)
            let span = size - dataStart
            for sample in 0..<16 {
                try handle.seek(toOffset: dataStart + span * UInt64(sample) / 16)
                hasher.combine(bytes: Array(try handle.read(upToCount: 4096) ?? Data()))
            }
        }
        return ModelFingerprint(key: hasher.key)
    }
}

/// This machine's memory as the kernel reports it (`/proc/meminfo`).
public enum SystemMemory {
    /// `MemAvailable`: what can be allocated without swapping (nil where unknown).
    public static func availableBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
              let kib = Int(line.split(separator: " ").dropFirst().first ?? "") else { return nil }
        return kib * 1024
    }
}
