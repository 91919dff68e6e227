extension JSONValue {
    /// Compact JSON (`{"a":1,"b":[true,null]}`): what the server sends. Non-ASCII is written raw; `"`, `\` and
    /// control characters are escaped; non-finite floats become `null`.
    public func serialized() -> String {
        var writer = JSONWriter(style: .compact)
        writer.write(self)
        return writer.result
    }

    /// Python's `json.dumps(value, ensure_ascii=False)`: `", "` and `": "` separators, key order kept, floats as
    /// `repr(float)`, non-ASCII raw, `/` not escaped, `\n \t \r \b \f \" \\` and `\u00XX` for other C0 controls.
    public func pythonDumps() -> String {
        var writer = JSONWriter(style: .python)
        writer.write(self)
        return writer.result
    }
}

extension JSONValue {
    /// A string as a JSON string literal (quoted and escaped, non-ASCII raw).
    public static func quoted(_ string: String) -> String {
        var writer = JSONWriter(style: .compact)
        writer.writeString(string)
        return writer.result
    }
}

struct JSONWriter {
    enum Style { case compact, python }
    let style: Style
    private var bytes: [UInt8] = []

    init(style: Style) {
        self.style = style
        bytes.reserveCapacity(256)
    }

    var result: String { String(decoding: bytes, as: UTF8.self) }

    private mutating func append(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    private mutating func append(_ s: String) { bytes.append(contentsOf: s.utf8) }

    mutating func write(_ value: JSONValue) {
        switch value {
        case .null: append("null")
        case .bool(let b): append(b ? "true" : "false")
        case .number(let n): append(style == .python ? n.pythonText : n.jsonText)
        case .string(let s): writeString(s)
        case .array(let elements):
            bytes.append(UInt8(ascii: "["))
            for (i, element) in elements.enumerated() {
                if i > 0 { append(style == .python ? ", " : ",") }
                write(element)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let object):
            bytes.append(UInt8(ascii: "{"))
            var first = true
            for (key, element) in object {
                if !first { append(style == .python ? ", " : ",") }
                first = false
                writeString(key)
                append(style == .python ? ": " : ":")
                write(element)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    mutating func writeString(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): append("\\\"")
            case UInt8(ascii: "\\"): append("\\\\")
            case 0x0A: append("\\n")
            case 0x0D: append("\\r")
            case 0x09: append("\\t")
            case 0x08: append("\\b")
            case 0x0C: append("\\f")
            case 0x00..<0x20:
                append("\\u00")
                bytes.append(Self.hexDigits[Int(b >> 4)])
                bytes.append(Self.hexDigits[Int(b & 0xF)])
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
