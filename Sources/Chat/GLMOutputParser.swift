import JSON

/// Splits a GLM-4.5/4.6 model's generated text (decoded with its added tokens kept) into reasoning, content and
/// tool calls — incrementally (`feed` / `finish`) or at once (`parse`). Both give the same result: `parse` is
/// `feed(text) + finish()`.
///
/// Rules (protocol.md §6–7):
/// - With `parseReasoning`, the output may open (after whitespace) with `<think>`; the reasoning runs to `</think>`,
///   or to a `<tool_call>` (which then ends the reasoning), or to the end of the text (truncated while thinking).
///   Without it (thinking off: the prompt already holds `<think></think>`), everything is content.
/// - Reasoning and content are trimmed: leading whitespace is dropped, and whitespace is held back until more text
///   follows, so a run of whitespace at the end, or just before a tool call, is never sent.
/// - With `parseToolCalls`, each `<tool_call>NAME<arg_key>K</arg_key><arg_value>V</arg_value>…</tool_call>` becomes a
///   tool call: a `toolCallStart` (id `call_…`, name) and `toolCallArguments` fragments that concatenate to the
///   JSON object of the arguments, pairs in emitted order, a repeated key written again (values typed by the
///   tool's schema, `ToolArgumentTyping`).
///   `</tool_call>` inside an `<arg_value>` does not end the call. How the call is streamed is `toolCallStreaming`:
///   - `.incremental` (default): the start is sent as soon as the name line is complete and the name is allowed;
///     then the arguments grow as the text arrives — string-typed values character by character (`StreamingToolCall`).
///     A call that breaks the grammar after its start (junk between pairs, a key without a value, the text ending
///     inside the call) keeps its start: its arguments end after the last complete pair, closed (`}`) when the
///     call ends (a string value open at the end of the text is closed where it stands), and the rest of its
///     text, from the first pair not used through `</tool_call>`, is sent as content.
///   - `.wholeCall`: the call is held until its `</tool_call>` and sent as one start and one fragment; a malformed
///     or unterminated call is then returned whole as content.
///   Both give the same result for every well-formed call.
/// - A call the text ends inside (cut off by `max_tokens` or a stop) is handled as `cutOffToolCalls` says:
///   `.closed` (default) as described above; `.leftOpen`: nothing more is sent for it — a call whose start was
///   already sent keeps what was streamed (its arguments stay unclosed) and is reported by `cutOffToolCallIndex`;
///   the text of a call whose name line never ended (nothing sent yet) is dropped. `completedToolCallCount`
///   counts the calls closed by `</tool_call>`, in both modes.
/// - Returned as plain content, never dropped: calls whose name is malformed, calls naming a tool the request did
///   not declare (when it declared any; with no tools every name is accepted), and (with `.closed`) calls cut off
///   by the end of the text before their name line ended.
/// - Text that might still become a marker (a trailing `<thi`, `</tool_c`) is held back until it is resolved.
public struct GLMOutputParser {
    /// How tool calls are streamed (see the type's documentation).
    public enum ToolCallStreaming: Sendable {
        case incremental
        case wholeCall
    }

    /// What happens to a tool call the text ends inside (see the type's documentation).
    public enum CutOffToolCalls: Sendable {
        /// Closed where the text ends (its arguments after the last complete pair).
        case closed
        /// Left as streamed so far, reported by `cutOffToolCallIndex`, never completed.
        case leftOpen
    }

    private enum Mode { case start, reasoning, content, toolCall }
    private enum TextKind { case reasoning, content }
    /// The open call: held whole (`.wholeCall`), streaming, rejected as a call (content at its end), or broken
    /// after its start (its text from `rest` is content at its end).
    private enum CallState { case whole, streaming, rejected, broken(rest: Int) }

    static let thinkOpen = Array("<think>".utf8), thinkClose = Array("</think>".utf8)
    static let toolCallOpen = Array("<tool_call>".utf8), toolCallClose = Array("</tool_call>".utf8)

    public let parseReasoning: Bool
    public let parseToolCalls: Bool
    public let toolCallStreaming: ToolCallStreaming
    public let cutOffToolCalls: CutOffToolCalls
    /// Calls closed by their `</tool_call>` and sent as calls so far.
    public private(set) var completedToolCallCount = 0
    /// With `cutOffToolCalls: .leftOpen`: the index of the call whose start was sent but whose `</tool_call>`
    /// never came (known after `finish`).
    public private(set) var cutOffToolCallIndex: Int?
    private let typing: ToolArgumentTyping
    private let makeID: () -> String

