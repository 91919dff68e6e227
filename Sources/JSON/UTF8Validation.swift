/// UTF-8 well-formedness (RFC 3629, Unicode Table 3-7): no overlong forms, no surrogates, nothing above U+10FFFF.
/// A plain byte loop: `String(validating:as:)` is generic and, unspecialised, costs a metadata lookup per call,
/// which shows when a file has hundreds of thousands of short non-ASCII strings.
enum UTF8Validation {
    static func isValid(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        let n = bytes.count
        while i < n {
            let lead = bytes[i]
            if lead < 0x80 { i += 1; continue }
            // Length of the sequence and the allowed range of its second byte.
            let length: Int
            var secondLow: UInt8 = 0x80, secondHigh: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; secondLow = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; secondHigh = 0x9F  // excludes the surrogates U+D800...U+DFFF
            case 0xF0: length = 4; secondLow = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; secondHigh = 0x8F  // nothing above U+10FFFF
            default: return false  // continuation byte, C0/C1 (overlong), F5...FF
            }
            guard n - i >= length, bytes[i + 1] >= secondLow, bytes[i + 1] <= secondHigh else { return false }
            for k in 2..<length where bytes[i + k] & 0xC0 != 0x80 { return false }
            i += length
        }
        return true
    }
}
