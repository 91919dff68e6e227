/// The character classes the GPT-style split regexes use, as bit flags:
/// `\p{L}` (general category L*), `\p{N}` (N*), `\s` (Unicode White_Space) and `[\r\n]`.
enum ScalarClass {
    static let letter: UInt8 = 1
    static let number: UInt8 = 2
    static let whitespace: UInt8 = 4
    static let lineBreak: UInt8 = 8  // \r or \n (also whitespace)

    /// Classes of the Basic Multilingual Plane, computed once.
    private static let basicPlane: [UInt8] = (0..<0x10000).map { computed(UInt32($0)) }

    @inline(__always)
    static func of(_ value: UInt32) -> UInt8 {
        value < 0x10000 ? basicPlane[Int(value)] : computed(value)
    }

    private static func computed(_ value: UInt32) -> UInt8 {
        guard let scalar = Unicode.Scalar(value) else { return 0 }
        if value == 0x0D || value == 0x0A { return whitespace | lineBreak }
        let properties = scalar.properties
        if properties.isWhitespace { return whitespace }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return number
        default:
            return 0
        }
    }
}

/// A text range decoded into scalars with their classes and byte offsets, so that the hand-written matchers
/// can look ahead freely. Reused between calls to avoid allocation.
struct ScalarBuffer {
    var values: [UInt32] = []
    var classes: [UInt8] = []
    /// `offsets[i]` is the byte offset of scalar `i`; `offsets[count]` is the end of the range.
    var offsets: [Int] = []

    var count: Int { values.count }

    /// Decodes `text[range]`, which must be valid UTF-8 (it comes from a Swift string).
    mutating func load(_ text: UnsafeBufferPointer<UInt8>, range: Range<Int>) {
        values.removeAll(keepingCapacity: true)
        classes.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
        var index = range.lowerBound
        while index < range.upperBound {
            let lead = text[index]
            var value: UInt32
            var length: Int
            if lead < 0x80 {
                value = UInt32(lead); length = 1
            } else if lead < 0xE0 {
                value = UInt32(lead & 0x1F); length = 2
            } else if lead < 0xF0 {
                value = UInt32(lead & 0x0F); length = 3
            } else {
                value = UInt32(lead & 0x07); length = 4
            }
            length = min(length, range.upperBound - index)
            for offset in 1..<max(length, 1) { value = value << 6 | UInt32(text[index + offset] & 0x3F) }
            values.append(value)
            classes.append(ScalarClass.of(value))
            offsets.append(index)
            index += length
        }
        offsets.append(range.upperBound)
    }
}
