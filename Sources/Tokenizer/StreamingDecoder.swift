/// Turns generated ids into text one id at a time, for streaming. Text is emitted as soon as it is complete;
/// the bytes of a UTF-8 sequence that a later token may still complete are held back, so no emitted piece
/// ever contains a broken character and the concatenation of all pieces (with `flush()`) equals
/// `decode(allIDs)`.
public struct StreamingDecoder: Sendable {
    private let tokenizer: Tokenizer
    private let skipsSpecialTokens: Bool
    private var pending: [UInt8] = []
    private var hasEmittedToken = false

    init(tokenizer: Tokenizer, skipSpecialTokens: Bool) {
        self.tokenizer = tokenizer
        self.skipsSpecialTokens = skipSpecialTokens
    }

    /// Adds one id; returns the text that became complete with it ("" when everything is held back).
    public mutating func append(_ id: Int) -> String {
        guard tokenizer.isDecodable(id), !(skipsSpecialTokens && tokenizer.isSpecial(id)) else { return "" }
        if !tokenizer.decodesBytes {
            defer { hasEmittedToken = true }
            let token = tokenizer.token(forID: id) ?? ""
            return hasEmittedToken ? " " + token : token
        }
        tokenizer.appendBytes(of: id, to: &pending)
        let (text, consumed) = pending.withUnsafeBufferPointer { LossyUTF8.decodeComplete($0) }
        pending.removeFirst(consumed)
        return text
    }

    /// Ends the stream: returns whatever is still held back (an incomplete sequence becomes U+FFFD).
    public mutating func flush() -> String {
        defer { pending.removeAll() }
        return LossyUTF8.decode(pending)
    }
}
