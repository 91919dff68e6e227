import Foundation

extension ByteCountText {
    /// A size given on the command line: a number of bytes with an optional unit, `K`/`M`/`G`/`T` (powers of 1024,
    /// also spelt `KiB`, `MB`, …, case-insensitive), e.g. `8G`, `512M`, `1.5GiB`, `0`. Nil if it is not one.
    public static func parseSize(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let digits = trimmed.prefix { $0.isNumber || $0 == "." }
        guard let number = Double(digits), number >= 0 else { return nil }
        let unit = trimmed.dropFirst(digits.count).trimmingCharacters(in: .whitespaces)
        let powers: [String: Double] = ["": 1, "b": 1, "k": 1, "m": 2, "g": 3, "t": 4]
        let key = unit.hasSuffix("ib") ? String(unit.dropLast(2)) : unit.hasSuffix("b") && unit.count == 2 ? String(unit.dropLast()) : unit
        guard let power = powers[key] else { return nil }
        let bytes = number * pow(1024, power)
        guard bytes < 9e18 else { return nil }
        return Int(bytes)
    }
}
