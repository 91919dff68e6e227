import Foundation
import XCTest
@testable import Tokenizer

/// Access to the shared fixtures in `Tests/Fixtures`, found relative to this file.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    static let tokenizerDirectory = directory.appendingPathComponent("tokenizer")

    /// The fixture tokenizer, loaded once for all tests.
    static let tokenizer: Result<Tokenizer, Error> = Result { try Tokenizer(directory: tokenizerDirectory) }

    static func loadTokenizer() throws -> Tokenizer {
        try tokenizer.get()
    }

    /// The objects of a `.jsonl` fixture file.
    /// Read with the module's own JSON parser: Foundation's drops a U+FEFF at the start of a string value.
    static func lines(_ name: String) throws -> [JSONNode] {
        let data = try Data(contentsOf: directory.appendingPathComponent(name))
        return try data.split(separator: UInt8(ascii: "\n")).map { try JSONNodeParser.parse([UInt8]($0)) }
    }
}

extension JSONNode {
    func ids(_ key: String) -> [Int] { self[key]?.arrayValue?.compactMap(\.intValue) ?? [] }
    func string(_ key: String) -> String { self[key]?.stringValue ?? "" }
    func strings(_ key: String) -> [String]? { self[key]?.arrayValue?.compactMap(\.stringValue) }
}
