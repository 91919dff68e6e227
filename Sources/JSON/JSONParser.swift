import Foundation

/// A JSON text that is not valid RFC 8259 JSON. `offset` is the byte offset (in the UTF-8 text) of the problem.
public struct JSONParseError: Error, CustomStringConvertible, Equatable, Sendable {
    public let offset: Int
    public let message: String
    public init(offset: Int, message: String) {
        self.offset = offset
        self.message = message
    }
    public var description: String { "invalid JSON at byte \(offset): \(message)" }
}

extension JSONValue {
    /// The deepest nesting of arrays and objects `parse` accepts.
    public static let maximumDepth = 512

    /// Parses one JSON text (RFC 8259, strict: no comments, no trailing commas, no NaN, UTF-8 only; surrounding
    /// whitespace allowed). Duplicate keys keep the first position and the last value, like Python, unless
    /// `duplicateKeys` is `.rejected`: then the first repeated key throws a `JSONDuplicateKeyError`.
    public static func parse(_ data: Data, duplicateKeys: JSONDuplicateKeys = .lastValueWins) throws -> JSONValue {
        try data.withUnsafeBytes { raw in
            var parser = JSONParser(bytes: raw.bindMemory(to: UInt8.self), duplicateKeys: duplicateKeys)
            return try parser.parseDocument()
        }
    }

    public static func parse(_ text: String, duplicateKeys: JSONDuplicateKeys = .lastValueWins) throws -> JSONValue {
        var text = text
        return try text.withUTF8 { buffer in
            var parser = JSONParser(bytes: buffer, duplicateKeys: duplicateKeys)
            return try parser.parseDocument()
        }
    }

    public static func parse(_ bytes: [UInt8], duplicateKeys: JSONDuplicateKeys = .lastValueWins) throws -> JSONValue {
        try bytes.withUnsafeBufferPointer { buffer in
            var parser = JSONParser(bytes: buffer, duplicateKeys: duplicateKeys)
            return try parser.parseDocument()
        }
    }
}

