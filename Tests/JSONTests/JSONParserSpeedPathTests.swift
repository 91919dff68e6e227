import XCTest
@testable import JSON

/// The parser's fast paths (integers read without text, UTF-8 checked by a byte loop, one-probe key index)
/// must agree with the slow, obviously right ways.
final class JSONParserSpeedPathTests: XCTestCase {
    func testIntegersAroundTheFastPathLimitStayExact() throws {
        let cases = ["0", "-0", "7", "-42", "999999999999999999", "-999999999999999999", "1000000000000000000",
                     "9223372036854775807", "-9223372036854775808", "9223372036854775808", "-9223372036854775809",
                     "123456789012345678901234567890"]
        for text in cases {
            let number = try XCTUnwrap(JSONValue.parse(text).number, text)
            XCTAssertEqual(number, JSONNumber(integerText: text), text)
            XCTAssertEqual(number.integerText, text == "-0" ? "0" : text, text)
            XCTAssertEqual(number.int, Int(text), text)
        }
        XCTAssertEqual(try JSONValue.parse("[5, -0]"), [5, 0])
        XCTAssertEqual(JSONNumber(integerText: "0012"), JSONNumber(12))
        XCTAssertNotEqual(JSONNumber(integerText: "12"), JSONNumber(12.0))
    }

    func testUTF8ValidationAgreesWithTheStandardLibrary() {
        let edges: [[UInt8]] = [
            [0xC2, 0x80], [0xC1, 0xBF], [0xE0, 0xA0, 0x80], [0xE0, 0x9F, 0xBF], [0xED, 0x9F, 0xBF],
            [0xED, 0xA0, 0x80], [0xEF, 0xBF, 0xBF], [0xF0, 0x90, 0x80, 0x80], [0xF0, 0x8F, 0xBF, 0xBF],
            [0xF4, 0x8F, 0xBF, 0xBF], [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0x80], [0xE2, 0x82],
            [0xF0, 0x9F, 0x98], [0x41, 0xE4, 0xB8, 0xAD, 0x42], [0xFF], [0xC3, 0x28],
        ]
        var generator = SystemRandomNumberGenerator()
        var samples = edges
        let interesting: [UInt8] = [0x41, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC2, 0xDF, 0xE0, 0xE1, 0xED, 0xEF,
                                    0xF0, 0xF1, 0xF4, 0xF5, 0xC0]
        for _ in 0..<20_000 {
            let count = Int.random(in: 1...6, using: &generator)
            samples.append((0..<count).map { _ in interesting.randomElement(using: &generator) ?? 0 })
        }
        for bytes in samples {
            let expected = String(validating: bytes, as: UTF8.self) != nil
            XCTAssertEqual(bytes.withUnsafeBufferPointer(UTF8Validation.isValid), expected, "\(bytes)")
        }
    }

    func testKeysAreComparedByScalarsLikePython() throws {
        let object = try XCTUnwrap(JSONValue.parse(#"{"\u00e9": 1, "e\u0301": 2}"#).object)
        XCTAssertEqual(object.count, 2)
        XCTAssertEqual(object["\u{E9}"], 1)
        XCTAssertEqual(object["e\u{301}"], 2)
    }

    func testDuplicateKeysInALargeObjectKeepFirstPositionLastValue() throws {
        let members = (0..<40).map { #""k\#($0)": \#($0)"# } + [#""k3": "again""#, #""\u00e9": 0"#, #""é": 1"#]
        let value = try JSONValue.parse("{" + members.joined(separator: ", ") + "}")
        let object = try XCTUnwrap(value.object)
        XCTAssertEqual(object.count, 41)
        XCTAssertEqual(object.keys[3], "k3")
        XCTAssertEqual(object["k3"], "again")
        XCTAssertEqual(object["é"], 1)
        XCTAssertEqual(object.keys.last, "é")
        var copy = object
        copy["k39"] = nil
        copy["new"] = true
        XCTAssertEqual(copy.keys.suffix(2), ["é", "new"])
        XCTAssertNil(copy["k39"])
        XCTAssertEqual(object["k39"], 39)  // the copy's changes do not leak into the original
    }

    func testKeyIndexGrowsAndAgreesWithALinearSearch() {
        var object = JSONObject()
        var expected: [(String, Int)] = []
        for i in 0..<3000 {
            let key = i % 7 == 0 ? "ключ\(i / 3)" : "k\(i % 1000)"  // many repeats, some non-ASCII
            object[key] = JSONValue(i)
            if let at = expected.firstIndex(where: { $0.0 == key }) { expected[at].1 = i } else { expected.append((key, i)) }
            if i % 500 == 499 {  // removals rebuild the index
                let removed = expected.remove(at: expected.count / 2)
                XCTAssertEqual(object.removeValue(forKey: removed.0), JSONValue(removed.1))
            }
        }
        XCTAssertEqual(object.keys, expected.map(\.0))
        for (key, value) in expected { XCTAssertEqual(object[key], JSONValue(value), key) }
        XCTAssertNil(object["absent"])
        let reparsed = try? JSONValue.parse(JSONValue.object(object).serialized()).object
        XCTAssertEqual(reparsed?.keys, object.keys)
    }
}
