import XCTest
@testable import Tokenizer

/// The reader is not tied to the fixture: small tokenizers built here vary one feature at a time.
final class TokenizerGeneralityTests: XCTestCase {
    private typealias Builder = TokenizerJSONBuilder

    private func bytes(_ text: String) -> [Int] { text.utf8.map(Int.init) }

    func testIgnoreMergesMapsWholeVocabularyWordsDirectly() throws {
        var builder = Builder()
        builder.extraTokens = ["hello", "he"]
        builder.merges = [("h", "e")]
        builder.ignoreMerges = true
        let direct = try builder.tokenizer()
        XCTAssertEqual(direct.encode("hello"), [builder.id(of: "hello")])
        XCTAssertEqual(direct.encode("help"), [builder.id(of: "he")] + bytes("lp"))
        builder.ignoreMerges = false
        let merged = try builder.tokenizer()
        XCTAssertEqual(merged.encode("hello"), [builder.id(of: "he")] + bytes("llo"))
        XCTAssertEqual(merged.decode(merged.encode("hello")), "hello")
    }

    func testMergesApplyInRankOrder() throws {
        var builder = Builder()
        builder.extraTokens = ["bc", "ab", "abc"]
        builder.merges = [("b", "c"), ("a", "b"), ("a", "bc")]
        XCTAssertEqual(try builder.tokenizer().encode("abc"), [builder.id(of: "abc")])
        builder.merges = [("a", "b"), ("b", "c"), ("a", "bc")]
        XCTAssertEqual(try builder.tokenizer().encode("abc"), [builder.id(of: "ab"), Int(UInt8(ascii: "c"))])
    }

    func testMergesAsStringsEqualMergesAsPairs() throws {
        var builder = Builder()
        builder.extraTokens = ["Ġt", "he", "Ġthe"]
        builder.merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he")]
        let pairs = try builder.tokenizer()
        builder.mergesAsStrings = true
        let strings = try builder.tokenizer()
        XCTAssertEqual(pairs.encode("at the  end"), strings.encode("at the  end"))
        XCTAssertEqual(strings.encode(" the"), [builder.id(of: "Ġthe")])
    }