/// Recursive-descent parser over UTF-8 bytes.
private struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var pos = 0
    var depth = 0
    /// `JSONValue.maximumDepth`, read once (a global's lazy initialisation check is not free per value).
    let maximumDepth = JSONValue.maximumDepth

    let rejectsDuplicateKeys: Bool

    init(bytes: UnsafeBufferPointer<UInt8>, duplicateKeys: JSONDuplicateKeys) {
        self.bytes = bytes
        rejectsDuplicateKeys = duplicateKeys == .rejected
    }

    mutating func parseDocument() throws -> JSONValue {
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            throw JSONParseError(offset: 0, message: "unexpected UTF-8 byte order mark")
        }
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        if pos < bytes.count { throw error("unexpected \(describeByte(at: pos)) after the JSON value") }
        return value
    }

    // MARK: helpers

    func error(_ message: String, at offset: Int? = nil) -> JSONParseError {
        JSONParseError(offset: offset ?? pos, message: message)
    }

    func describeByte(at i: Int) -> String {
        guard i < bytes.count else { return "end of input" }
        let b = bytes[i]
        if b >= 0x21 && b < 0x7F { return "character '\(Character(Unicode.Scalar(b)))'" }
        return "byte 0x" + String(b, radix: 16, uppercase: true)
    }

    mutating func skipWhitespace() {
        while pos < bytes.count {
            switch bytes[pos] {
            case 0x20, 0x0A, 0x0D, 0x09: pos += 1
            default: return
            }
        }
    }

    mutating func expectLiteral(_ literal: StaticString, _ value: JSONValue) throws -> JSONValue {
        let start = pos
        let n = literal.utf8CodeUnitCount
        guard pos + n <= bytes.count else { throw error("invalid literal (truncated)", at: start) }
        let p = literal.utf8Start
        for i in 0..<n where bytes[pos + i] != p[i] {
            throw error("invalid literal", at: start)
        }
        pos += n
        return value
    }

    // MARK: values

    mutating func parseValue() throws -> JSONValue {
        guard pos < bytes.count else { throw error("unexpected end of input, expected a value") }
        switch bytes[pos] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try expectLiteral("true", .bool(true))
        case UInt8(ascii: "f"): return try expectLiteral("false", .bool(false))
        case UInt8(ascii: "n"): return try expectLiteral("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw error("unexpected \(describeByte(at: pos)), expected a value")
        }
    }

    mutating func enter() throws {
        depth += 1
        if depth > maximumDepth {
            throw error("nesting deeper than \(maximumDepth) levels")
        }
    }

    mutating func parseObject() throws -> JSONValue {
        try enter()
        let start = pos
        pos += 1  // {
        var members: [JSONObject.Element] = []
        skipWhitespace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") {
            pos += 1; depth -= 1
            return .object(JSONObject())
        }
        while true {
            skipWhitespace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else {
                throw error("unexpected \(describeByte(at: pos)), expected a string key")
            }
            let key = try parseString()
            skipWhitespace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else {
                throw error("unexpected \(describeByte(at: pos)), expected ':' after an object key")
            }
            pos += 1
            skipWhitespace()
            do {
                members.append((key, try parseValue()))
            } catch var error as JSONDuplicateKeyError {
                error.path.insert(key, at: 0)  // a repeat inside this member's value
                throw error
            }
            skipWhitespace()
            guard pos < bytes.count else { throw error("unexpected end of input inside an object") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: "}") { pos += 1; break }
            throw error("unexpected \(describeByte(at: pos)), expected ',' or '}'")
        }
        depth -= 1
        let object = JSONObject(members: members)
        if rejectsDuplicateKeys, object.count != members.count {
            throw JSONDuplicateKeyError(offset: start, path: [JSONDuplicateKeyError.firstRepeatedKey(in: members)])
        }
        return .object(object)
    }

    mutating func parseArray() throws -> JSONValue {
        try enter()
        pos += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") {
            pos += 1; depth -= 1
            return .array(elements)
        }
        elements.reserveCapacity(4)  // one allocation for the many short arrays (pairs, small lists)
        while true {
            skipWhitespace()
            elements.append(try parseValue())
            skipWhitespace()
            guard pos < bytes.count else { throw error("unexpected end of input inside an array") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: "]") { pos += 1; break }
            throw error("unexpected \(describeByte(at: pos)), expected ',' or ']'")
        }
        depth -= 1
        return .array(elements)
    }

    // MARK: numbers

    mutating func parseNumber() throws -> JSONNumber {
        let start = pos
        func isDigit(_ i: Int) -> Bool { i < bytes.count && bytes[i] >= 0x30 && bytes[i] <= 0x39 }
        let negative = bytes[pos] == UInt8(ascii: "-")
        if negative { pos += 1 }
        guard isDigit(pos) else { throw error("invalid number: expected a digit") }
        let digitsStart = pos
        var magnitude = 0  // exact while there are at most 18 digits
        if bytes[pos] == UInt8(ascii: "0") {
            pos += 1
            if isDigit(pos) { throw error("invalid number: leading zero") }
        } else {
            while isDigit(pos) {
                magnitude = magnitude &* 10 &+ Int(bytes[pos] &- 0x30)
                pos += 1
            }
        }
        let integerDigits = pos - digitsStart
        var isInteger = true
        if pos < bytes.count, bytes[pos] == UInt8(ascii: ".") {
            isInteger = false
            pos += 1
            guard isDigit(pos) else { throw error("invalid number: expected a digit after '.'") }
            while isDigit(pos) { pos += 1 }
        }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
            isInteger = false
            pos += 1
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            guard isDigit(pos) else { throw error("invalid number: expected a digit in the exponent") }
            while isDigit(pos) { pos += 1 }
        }
        if isInteger && integerDigits <= 18 { return JSONNumber(negative ? -magnitude : magnitude) }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
        if isInteger {
            guard let n = JSONNumber(integerText: text) else { throw error("invalid number", at: start) }
            return n
        }
        guard let d = Double(text) else { throw error("invalid number", at: start) }
        return JSONNumber(d)
    }

    // MARK: strings

    /// Parses a string starting at its opening quote. Fast path: no escapes → one decode of the raw bytes.
    mutating func parseString() throws -> String {
        pos += 1  // opening quote
        let start = pos
        var sawNonASCII = false
        while pos < bytes.count {
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") {
                let raw = UnsafeBufferPointer(rebasing: bytes[start..<pos])
                pos += 1
                return try decodeUTF8(raw, nonASCII: sawNonASCII, at: start)
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw error("unescaped control character 0x\(String(b, radix: 16)) in a string") }
            if b >= 0x80 { sawNonASCII = true }
            pos += 1
        }
        guard pos < bytes.count else { throw error("unterminated string", at: start - 1) }
        // Slow path: escapes present.
        var buffer = [UInt8](UnsafeBufferPointer(rebasing: bytes[start..<pos]))
        while pos < bytes.count {
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") {
                pos += 1
                return try buffer.withUnsafeBufferPointer { try decodeUTF8($0, nonASCII: sawNonASCII, at: start) }
            }
            if b < 0x20 { throw error("unescaped control character 0x\(String(b, radix: 16)) in a string") }
            if b >= 0x80 { sawNonASCII = true }
            if b != UInt8(ascii: "\\") {
                buffer.append(b); pos += 1
                continue
            }
            let escapeStart = pos
            pos += 1
            guard pos < bytes.count else { break }
            switch bytes[pos] {
            case UInt8(ascii: "\""): buffer.append(0x22)
            case UInt8(ascii: "\\"): buffer.append(0x5C)
            case UInt8(ascii: "/"): buffer.append(0x2F)
            case UInt8(ascii: "b"): buffer.append(0x08)
            case UInt8(ascii: "f"): buffer.append(0x0C)
            case UInt8(ascii: "n"): buffer.append(0x0A)
            case UInt8(ascii: "r"): buffer.append(0x0D)
            case UInt8(ascii: "t"): buffer.append(0x09)
            case UInt8(ascii: "u"):
                pos += 1
                let scalar = try parseUnicodeEscape(escapeStart: escapeStart)
                appendUTF8(scalar, to: &buffer)
                sawNonASCII = sawNonASCII || scalar.value >= 0x80
                continue  // parseUnicodeEscape leaves pos after the escape
            default:
                throw error("invalid escape '\\\(describeByte(at: pos))'", at: escapeStart)
            }
            pos += 1
        }
        throw error("unterminated string", at: start - 1)
    }

    /// Reads `XXXX` (pos at the first hex digit) and, for a high surrogate, the following `\uXXXX` low surrogate.
    mutating func parseUnicodeEscape(escapeStart: Int) throws -> Unicode.Scalar {
        let first = try readHex4(escapeStart: escapeStart)
        switch first {
        case 0xD800...0xDBFF:
            guard pos + 1 < bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
                throw error("lone high surrogate \\u\(hex4(first)) (not followed by a low surrogate)", at: escapeStart)
            }
            let secondStart = pos
            pos += 2
            let second = try readHex4(escapeStart: secondStart)
            guard (0xDC00...0xDFFF).contains(second) else {
                throw error("high surrogate \\u\(hex4(first)) followed by \\u\(hex4(second)), not a low surrogate",
                            at: escapeStart)
            }
            let value = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            guard let scalar = Unicode.Scalar(value) else { throw error("invalid surrogate pair", at: escapeStart) }
            return scalar
        case 0xDC00...0xDFFF:
            throw error("lone low surrogate \\u\(hex4(first))", at: escapeStart)
        default:
            guard let scalar = Unicode.Scalar(first) else { throw error("invalid \\u escape", at: escapeStart) }
            return scalar
        }
    }

    mutating func readHex4(escapeStart: Int) throws -> UInt32 {
        guard pos + 4 <= bytes.count else { throw error("truncated \\u escape", at: escapeStart) }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[pos]
            let digit: UInt8
            switch b {
            case 0x30...0x39: digit = b - 0x30
            case 0x41...0x46: digit = b - 0x41 + 10
            case 0x61...0x66: digit = b - 0x61 + 10
            default: throw error("invalid hex digit in \\u escape", at: escapeStart)
            }
            value = value << 4 | UInt32(digit)
            pos += 1
        }
        return value
    }

    func hex4(_ v: UInt32) -> String {
        let s = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }

    func appendUTF8(_ scalar: Unicode.Scalar, to buffer: inout [UInt8]) {
        UTF8.encode(scalar) { buffer.append($0) }
    }

    func decodeUTF8(_ raw: UnsafeBufferPointer<UInt8>, nonASCII: Bool, at offset: Int) throws -> String {
        guard !nonASCII || UTF8Validation.isValid(raw) else { throw error("invalid UTF-8 in a string", at: offset) }
        return String(decoding: raw, as: UTF8.self)  // valid, so nothing is replaced
    }
}