    private var mode: Mode
    private var pending: [UInt8] = []
    private var heldWhitespace: [UInt8] = []
    private var reasoningStarted = false
    private var contentStarted = false
    private var reasoningEndedByToolCall = false
    private var whitespaceBeforeToolCall: [UInt8] = []
    private var toolBuffer: [UInt8] = []
    private var toolScan = 0
    private var toolInValue = false
    private var callState = CallState.whole
    private var streamingCall: StreamingToolCall
    private var nextToolIndex = 0
    private var finished = false
    private var out: [OutputDelta] = []

    public init(tools: JSONValue?, parseReasoning: Bool = true, parseToolCalls: Bool = true,
                toolCallStreaming: ToolCallStreaming = .incremental, cutOffToolCalls: CutOffToolCalls = .closed) {
        self.init(tools: tools, parseReasoning: parseReasoning, parseToolCalls: parseToolCalls,
                  toolCallStreaming: toolCallStreaming, cutOffToolCalls: cutOffToolCalls, makeID: ToolCallID.random)
    }

    /// `makeID` makes the tool-call ids (deterministic ids for tests).
    public init(tools: JSONValue?, parseReasoning: Bool, parseToolCalls: Bool,
                toolCallStreaming: ToolCallStreaming = .incremental, cutOffToolCalls: CutOffToolCalls = .closed,
                makeID: @escaping () -> String) {
        self.parseReasoning = parseReasoning
        self.parseToolCalls = parseToolCalls
        self.toolCallStreaming = toolCallStreaming
        self.cutOffToolCalls = cutOffToolCalls
        self.typing = ToolArgumentTyping(tools: tools)
        self.streamingCall = StreamingToolCall(typing: typing)
        self.makeID = makeID
        self.mode = parseReasoning ? .start : .content
    }

    /// Consumes the next piece of generated text; returns what can be sent now.
    public mutating func feed(_ text: String) -> [OutputDelta] {
        guard !finished else { return [] }
        pending.append(contentsOf: text.utf8)
        process(final: false)
        return takeOutput()
    }

    /// Ends the text: flushes what was held back (an unfinished marker or call becomes content).
    public mutating func finish() -> [OutputDelta] {
        guard !finished else { return [] }
        process(final: true)
        finished = true
        return takeOutput()
    }

    /// Parses a whole generated text (`feed(text) + finish()` with the same options).
    public static func parse(_ text: String, tools: JSONValue?) -> ParsedOutput {
        parse(text, tools: tools, parseReasoning: true, parseToolCalls: true)
    }

    public static func parse(_ text: String, tools: JSONValue?, parseReasoning: Bool, parseToolCalls: Bool,
                             toolCallStreaming: ToolCallStreaming = .incremental,
                             makeID: @escaping () -> String = ToolCallID.random) -> ParsedOutput {
        var parser = GLMOutputParser(tools: tools, parseReasoning: parseReasoning, parseToolCalls: parseToolCalls,
                                     toolCallStreaming: toolCallStreaming, makeID: makeID)
        let deltas = parser.feed(text) + parser.finish()
        return ParsedOutput(deltas: deltas)
    }

    // MARK: - State machine

    private mutating func process(final: Bool) {
        while true {
            switch mode {
            case .start:
                let skip = pending.prefix { ToolCallBody.isASCIISpace($0) }.count
                pending.removeFirst(skip)
                if pending.isEmpty { return }
                if ToolCallBody.starts(pending, with: Self.thinkOpen, at: 0) {
                    pending.removeFirst(Self.thinkOpen.count)
                    mode = .reasoning
                    continue
                }
                if !final && pending.count < Self.thinkOpen.count && Self.thinkOpen.starts(with: pending) { return }
                mode = .content

            case .reasoning:
                var markers = [Self.thinkClose]
                if parseToolCalls { markers.append(Self.toolCallOpen) }
                guard let (at, marker) = earliest(markers) else {
                    flush(as: .reasoning, markers: markers, final: final)
                    return
                }
                emit(pending[..<at], as: .reasoning)
                heldWhitespace = []
                pending.removeFirst(at + marker.count)
                if marker == Self.thinkClose {
                    mode = .content
                } else {
                    reasoningEndedByToolCall = true
                    beginToolCall()
                }

            case .content:
                var markers: [[UInt8]] = []
                if parseToolCalls { markers.append(Self.toolCallOpen) }
                if reasoningEndedByToolCall { markers.append(Self.thinkClose) }  // a late `</think>`: dropped
                guard let (at, marker) = earliest(markers) else {
                    flush(as: .content, markers: markers, final: final)
                    return
                }
                emit(pending[..<at], as: .content)
                pending.removeFirst(at + marker.count)
                if marker == Self.toolCallOpen {
                    whitespaceBeforeToolCall = heldWhitespace
                    heldWhitespace = []
                    beginToolCall()
                }

            case .toolCall:
                toolBuffer.append(contentsOf: pending)
                pending = []
                if let end = scanForToolCallEnd() {
                    pending = Array(toolBuffer[(end + Self.toolCallClose.count)...])
                    endToolCall(bodyEnd: end, terminated: true)
                    mode = .content
                    continue
                }
                if final {
                    endToolCall(bodyEnd: toolBuffer.count, terminated: false)
                    mode = .content
                    continue
                }
                // The call's text is certain up to where a `</tool_call>` could still begin.
                let undecided = toolInValue ? 0 : StreamingToolCall.partialSuffixLength(of: Self.toolCallClose,
                                                                                     in: toolBuffer[toolScan...])
                advanceStreamingCall(limit: toolBuffer.count - undecided, complete: false, terminated: false)
                return
            }
        }
    }

