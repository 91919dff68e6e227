import JSON

/// One `<tool_call>` parsed while its text arrives, for incremental streaming (protocol.md §7.4).
///
/// The body is read with the same grammar as `ToolCallBody.parse`, but decisions are taken as soon as the text
/// allows them:
/// - the call is committed (`.start(name)`) when its name line is complete (a newline, a literal `\n`, `<arg_key>`,
///   or the end of a terminated body) and the name is valid and allowed;
/// - a pair whose schema type is `string` is sent as `"key": "` as soon as its `<arg_value>` opens, then its text
///   JSON-escaped as it arrives (only a possible partial `</arg_value>` is held back), then `"`;
/// - any other pair is sent whole (`"key": <typed JSON>`) at its `</arg_value>`;
/// - `{` comes with the first pair, `, ` between pairs, `}` (or `{}`) at the end of the body.
///
/// The fragments concatenate to `ToolCallArgumentsText.object(pairs)` of the whole body, so for a well-formed
/// call the stream is exactly what the whole-call parse returns.
///
/// Only `body[0..<limit]` is read: the caller passes the prefix known to belong to the call, and `complete` when
/// `limit` is the end of the call (its `</tool_call>`, or the end of the text).
struct StreamingToolCall {
    enum Event: Equatable {
        case start(name: String)
        case arguments(String)
    }

    enum Status: Equatable {
        /// More text is needed.
        case open
        /// Not a call (bad, unknown or never-finished name): nothing was sent; the caller keeps the text as content.
        case rejected
        /// The arguments are closed; the whole body was used.
        case closed
        /// The body broke the grammar after the call was committed: the arguments end after the last complete
        /// pair (the caller sends `closingText` once the call's end is known), and `body[rest...]` was not used
        /// (the caller sends it as content).
        case malformed(rest: Int)
    }

    private enum Phase {
        case name
        case pairs
        case value(key: String, pairStart: Int, valueStart: Int)
        case stringValue
        case done
    }

    static let backslash = UInt8(ascii: "\\"), letterN = UInt8(ascii: "n")

    private let typing: ToolArgumentTyping
    private(set) var name: String?
    private var phase = Phase.name
    /// First byte not yet consumed (in `.stringValue`: first byte of the value not yet sent).
    private var pos = 0
    /// Where the search for the next closing tag resumes.
    private var search = 0
    private var pairsSent = 0

    init(typing: ToolArgumentTyping) {
        self.typing = typing
    }

    mutating func advance(_ body: [UInt8], limit: Int, complete: Bool, terminated: Bool,
                          emit: (Event) -> Void) -> Status {
        while true {
            switch phase {
            case .done:
                return .closed

            case .name:
                let markers = [[UInt8(ascii: "\n")], ToolCallBody.argKeyOpen, ToolCallBody.literalNewline]
                let found = markers.compactMap { ToolCallBody.find($0, in: body, from: search, limit: limit) }.min()
                guard let nameEnd = found ?? (complete && terminated ? limit : nil) else {
                    if complete { return .rejected }
                    search = max(0, limit - ToolCallBody.argKeyOpen.count + 1)
                    return .open
                }
                let text = PythonText.strip(String(decoding: body[..<nameEnd], as: UTF8.self))
                guard ToolCallBody.isValidName(text),
                      typing.toolNames.isEmpty || typing.toolNames.contains(text) else { return .rejected }
                name = text
                emit(.start(name: text))
                pos = nameEnd
                search = nameEnd
                phase = .pairs

            case .pairs:
                guard let p = Self.skipSeparators(body, from: pos, limit: limit, complete: complete) else { return .open }
                pos = p
                if p == limit {
                    guard complete else { return .open }
                    close(emit)
                    return .closed
                }
                guard ToolCallBody.starts(body, with: ToolCallBody.argKeyOpen, at: p, limit: limit) else {
                    if !complete && ToolCallBody.argKeyOpen.starts(with: body[p..<limit]) { return .open }
                    return malformed(rest: p)
                }
                let keyStart = p + ToolCallBody.argKeyOpen.count
                guard let keyEnd = ToolCallBody.find(ToolCallBody.argKeyClose, in: body, from: max(search, keyStart),
                                                     limit: limit) else {
                    if complete { return malformed(rest: p) }
                    search = max(keyStart, limit - ToolCallBody.argKeyClose.count + 1)
                    return .open
                }
                search = keyEnd  // found again from here next time if the value tag is still incomplete
                let key = PythonText.strip(String(decoding: body[keyStart..<keyEnd], as: UTF8.self))
                guard !key.isEmpty else { return malformed(rest: p) }
                let afterKey = keyEnd + ToolCallBody.argKeyClose.count
                guard let v = Self.skipSeparators(body, from: afterKey, limit: limit, complete: complete) else {
                    return .open
                }
                guard ToolCallBody.starts(body, with: ToolCallBody.argValueOpen, at: v, limit: limit) else {
                    if !complete && ToolCallBody.argValueOpen.starts(with: body[v..<limit]) { return .open }
                    return malformed(rest: p)
                }
                let valueStart = v + ToolCallBody.argValueOpen.count
                search = valueStart
                if let name, typing.isStringParameter(tool: name, key: key) {
                    emit(.arguments(ToolCallArgumentsText.pairPrefix(key: key, first: pairsSent == 0) + "\""))
                    pairsSent += 1
                    pos = valueStart
                    phase = .stringValue
                } else {
                    phase = .value(key: key, pairStart: p, valueStart: valueStart)
                }

            case .value(let key, let pairStart, let valueStart):
                guard let close = ToolCallBody.find(ToolCallBody.argValueClose, in: body, from: search, limit: limit)
                else {
                    if complete { return malformed(rest: pairStart) }
                    search = max(valueStart, limit - ToolCallBody.argValueClose.count + 1)
                    return .open
                }
                let raw = String(decoding: body[valueStart..<close], as: UTF8.self)
                let value = typing.value(tool: name ?? "", key: key, raw: raw)
                emit(.arguments(ToolCallArgumentsText.pairPrefix(key: key, first: pairsSent == 0) + value.pythonDumps()))
                pairsSent += 1
                pos = close + ToolCallBody.argValueClose.count
                search = pos
                phase = .pairs

            case .stringValue:
                if let close = ToolCallBody.find(ToolCallBody.argValueClose, in: body, from: search, limit: limit) {
                    emit(.arguments(Self.escaped(body[pos..<close]) + "\""))
                    pos = close + ToolCallBody.argValueClose.count
                    search = pos
                    phase = .pairs
                    continue
                }
                if complete {
                    // The value never closed: it runs to the end of the call.
                    emit(.arguments(Self.escaped(body[pos..<limit]) + "\""))
                    close(emit)
                    return .closed
                }
                var cut = limit - Self.partialSuffixLength(of: ToolCallBody.argValueClose, in: body[pos..<limit])
                while cut > pos && cut < body.count && body[cut] & 0xC0 == 0x80 { cut -= 1 }  // never split a UTF-8 sequence
                if cut > pos { emit(.arguments(Self.escaped(body[pos..<cut]))) }
                pos = cut
                search = cut
                return .open
            }
        }
    }

