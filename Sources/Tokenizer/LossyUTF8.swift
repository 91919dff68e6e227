/// UTF-8 to text the way Rust's `String::from_utf8_lossy` (and Python's `errors="replace"`) does it: each
/// maximal subpart of an ill-formed sequence becomes one U+FFFD (Unicode's "substitution of maximal subparts").
enum LossyUTF8 {
    /// The length of the well-formed sequence starting at `start`, or the negated length of the maximal
    /// subpart to replace; `incomplete` when the bytes end inside a sequence that could still become valid.
    enum Step {
        case scalar(length: Int)
        case invalid(length: Int)
        case incomplete
    }

    static func step(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int) -> Step {
        let lead = bytes[start]
        let length: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xBF  // allowed range of the second byte
        switch lead {
        case 0x00...0x7F: return .scalar(length: 1)
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; high = 0x9F
        case 0xF0: length = 4; low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F
        default: return .invalid(length: 1)
        }
        for offset in 1..<length {
            guard start + offset < bytes.count else { return .incomplete }
            let byte = bytes[start + offset]
            let (lower, upper) = offset == 1 ? (low, high) : (UInt8(0x80), UInt8(0xBF))
            guard byte >= lower, byte <= upper else { return .invalid(length: offset) }
        }
        return .scalar(length: length)
    }

    /// Decodes all of `bytes`; an incomplete sequence at the end becomes one U+FFFD.
    static func decode(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        let (text, consumed) = decodeComplete(bytes)
        return consumed == bytes.count ? text : text + "\u{FFFD}"
    }

    static func decode(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBufferPointer { decode($0) }
    }

    /// Decodes the longest prefix of `bytes` that does not end inside a still-completable sequence, and says
    /// how many bytes that prefix has.
    static func decodeComplete(_ bytes: UnsafeBufferPointer<UInt8>) -> (text: String, consumed: Int) {
        var index = 0
        var validStart = 0
        var result = ""
        while index < bytes.count {
            switch step(bytes, at: index) {
            case let .scalar(length):
                index += length
            case let .invalid(length):
                result += String(decoding: UnsafeBufferPointer(rebasing: bytes[validStart..<index]), as: UTF8.self)
                result.unicodeScalars.append("\u{FFFD}")
                index += length
                validStart = index
            case .incomplete:
                result += String(decoding: UnsafeBufferPointer(rebasing: bytes[validStart..<index]), as: UTF8.self)
                return (result, index)
            }
        }
        if validStart == 0 { return (String(decoding: bytes, as: UTF8.self), bytes.count) }
        result += String(decoding: UnsafeBufferPointer(rebasing: bytes[validStart..<index]), as: UTF8.self)
        return (result, index)
    }
}
