import Foundation

/// Byte counts for logs, in decimal units as the other commands print them (1 GB = 10^9 bytes): GB from
/// 1 GB up, MB below (so a small model does not show as `0.00 GB`).
public enum ByteCountText {
    /// The unit for `bytes`: its name and size in bytes.
    static func unit(for bytes: Int) -> (name: String, size: Double) {
        bytes >= 1_000_000_000 ? ("GB", 1e9) : ("MB", 1e6)
    }

    /// `bytes` in the unit it calls for, e.g. `350.12 GB`, `12.34 MB`.
    public static func text(_ bytes: Int) -> String {
        let unit = unit(for: bytes)
        return String(format: "%.2f %@", Double(bytes) / unit.size, unit.name)
    }

    /// `done of total`, both in the unit of `total`, e.g. `1.20 of 3.50 GB`, `0.40 of 24.60 MB`.
    public static func progress(_ done: Int, of total: Int) -> String {
        let unit = unit(for: total)
        return String(format: "%.2f of %.2f %@", Double(done) / unit.size, Double(total) / unit.size, unit.name)
    }
}