    /// What closes the arguments after the pairs sent so far.
    var closingText: String { pairsSent == 0 ? "{}" : "}" }

    private mutating func close(_ emit: (Event) -> Void) {
        emit(.arguments(closingText))
        phase = .done
    }

    /// The arguments are not closed here: the call is not over until its `</tool_call>` (a call the text ends
    /// inside stays open when the parser leaves cut-off calls open).
    private mutating func malformed(rest: Int) -> Status {
        phase = .done
        return .malformed(rest: rest)
    }

    /// Skips whitespace and literal `\n` in `body[from..<limit]`; `nil` when a lone `\` at the limit of an
    /// incomplete body leaves it undecided.
    static func skipSeparators(_ body: [UInt8], from start: Int, limit: Int, complete: Bool) -> Int? {
        var pos = start
        while pos < limit {
            if ToolCallBody.isASCIISpace(body[pos]) {
                pos += 1
            } else if body[pos] == backslash {
                guard pos + 1 < limit else { return complete ? pos : nil }
                guard body[pos + 1] == letterN else { break }
                pos += 2
            } else {
                break
            }
        }
        return pos
    }

    /// Length of the longest proper prefix of `marker` that ends `bytes`.
    static func partialSuffixLength(of marker: [UInt8], in bytes: ArraySlice<UInt8>) -> Int {
        var k = min(marker.count - 1, bytes.count)
        while k > 0 {
            if marker.starts(with: bytes.suffix(k)) { return k }
            k -= 1
        }
        return 0
    }

    /// The bytes as the inside of a JSON string literal (the escaping works byte by byte, so pieces cut at
    /// character boundaries escape to the pieces of the whole).
    static func escaped(_ bytes: ArraySlice<UInt8>) -> String {
        let quoted = JSONValue.quoted(String(decoding: bytes, as: UTF8.self))
        return String(quoted.dropFirst().dropLast())
    }
}

/// The `arguments` JSON text of a call, built pair by pair as Python's `json.dumps` writes an object. Pairs are
/// written in the order the model emitted them; a repeated key is written again (JSON readers keep the last).
enum ToolCallArgumentsText {
    static func pairPrefix(key: String, first: Bool) -> String {
        (first ? "{" : ", ") + JSONValue.quoted(key) + ": "
    }

    static func object(_ pairs: [(key: String, value: JSONValue)]) -> String {
        guard !pairs.isEmpty else { return "{}" }
        return pairs.enumerated().map { pairPrefix(key: $0.element.key, first: $0.offset == 0) + $0.element.value.pythonDumps() }
            .joined() + "}"
    }
}
