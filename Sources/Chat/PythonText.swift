/// Python `str` operations the chat template relies on (`strip`, `lstrip('\n')`, `split`), on Unicode scalars.
enum PythonText {
    /// Python's `str.isspace()` characters (what `str.strip()` with no argument removes).
    static func isSpace(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    /// `s.strip()`.
    static func strip(_ s: String) -> String {
        let scalars = s.unicodeScalars
        guard let first = scalars.firstIndex(where: { !isSpace($0) }),
              let last = scalars.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(scalars[first...last])
    }

    /// `s.lstrip(chars)` / `s.rstrip(chars)` for a set of characters given as scalars.
    static func lstrip(_ s: String, _ chars: Set<Unicode.Scalar>) -> String {
        let scalars = s.unicodeScalars
        guard let first = scalars.firstIndex(where: { !chars.contains($0) }) else { return "" }
        return String(scalars[first...])
    }

    static func rstrip(_ s: String, _ chars: Set<Unicode.Scalar>) -> String {
        let scalars = s.unicodeScalars
        guard let last = scalars.lastIndex(where: { !chars.contains($0) }) else { return "" }
        return String(scalars[...last])
    }

    /// `s.split(separator)` (separator non-empty): the pieces between occurrences, compared by UTF-8 bytes.
    static func split(_ s: String, _ separator: String) -> [String] {
        let text = Array(s.utf8), sep = Array(separator.utf8)
        var pieces: [String] = []
        var start = 0, i = 0
        while i + sep.count <= text.count {
            if text[i..<(i + sep.count)].elementsEqual(sep) {
                pieces.append(String(decoding: text[start..<i], as: UTF8.self))
                i += sep.count
                start = i
            } else {
                i += 1
            }
        }
        pieces.append(String(decoding: text[start...], as: UTF8.self))
        return pieces
    }

    /// `separator in s`, by UTF-8 bytes (Swift's `contains` compares Characters, which merges "\r\n").
    static func contains(_ s: String, _ fragment: String) -> Bool {
        split(s, fragment).count > 1
    }

    /// `s.endswith(suffix)`, by UTF-8 bytes.
    static func endsWith(_ s: String, _ suffix: String) -> Bool {
        s.utf8.count >= suffix.utf8.count && s.utf8.suffix(suffix.utf8.count).elementsEqual(suffix.utf8)
    }
}
