extension Tokenizer {
    /// The bytes token `id` decodes to (the ByteLevel decoder's view; added tokens as their UTF-8 text), or an
    /// empty array for an id without a token. Used to build token tries for constrained decoding and the
    /// `bytes` of logprobs.
    public func bytes(ofToken id: Int) -> [UInt8] {
        guard isDecodable(id) else { return [] }
        var bytes: [UInt8] = []
        appendBytes(of: id, to: &bytes)
        return bytes
    }

    /// Whether tokens decode to bytes (a ByteLevel decoder); otherwise `decode` joins token strings with spaces
    /// and token bytes do not concatenate into the text.
    public var decodesTokensToBytes: Bool { decodesBytes }
}
