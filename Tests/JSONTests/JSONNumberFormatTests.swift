import XCTest
@testable import JSON

/// Numbers must print as Python's `json.dumps(json.loads(text))` does (expected values taken from CPython 3.11).
final class JSONNumberFormatTests: XCTestCase {
    private let pythonCases: [(String, String)] = [
        ("1.0", "1.0"), ("0.50", "0.5"), ("1e3", "1000.0"), ("1E-7", "1e-07"), ("1e16", "1e+16"),
        ("1e15", "1000000000000000.0"), ("123456789012345678", "123456789012345678"),
        ("12345678901234567890", "12345678901234567890"), ("-0", "0"), ("-0.0", "-0.0"),
        ("0.0001", "0.0001"), ("0.00001", "1e-05"), ("1.5e-5", "1.5e-05"),
        ("3.141592653589793", "3.141592653589793"), ("1e22", "1e+22"),
        ("1.7976931348623157e308", "1.7976931348623157e+308"), ("5e-324", "5e-324"), ("2.5e-4", "0.00025"),
        ("123.456", "123.456"), ("1e-4", "0.0001"), ("9999999999999998", "9999999999999998"),
        ("1e400", "Infinity"), ("-1e400", "-Infinity"), ("100.0", "100.0"), ("0.1", "0.1"),
        ("-2.5E+3", "-2500.0"), ("1234567890123456.7", "1234567890123456.8"),
        ("12345678901234567.0", "1.2345678901234568e+16"), ("0.30000000000000004", "0.30000000000000004"),
    ]

    func testPythonDumpsOfParsedNumbers() throws {
        for (input, expected) in pythonCases {
            XCTAssertEqual(try JSONValue.parse(input).pythonDumps(), expected, "input \(input)")
        }
    }

    func testWireFormKeepsNonFiniteValid() throws {
        XCTAssertEqual(try JSONValue.parse("[1e400, 2.5, 7]").serialized(), "[null,2.5,7]")
    }

    func testIntegersKeepExactText() throws {
        let v = try JSONValue.parse("123456789012345678901234567890")
        XCTAssertEqual(v.number?.integerText, "123456789012345678901234567890")
        XCTAssertNil(v.int)
        XCTAssertEqual(try JSONValue.parse("-42").int, -42)
        XCTAssertTrue(try JSONValue.parse("42").number?.isInteger == true)
        XCTAssertFalse(try JSONValue.parse("42.0").number?.isInteger == true)
    }

    func testSwiftDoublesUsePythonRepr() {
        XCTAssertEqual(JSONValue(0.1 + 0.2).pythonDumps(), "0.30000000000000004")
        XCTAssertEqual(JSONValue(2.0).serialized(), "2.0")
        XCTAssertEqual(JSONValue(1e-7).serialized(), "1e-07")
        XCTAssertEqual(JSONValue(Double.nan).serialized(), "null")
        XCTAssertEqual(JSONValue(Double.nan).pythonDumps(), "NaN")
    }

    func testManyRandomDoublesRoundTrip() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let bits = generator.next() as UInt64
            let d = Double(bitPattern: bits)
            guard d.isFinite else { continue }
            let text = PythonFloatFormat.repr(d)
            XCTAssertEqual(Double(text), d, "repr \(text) does not round-trip")
        }
    }
}
