/// The inside of one `<tool_call>…</tool_call>` in the GLM-4.5/4.6 form:
///
///     NAME\n<arg_key>K</arg_key>\n<arg_value>V</arg_value>\n…
///
/// Tolerated (protocol.md §7.1): spaces instead of newlines, a literal two-character `\n`, no separator after the
/// name, no arguments at all. Anything else (an empty or spaced name, text between pairs, a key without a value,
/// an unterminated tag) makes the call malformed: `parse` returns `nil` and the caller keeps the text as content.
struct ToolCallBody: Equatable {
    let name: String
    let arguments: [(key: String, raw: String)]

    static func == (a: ToolCallBody, b: ToolCallBody) -> Bool {
        a.name == b.name && a.arguments.elementsEqual(b.arguments) { $0.key == $1.key && $0.raw == $1.raw }
    }

    static let argKeyOpen = Array("<arg_key>".utf8), argKeyClose = Array("</arg_key>".utf8)
    static let argValueOpen = Array("<arg_value>".utf8), argValueClose = Array("</arg_value>".utf8)
    static let literalNewline = Array("\\n".utf8)

    static func parse(_ body: [UInt8]) -> ToolCallBody? {
        let nameEnd = [find(Array("\n".utf8), in: body, from: 0), find(argKeyOpen, in: body, from: 0),
                       find(literalNewline, in: body, from: 0)].compactMap { $0 }.min() ?? body.count
        let name = PythonText.strip(String(decoding: body[..<nameEnd], as: UTF8.self))
        guard isValidName(name) else { return nil }

        var arguments: [(key: String, raw: String)] = []
        var pos = skipSeparators(body, from: nameEnd)
        while pos < body.count {
            guard starts(body, with: argKeyOpen, at: pos) else { return nil }
            let keyStart = pos + argKeyOpen.count
            guard let keyEnd = find(argKeyClose, in: body, from: keyStart) else { return nil }
            let key = PythonText.strip(String(decoding: body[keyStart..<keyEnd], as: UTF8.self))
            guard !key.isEmpty else { return nil }
            pos = skipSeparators(body, from: keyEnd + argKeyClose.count)
            guard starts(body, with: argValueOpen, at: pos) else { return nil }
            let valueStart = pos + argValueOpen.count
            guard let valueEnd = find(argValueClose, in: body, from: valueStart) else { return nil }
            arguments.append((key, String(decoding: body[valueStart..<valueEnd], as: UTF8.self)))
            pos = skipSeparators(body, from: valueEnd + argValueClose.count)
        }
        return ToolCallBody(name: name, arguments: arguments)
    }

    /// A stripped name is valid when it is non-empty and has no whitespace, `<` or `>`.
    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && !name.unicodeScalars.contains { PythonText.isSpace($0) || $0 == "<" || $0 == ">" }
    }

    /// Skips ASCII whitespace and literal `\n` sequences.
    static func skipSeparators(_ bytes: [UInt8], from start: Int) -> Int {
        var pos = start
        while pos < bytes.count {
            if isASCIISpace(bytes[pos]) {
                pos += 1
            } else if starts(bytes, with: literalNewline, at: pos) {
                pos += literalNewline.count
            } else {
                break
            }
        }
        return pos
    }

    static func isASCIISpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }

    /// Whether `bytes[pos..<limit]` (`limit` defaults to the end) starts with `marker`.
    static func starts(_ bytes: [UInt8], with marker: [UInt8], at pos: Int, limit: Int? = nil) -> Bool {
        pos + marker.count <= min(limit ?? bytes.count, bytes.count)
            && bytes[pos..<(pos + marker.count)].elementsEqual(marker)
    }

    /// The first occurrence of `marker` in `bytes[start..<limit]` (`limit` defaults to the end).
    static func find(_ marker: [UInt8], in bytes: [UInt8], from start: Int, limit: Int? = nil) -> Int? {
        let end = min(limit ?? bytes.count, bytes.count)
        guard let first = marker.first, end >= marker.count else { return nil }
        var i = max(start, 0)
        let last = end - marker.count
        while i <= last {
            if bytes[i] == first && bytes[i..<(i + marker.count)].elementsEqual(marker) { return i }
            i += 1
        }
        return nil
    }
}
