import Foundation
import JSON
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
    /// Read with the project's JSON parser: Foundation's drops a U+FEFF at the start of a string value.
    static func lines(_ name: String) throws -> [JSONValue] {
        let data = try Data(contentsOf: directory.appendingPathComponent(name))
        return try data.split(separator: UInt8(ascii: "\n")).map { try JSONValue.parse(Data($0)) }
    }
}

extension JSONValue {
    func ids(_ key: String) -> [Int] { self[key]?.array?.compactMap(\.int) ?? [] }
    func string(_ key: String) -> String { self[key]?.string ?? "" }
    func strings(_ key: String) -> [String]? { self[key]?.array?.compactMap(\.string) }
}