    /// Emits all pending text but a possible marker prefix (or everything when final).
    private mutating func flush(as kind: TextKind, markers: [[UInt8]], final: Bool) {
        let hold = final ? 0 : partialMarkerLength(markers)
        emit(pending[..<(pending.count - hold)], as: kind)
        pending.removeFirst(pending.count - hold)
        if final { heldWhitespace = [] }
    }

    /// The earliest occurrence of any marker in `pending`.
    private func earliest(_ markers: [[UInt8]]) -> (Int, [UInt8])? {
        var best: (Int, [UInt8])? = nil
        for marker in markers {
            if let i = ToolCallBody.find(marker, in: pending, from: 0), i < (best?.0 ?? Int.max) { best = (i, marker) }
        }
        return best
    }

    /// Length of the longest suffix of `pending` that is a proper prefix of a marker.
    private func partialMarkerLength(_ markers: [[UInt8]]) -> Int {
        let longest = markers.map(\.count).max() ?? 0
        var k = min(longest - 1, pending.count)
        while k > 0 {
            let suffix = pending[(pending.count - k)...]
            if markers.contains(where: { $0.count > k && $0.starts(with: suffix) }) { return k }
            k -= 1
        }
        return 0
    }

    /// Sends text, dropping leading whitespace of a new section and holding back trailing whitespace.
    private mutating func emit(_ bytes: ArraySlice<UInt8>, as kind: TextKind) {
        var text = bytes
        let started = kind == .reasoning ? reasoningStarted : contentStarted
        if !started { text = text.drop { ToolCallBody.isASCIISpace($0) } }
        guard let last = text.lastIndex(where: { !ToolCallBody.isASCIISpace($0) }) else {
            if started { heldWhitespace.append(contentsOf: text) }
            return
        }
        let piece = String(decoding: heldWhitespace + Array(text[...last]), as: UTF8.self)
        heldWhitespace = Array(text[(last + 1)...])
        switch kind {
        case .reasoning:
            reasoningStarted = true
            out.append(.reasoning(piece))
        case .content:
            contentStarted = true
            out.append(.content(piece))
        }
    }

    private mutating func beginToolCall() {
        mode = .toolCall
        toolBuffer = []
        toolScan = 0
        toolInValue = false
        if toolCallStreaming == .incremental {
            callState = .streaming
            streamingCall = StreamingToolCall(typing: typing)
        } else {
            callState = .whole
        }
    }

    /// Finds `</tool_call>` in the call text, skipping over `<arg_value>…</arg_value>` spans.
    private mutating func scanForToolCallEnd() -> Int? {
        while true {
            if toolInValue {
                if let close = ToolCallBody.find(ToolCallBody.argValueClose, in: toolBuffer, from: toolScan) {
                    toolInValue = false
                    toolScan = close + ToolCallBody.argValueClose.count
                    continue
                }
                toolScan = max(toolScan, toolBuffer.count - ToolCallBody.argValueClose.count + 1)
                return nil
            }
            let end = ToolCallBody.find(Self.toolCallClose, in: toolBuffer, from: toolScan)
            let value = ToolCallBody.find(ToolCallBody.argValueOpen, in: toolBuffer, from: toolScan)
            if let end, end < (value ?? Int.max) { return end }
            if let value {
                toolInValue = true
                toolScan = value + ToolCallBody.argValueOpen.count
                continue
            }
            toolScan = max(toolScan, toolBuffer.count - Self.toolCallClose.count + 1)
            return nil
        }
    }