    func testDigitSplittingRegex() throws {
        var builder = Builder()
        builder.extraTokens = ["12", "123"]
        builder.merges = [("1", "2"), ("12", "3")]
        XCTAssertEqual(try builder.tokenizer().encode("1234"), [builder.id(of: "123"), Int(UInt8(ascii: "4"))])
        builder.regex = Builder.glmRegex.replacingOccurrences(of: #"\p{N}{1,3}"#, with: #"\p{N}"#)
        XCTAssertEqual(try builder.tokenizer().encode("1234"), bytes("1234"))
        builder.regex = Builder.glmRegex.replacingOccurrences(of: #"\p{N}{1,3}"#, with: #"\p{N}{1}"#)
        XCTAssertEqual(try builder.tokenizer().encode("1234"), bytes("1234"))
    }

    func testNFCNormalizer() throws {
        var builder = Builder()
        let decomposed = "e\u{301}te\u{301}"  // "été" written with combining accents
        XCTAssertEqual(try builder.tokenizer().encode(decomposed), bytes(decomposed))
        builder.normalizer = ["type": "NFC"]
        XCTAssertEqual(try builder.tokenizer().encode(decomposed), bytes("\u{E9}t\u{E9}"))
        builder.normalizer = ["type": "Sequence", "normalizers": [["type": "NFC"]]]
        XCTAssertEqual(try builder.tokenizer().encode(decomposed), bytes("\u{E9}t\u{E9}"))
    }

    func testNormalizedAddedTokenMatchesNormalizedText() throws {
        var builder = Builder()
        builder.normalizer = ["type": "NFC"]
        builder.addedTokens = [Builder.addedToken("<e\u{301}>", id: 256, special: false, normalized: true)]
        let tokenizer = try builder.tokenizer()
        XCTAssertEqual(tokenizer.encode("a<\u{E9}>"), bytes("a") + [256])
        XCTAssertEqual(tokenizer.encode("a<e\u{301}>"), bytes("a") + [256])
    }

    /// Tokens with `normalized: false` are found first; normalized ones only in the text between them, even
    /// when there is no normalizer (a single leftmost-longest pass would pick "xa" here).
    func testRawAddedTokensAreMatchedBeforeNormalizedOnes() throws {
        var builder = Builder()
        builder.addedTokens = [Builder.addedToken("ab!", id: 256, special: false, normalized: false),
                               Builder.addedToken("xa", id: 257, special: false, normalized: true)]
        XCTAssertEqual(try builder.tokenizer().encode("xab! xa"), bytes("x") + [256] + bytes(" ") + [257])
    }

    func testAddedTokensSpecialAndNot() throws {
        var builder = Builder()
        builder.addedTokens = [Builder.addedToken("<|user|>", id: 256, special: true),
                               Builder.addedToken("<think>", id: 257, special: false)]
        let tokenizer = try builder.tokenizer()
        let text = "<|user|>hi<think>"
        XCTAssertEqual(tokenizer.encode(text), [256] + bytes("hi") + [257])
        XCTAssertEqual(tokenizer.encode(text, addedTokens: .nonSpecialOnly), bytes("<|user|>hi") + [257])
        XCTAssertEqual(tokenizer.encode(text, addedTokens: .none), bytes(text))
        XCTAssertEqual(tokenizer.decode([256] + bytes("hi") + [257]), text)
        XCTAssertEqual(tokenizer.decode([256] + bytes("hi") + [257], skipSpecialTokens: true), "hi<think>")
        XCTAssertTrue(tokenizer.isSpecial(256))
        XCTAssertFalse(tokenizer.isSpecial(257))
        XCTAssertEqual(tokenizer.id(forToken: "<think>"), 257)
        XCTAssertEqual(tokenizer.token(forID: 256), "<|user|>")
        XCTAssertEqual(tokenizer.vocabularySize, 258)
    }

    func testAddedTokensMatchLongestFirst() throws {
        var builder = Builder()
        builder.addedTokens = [Builder.addedToken("<a>", id: 256, special: true),
                               Builder.addedToken("<a>b", id: 257, special: false)]
        XCTAssertEqual(try builder.tokenizer().encode("x<a>b<a>"), bytes("x") + [257, 256])
    }

    func testAddedTokenStripAndSingleWordFlags() throws {
        var builder = Builder()
        builder.addedTokens = [Builder.addedToken("<s>", id: 256, special: false, lstrip: true, rstrip: true),
                               Builder.addedToken("<w>", id: 257, special: false, singleWord: true)]
        let tokenizer = try builder.tokenizer()
        XCTAssertEqual(tokenizer.encode("a  <s>  b"), bytes("a") + [256] + bytes("b"))
        XCTAssertEqual(tokenizer.encode("a<w>b"), bytes("a<w>b"))
        XCTAssertEqual(tokenizer.encode("a <w> b"), bytes("a ") + [257] + bytes(" b"))
    }

    func testPrefixSpaceAndGPT2RegexOfByteLevel() throws {
        var builder = Builder()
        builder.extraTokens = ["Ġa"]
        builder.merges = [("Ġ", "a")]
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: builder.json()) as? [String: Any])
        object["pre_tokenizer"] = ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true]
        let tokenizer = try Tokenizer(tokenizerJSON: JSONSerialization.data(withJSONObject: object))
        XCTAssertEqual(tokenizer.encode("a a"), [256, 256])
    }

    func testStreamingDecoderHoldsBackIncompleteCharacters() throws {
        let tokenizer = try Builder().tokenizer()
        var decoder = tokenizer.makeStreamingDecoder()
        let pieces = bytes("a你").map { decoder.append($0) }
        XCTAssertEqual(pieces, ["a", "", "", "你"])
        XCTAssertEqual(decoder.append(0xE4), "")
        XCTAssertEqual(decoder.append(Int(UInt8(ascii: "b"))), "\u{FFFD}b")
        XCTAssertEqual(decoder.append(0xF0), "")
        XCTAssertEqual(decoder.append(0x9F), "")
        XCTAssertEqual(decoder.flush(), "\u{FFFD}")
        XCTAssertEqual(decoder.flush(), "")
    }

    func testDecodeReplacesMaximalInvalidSubparts() throws {
        let tokenizer = try Builder().tokenizer()
        XCTAssertEqual(tokenizer.decode([0xE4, 0xBD]), "\u{FFFD}")
        XCTAssertEqual(tokenizer.decode([0xC0, 0xAF]), "\u{FFFD}\u{FFFD}")
        XCTAssertEqual(tokenizer.decode([0xED, 0xA0, 0x80]), "\u{FFFD}\u{FFFD}\u{FFFD}")
        XCTAssertEqual(tokenizer.decode([0x41, 99_999, -1, 0x42]), "AB")
    }
}

/// One tokenizer shared by many threads gives every thread the same answers.
final class TokenizerConcurrencyTests: XCTestCase {
    func testConcurrentEncodeAndDecode() throws {
        let tokenizer = try Fixtures.loadTokenizer()
        let texts = try Fixtures.lines("tokenizer-encode.jsonl").map { $0.string("text") }
        let expected = texts.map { tokenizer.encode($0) }
        let mismatches = UnsafeMutableBufferPointer<Int>.allocate(capacity: 8)
        mismatches.initialize(repeating: 0)
        defer { mismatches.deallocate() }
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for (index, text) in texts.enumerated() where index % 2 == worker % 2 {
                let ids = tokenizer.encode(text)
                if ids != expected[index] || tokenizer.decode(ids) != text { mismatches[worker] += 1 }
            }
        }
        XCTAssertEqual(mismatches.reduce(0, +), 0)
    }
}
