/// A JSON number as Python's `json.loads` sees it: an integer literal (no fraction, no exponent) stays an exact
/// integer of any size (an `Int` when it fits, its decimal text otherwise); anything else is a binary64 float.
public struct JSONNumber: Equatable, Hashable, Sendable {
    /// Canonical forms keep the synthesized equality exact: an integer that fits an `Int` is always `.integer`.
    private enum Storage: Equatable, Hashable, Sendable {
        case integer(Int)
        case bigInteger(String)  // decimal text of an integer outside Int's range: optional "-", no leading zeros
        case float(Double)
    }
    private let storage: Storage

    public init(_ value: Int) { storage = .integer(value) }
    public init(_ value: Double) { storage = .float(value) }

    /// An exact integer from its decimal text (`-?[0-9]+`); `nil` if the text is not an integer.
    public init?(integerText text: String) {
        var digits = Substring(text)
        let negative = digits.first == "-"
        if negative { digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        let trimmed = digits.drop { $0 == "0" }
        let magnitude = trimmed.isEmpty ? "0" : String(trimmed)
        let canonical = negative && magnitude != "0" ? "-" + magnitude : magnitude
        storage = Int(canonical).map(Storage.integer) ?? .bigInteger(canonical)
    }

    /// True when the number was written as an integer (Python `int`).
    public var isInteger: Bool { if case .float = storage { return false } else { return true } }

    /// The exact decimal text of an integer; `nil` for floats.
    public var integerText: String? {
        switch storage {
        case .integer(let n): return String(n)
        case .bigInteger(let t): return t
        case .float: return nil
        }
    }

    /// The value as a `Double` (large integers are rounded to the nearest double).
    public var double: Double {
        switch storage {
        case .integer(let n): return Double(n)
        case .bigInteger(let t): return Double(t) ?? .nan
        case .float(let d): return d
        }
    }

    /// The value as an `Int` if it is an integer (or an integral float) in range; otherwise `nil`.
    public var int: Int? {
        switch storage {
        case .integer(let n): return n
        case .bigInteger: return nil
        case .float(let d):
            guard d.isFinite, d.rounded() == d, d >= -9.223372036854775808e18, d < 9.223372036854775808e18
            else { return nil }
            return Int(d)
        }
    }

    /// Python's `json.dumps` text: the integer's digits, or `repr(float)` (`1.0`, `1e-07`, `1e+16`,
    /// `Infinity`, `NaN`).
    public var pythonText: String {
        switch storage {
        case .integer(let n): return String(n)
        case .bigInteger(let t): return t
        case .float(let d): return PythonFloatFormat.repr(d)
        }
    }

    /// Text that is always valid JSON: like `pythonText`, but non-finite floats become `null`.
    public var jsonText: String {
        if case .float(let d) = storage, !d.isFinite { return "null" }
        return pythonText
    }
}

/// Python's `repr(float)`: the shortest digit string that round-trips, written in fixed notation when the decimal
/// exponent is in [-4, 16) and in exponent notation otherwise (`1e-05`, `1.5e+16`); integral values get `.0`.
enum PythonFloatFormat {
    static func repr(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
        if value == 0 { return value.sign == .minus ? "-0.0" : "0.0" }
        let (negative, digits, pointPosition) = shortestDigits(of: value)
        // The value is 0.DIGITS × 10^pointPosition; Python's rule uses decpt = pointPosition.
        var out = negative ? "-" : ""
        if pointPosition > -4 && pointPosition <= 16 {
            if pointPosition <= 0 {
                out += "0." + String(repeating: "0", count: -pointPosition) + digits
            } else if pointPosition >= digits.count {
                out += digits + String(repeating: "0", count: pointPosition - digits.count) + ".0"
            } else {
                let cut = digits.index(digits.startIndex, offsetBy: pointPosition)
                out += digits[..<cut] + "." + digits[cut...]
            }
        } else {
            let exponent = pointPosition - 1
            out += digits.prefix(1)
            if digits.count > 1 { out += "." + digits.dropFirst() }
            out += exponent < 0 ? "e-" : "e+"
            let magnitude = String(abs(exponent))
            out += magnitude.count < 2 ? "0" + magnitude : magnitude
        }
        return out
    }

    /// Shortest round-trip digits (no leading/trailing zeros) and the decimal point position, taken from Swift's
    /// `description` (which is shortest round-trip) and re-laid out.
    static func shortestDigits(of value: Double) -> (negative: Bool, digits: String, pointPosition: Int) {
        var text = Substring(value.description)
        let negative = text.first == "-"
        if negative { text = text.dropFirst() }
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...]) ?? 0
            text = text[..<e]
        }
        var integerPart = text
        var fractionPart: Substring = ""
        if let dot = text.firstIndex(of: ".") {
            integerPart = text[..<dot]
            fractionPart = text[text.index(after: dot)...]
        }
        var digits = String(integerPart) + String(fractionPart)
        var point = integerPart.count + exponent
        while digits.first == "0" { digits.removeFirst(); point -= 1 }
        while digits.last == "0" { digits.removeLast() }
        return (negative, digits, point)
    }
}
