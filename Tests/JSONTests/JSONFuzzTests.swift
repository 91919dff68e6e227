import TestSupport
import XCTest
@testable import JSON

/// Mutated JSON texts must either parse or throw `JSONParseError` — and what parses must survive a round trip.
final class JSONFuzzTests: XCTestCase {
    func testMutatedDocumentsNeverCrashAndRoundTrip() {
        let seed = #"{"a": [1, -2.5e3, true, null, "x\"\u00e9\ud83d\ude00"], "b": {"c": {}, "d": []}, "e": "中文"}"#
        let alphabet = Array(#"{}[]:,"\u0123456789eE+-.truefalsn \#n\#t"#.utf8) + [0xC3, 0xA9, 0xFF, 0x00]
        var rng = SplitMix64(state: 42)
        var parsed = 0
        for _ in 0..<5000 {
            var bytes = Array(seed.utf8)
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[i] = alphabet.randomElement(using: &rng) ?? 0x20
                case 1: bytes.remove(at: i)
                default: bytes.insert(alphabet.randomElement(using: &rng) ?? 0x20, at: i)
                }
                if bytes.isEmpty { bytes = [0x30] }
            }
            do {
                let value = try JSONValue.parse(bytes)
                parsed += 1
                XCTAssertEqual(try JSONValue.parse(value.serialized()), value)
                XCTAssertEqual(try JSONValue.parse(value.pythonDumps()).serialized(), value.serialized())
            } catch let error as JSONParseError {
                XCTAssertTrue((0...bytes.count).contains(error.offset), "\(error)")
            } catch {
                XCTFail("unexpected error \(error)")
            }
        }
        XCTAssertGreaterThan(parsed, 0)
    }
}
