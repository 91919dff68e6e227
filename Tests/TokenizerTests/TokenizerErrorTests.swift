import XCTest
@testable import Tokenizer

/// Bad input gives a typed error that names the file and the problem.
final class TokenizerErrorTests: XCTestCase {
    private func loadError(_ json: String) -> TokenizerError? {
        do {
            _ = try Tokenizer(tokenizerJSON: Data(json.utf8))
            return nil
        } catch {
            return error as? TokenizerError
        }
    }

    func testMissingDirectory() {
        let missing = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("no-such-model-\(UUID())")
        XCTAssertThrowsError(try Tokenizer(directory: missing)) { error in
            guard case .unreadableFile(let path, _)? = error as? TokenizerError else { return XCTFail("\(error)") }
            XCTAssertTrue(path.hasSuffix("tokenizer.json"))
        }
    }

    func testInvalidJSON() {
        guard case .invalidJSON(_, let offset, _)? = loadError(#"{"model": {"type": "BPE", "#) else {
            return XCTFail("expected invalidJSON")
        }
        XCTAssertEqual(offset, 26)
        guard case .invalidJSON? = loadError("") else { return XCTFail("expected invalidJSON") }
        guard case .invalidJSON? = loadError(#"{"a": tru}"#) else { return XCTFail("expected invalidJSON") }
    }

    func testUnsupportedModelType() throws {
        var builder = TokenizerJSONBuilder()
        builder.modelType = "WordPiece"
        XCTAssertThrowsError(try builder.tokenizer()) { error in
            guard case .unsupported(_, let component, let reason)? = error as? TokenizerError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(component, "model")
            XCTAssertTrue(reason.contains("WordPiece"), reason)
            XCTAssertTrue("\(error)".contains("WordPiece"))
        }
    }

    func testMergeOfUnknownToken() throws {
        var builder = TokenizerJSONBuilder()
        builder.merges = [("a", "b")]  // "ab" is not in the vocabulary
        XCTAssertThrowsError(try builder.tokenizer()) { error in
            guard case .invalidField(_, let field, _)? = error as? TokenizerError else { return XCTFail("\(error)") }
            XCTAssertEqual(field, "model.merges[0]")
        }
    }

    func testUnsupportedPreTokenizerAndMissingModel() {
        guard case .unsupported? = loadError(#"{"pre_tokenizer": {"type": "Whitespace"}, "model": {}}"#) else {
            return XCTFail("expected unsupported")
        }
        let byteLevel = #"{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}"#
        guard case .invalidField(_, "model", _)? = loadError(#"{"pre_tokenizer": \#(byteLevel)}"#) else {
            return XCTFail("expected invalidField")
        }
        guard case .invalidField? = loadError(#"[1, 2]"#) else { return XCTFail("expected invalidField") }
    }

    func testInvalidConfigurationFile() throws {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("tok-config-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try TokenizerJSONBuilder().json().write(to: directory.appendingPathComponent("tokenizer.json"))
        try Data("{not json".utf8).write(to: directory.appendingPathComponent("tokenizer_config.json"))
        XCTAssertThrowsError(try Tokenizer(directory: directory)) { error in
            guard case .invalidJSON(let file, _, _)? = error as? TokenizerError else { return XCTFail("\(error)") }
            XCTAssertTrue(file.hasSuffix("tokenizer_config.json"))
        }
    }

    func testVocabularyLackingByteSymbolsIsRejected() throws {
        var builder = TokenizerJSONBuilder()
        builder.omittedBytes = [0x0A, 0x68]  // newline (Ċ) and 'h'
        XCTAssertThrowsError(try builder.tokenizer()) { error in
            guard case .invalidField(let file, let field, let reason)? = error as? TokenizerError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(file, "tokenizer.json")
            XCTAssertEqual(field, "model.vocab")
            XCTAssertTrue(reason.contains("2 of the 256 bytes"), reason)
            XCTAssertTrue(reason.contains("'Ċ' (byte 0x0A)"), reason)
            XCTAssertTrue(reason.contains("'h' (byte 0x68)"), reason)
        }
        let byteLevel = #"{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}"#
        let emptyVocabulary = #"{"pre_tokenizer": \#(byteLevel), "model": {"type": "BPE", "vocab": {}, "merges": []}}"#
        guard case .invalidField(_, "model.vocab", let reason)? = loadError(emptyVocabulary) else {
            return XCTFail("expected invalidField for an empty vocabulary")
        }
        XCTAssertTrue(reason.contains("256 of the 256 bytes"), reason)
    }

    func testDecodeValidatingRejectsIdsOutOfRange() throws {
        let tokenizer = try TokenizerJSONBuilder().tokenizer()
        XCTAssertEqual(tokenizer.vocabularySize, 256)
        XCTAssertEqual(try tokenizer.decode(validating: [0x68, 0x69]), "hi")
        for (ids, bad, index) in [([-1], -1, 0), ([0x68, 99_999], 99_999, 1), ([0x68, 256], 256, 1)] {
            XCTAssertThrowsError(try tokenizer.decode(validating: ids)) { error in
                XCTAssertEqual(error as? TokenizerError, .idOutOfRange(id: bad, index: index, vocabularySize: 256))
                XCTAssertEqual("\(error)", "token id \(bad) at index \(index) is out of range: token ids must be in 0..<256")
            }
        }
    }
}