    /// Moves a streaming call on over `toolBuffer[..<limit]`, sending what it produced.
    private mutating func advanceStreamingCall(limit: Int, complete: Bool, terminated: Bool) {
        guard case .streaming = callState else { return }
        var events: [StreamingToolCall.Event] = []
        let status = streamingCall.advance(toolBuffer, limit: limit, complete: complete, terminated: terminated) {
            events.append($0)
        }
        for event in events {
            switch event {
            case .start(let name): out.append(.toolCallStart(index: nextToolIndex, id: makeID(), name: name))
            case .arguments(let text): out.append(.toolCallArguments(index: nextToolIndex, fragment: text))
            }
        }
        switch status {
        case .open, .closed: break
        case .rejected: callState = .rejected
        case .malformed(let rest): callState = .broken(rest: rest)
        }
    }

    /// The call's text ends at `bodyEnd` (at its `</tool_call>` when `terminated`, else at the end of the text).
    private mutating func endToolCall(bodyEnd: Int, terminated: Bool) {
        if !terminated && cutOffToolCalls == .leftOpen {
            leaveCutOffCall(bodyEnd: bodyEnd)
            return
        }
        advanceStreamingCall(limit: bodyEnd, complete: true, terminated: terminated)
        let closeTag = terminated ? Self.toolCallClose : []
        switch callState {
        case .whole:
            completeToolCall(body: Array(toolBuffer[..<bodyEnd]), terminated: terminated)
        case .streaming:  // closed: every byte was used
            nextToolIndex += 1
            if terminated { completedToolCallCount += 1 }
            whitespaceBeforeToolCall = []
        case .rejected:
            keepAsContent(Self.toolCallOpen + toolBuffer[..<bodyEnd] + closeTag)
        case .broken(let rest):
            out.append(.toolCallArguments(index: nextToolIndex, fragment: streamingCall.closingText))
            nextToolIndex += 1
            if terminated { completedToolCallCount += 1 }
            keepAsContent(Array(toolBuffer[rest..<bodyEnd]) + closeTag)
        }
        toolBuffer = []
        callState = .whole
    }

    /// `.leftOpen`: the text ended inside a call. A streaming call sends what is certain (a possible partial tag
    /// stays unsent) and is reported if its start went out; a call never started is dropped; a rejected name
    /// (not a call at all) is content as usual.
    private mutating func leaveCutOffCall(bodyEnd: Int) {
        advanceStreamingCall(limit: bodyEnd, complete: false, terminated: false)
        switch callState {
        case .streaming where streamingCall.name != nil, .broken:
            cutOffToolCallIndex = nextToolIndex
            nextToolIndex += 1
        case .rejected:
            keepAsContent(Self.toolCallOpen + toolBuffer[..<bodyEnd])
        case .streaming, .whole:
            break
        }
        whitespaceBeforeToolCall = []
        toolBuffer = []
        callState = .whole
    }

    private mutating func completeToolCall(body: [UInt8], terminated: Bool) {
        if terminated, let call = ToolCallBody.parse(body),
           typing.toolNames.isEmpty || typing.toolNames.contains(call.name) {
            let pairs = call.arguments.map { (key: $0.key, value: typing.value(tool: call.name, key: $0.key, raw: $0.raw)) }
            out.append(.toolCallStart(index: nextToolIndex, id: makeID(), name: call.name))
            out.append(.toolCallArguments(index: nextToolIndex, fragment: ToolCallArgumentsText.object(pairs)))
            nextToolIndex += 1
            completedToolCallCount += 1
            whitespaceBeforeToolCall = []
            return
        }
        keepAsContent(Self.toolCallOpen + body + (terminated ? Self.toolCallClose : []))
    }

    /// Text of a call that is not (or no longer) a call goes out as content, with the whitespace before the call.
    private mutating func keepAsContent(_ raw: [UInt8]) {
        heldWhitespace = whitespaceBeforeToolCall
        whitespaceBeforeToolCall = []
        emit(raw[...], as: .content)
    }

    /// Hands out the deltas gathered so far, merging neighbours of the same kind.
    private mutating func takeOutput() -> [OutputDelta] {
        var merged: [OutputDelta] = []
        for delta in out {
            switch (merged.last, delta) {
            case (.reasoning(let a)?, .reasoning(let b)):
                merged[merged.count - 1] = .reasoning(a + b)
            case (.content(let a)?, .content(let b)):
                merged[merged.count - 1] = .content(a + b)
            case (.toolCallArguments(let i, let a)?, .toolCallArguments(let j, let b)) where i == j:
                merged[merged.count - 1] = .toolCallArguments(index: i, fragment: a + b)
            default:
                merged.append(delta)
            }
        }
        out = []
        return merged
    }
}
