import XCTest
@testable import JSON

final class JSONWriterTests: XCTestCase {
    func testPythonDumpsEscaping() {
        let v: JSONValue = ["s": "a/b<c>&'d\"e\\f\ng\th\r\u{8}\u{c}\u{1}\u{1f}\u{7f}é中😀"]
        // Python: json.dumps({"s": ...}, ensure_ascii=False)
        XCTAssertEqual(v.pythonDumps(), "{\"s\": \"a/b<c>&'d\\\"e\\\\f\\ng\\th\\r\\b\\f\\u0001\\u001f\u{7f}é中😀\"}")
    }

    func testCompactWriter() {
        let v: JSONValue = ["a": 1, "b": [1.5, "x", nil, false], "c": [:]]
        XCTAssertEqual(v.serialized(), #"{"a":1,"b":[1.5,"x",null,false],"c":{}}"#)
        XCTAssertEqual(v.pythonDumps(), #"{"a": 1, "b": [1.5, "x", null, false], "c": {}}"#)
    }

    func testObjectMutationKeepsOrder() {
        var o = JSONObject()
        o["b"] = 1
        o["a"] = 2
        o["b"] = 3
        XCTAssertEqual(o.keys, ["b", "a"])
        o["b"] = nil
        XCTAssertEqual(o.keys, ["a"])
        var big = JSONObject()
        for i in 0..<40 { big["k\(i)"] = .init(i) }
        big["k3"] = nil
        XCTAssertEqual(big["k39"]?.int, 39)
        XCTAssertNil(big["k3"])
        XCTAssertEqual(big.count, 39)
        XCTAssertEqual(big.keys.first, "k0")
    }

    func testValueSubscriptSetterAndAccessors() {
        var v: JSONValue = [:]
        v["x"] = "y"
        v["n"] = 2
        XCTAssertEqual(v["x"]?.string, "y")
        XCTAssertEqual(v["n"]?.int, 2)
        XCTAssertNil(v["n"]?.string)
        XCTAssertEqual(JSONValue(Optional<Int>.none), .null)
        XCTAssertEqual(JSONValue(Optional("s")), "s")
    }

    func testQuoted() {
        XCTAssertEqual(JSONValue.quoted("a\"b\n"), #""a\"b\n""#)
    }
}
