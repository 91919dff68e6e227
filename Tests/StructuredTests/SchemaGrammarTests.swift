import JSON
import TestSupport
import XCTest
@testable import Structured

/// The compiled grammars accept the texts their schemas allow and refuse the others; unsupported keywords are
/// refused with their path.
final class SchemaGrammarTests: XCTestCase {
    private func accepts(_ grammar: Grammar, _ text: String) -> Bool {
        var matcher = GrammarMatcher(grammar: grammar)
        return matcher.accept(Array(text.utf8)) && matcher.isComplete
    }

    private func check(_ schema: JSONValue, valid: [String], invalid: [String], file: StaticString = #filePath,
                       line: UInt = #line) throws {
        let grammar = try JSONSchemaGrammar.compile(schema: schema)
        let validator = SchemaValidator(root: schema)
        for text in valid {
            XCTAssertTrue(accepts(grammar, text), "should accept \(text)", file: file, line: line)
            XCTAssertTrue(validator.isValid(try JSONValue.parse(text)), "oracle disagrees on \(text)", file: file, line: line)
        }
        for text in invalid { XCTAssertFalse(accepts(grammar, text), "should refuse \(text)", file: file, line: line) }
    }

    func testPrimitiveTypes() throws {
        try check(["type": "integer"], valid: ["0", "-12", " 7 "], invalid: ["01", "1.5", "-", "\"1\"", ""])
        try check(["type": "number"], valid: ["0", "-1.25e+3", "3E7", "0.5"], invalid: ["1.", ".5", "1e", "+1"])
        try check(["type": "boolean"], valid: ["true", "false"], invalid: ["True", "null"])
        try check(["type": ["string", "null"]], valid: ["null", "\"x\""], invalid: ["1"])
        try check(["type": "string"], valid: ["\"\"", "\"a\\\"b\\\\c\\u00e9\\n\"", "\"é漢😀\""],
                  invalid: ["\"a", "\"\u{1}\"", "\"\\x\"", "'a'"])
    }

    func testStringBoundsPatternsAndFormats() throws {
        try check(["type": "string", "minLength": 2, "maxLength": 3], valid: ["\"ab\"", "\"é漢😀\"", "\"a\\nb\""],
                  invalid: ["\"a\"", "\"abcd\""])
        try check(["type": "string", "pattern": "^[a-c]+-\\d{2}$"], valid: ["\"ab-12\""], invalid: ["\"ab-1\"", "\"d-12\""])
        try check(["type": "string", "pattern": "x(y|z)"], valid: ["\"axzb\"", "\"xy\""], invalid: ["\"xa\""])
        try check(["type": "string", "format": "date"], valid: ["\"2024-02-28\"", "\"0001-12-31\""],
                  invalid: ["\"2024-13-01\"", "\"2024-02-30\"", "\"2024-04-31\"", "\"0000-01-01\""])
        try check(["type": "string", "format": "uuid"], valid: ["\"123e4567-e89b-12d3-a456-426614174000\""],
                  invalid: ["\"123e4567\""])
        try check(["type": "string", "format": "date-time"], valid: ["\"2024-01-02T03:04:05Z\"", "\"2024-01-02T03:04:05.5+01:00\""],
                  invalid: ["\"2024-01-02 03:04:05\""])
        try check(["type": "string", "format": "email"], valid: ["\"a.b@example.com\""], invalid: ["\"a@b\""])
    }

    func testObjects() throws {
        let schema: JSONValue = ["type": "object",
                                 "properties": ["name": ["type": "string"], "age": ["type": "integer"]],
                                 "required": ["name"], "additionalProperties": false]
        try check(schema, valid: ["{\"name\":\"a\"}", "{ \"name\" : \"a\" , \"age\" : 3 }"],
                  invalid: ["{}", "{\"age\":3}", "{\"name\":\"a\",\"x\":1}", "{\"name\":\"a\",}"])
        let open: JSONValue = ["type": "object", "properties": ["a": ["type": "integer"]],
                               "additionalProperties": ["type": "string"]]
        try check(open, valid: ["{}", "{\"a\":1,\"b\":\"x\"}", "{\"ab\":\"x\"}", "{\"é\":\"x\"}"],
                  invalid: ["{\"b\":1}", "{\"a\":\"x\"}", "{\"a\":1,\"a\":\"x\"}"])
        try check(["type": "object"], valid: ["{}", "{\"x\":[1,{\"y\":null}]}"], invalid: ["[]", "{\"x\"}"])
    }

    func testArraysEnumsConstAndCombinators() throws {
        try check(["type": "array", "items": ["type": "integer"], "minItems": 1, "maxItems": 2],
                  valid: ["[1]", "[ 1 , 2 ]"], invalid: ["[]", "[1,2,3]", "[1,]", "[\"a\"]"])
        try check(["prefixItems": [["type": "string"], ["type": "boolean"]], "items": false],
                  valid: ["[]", "[\"a\"]", "[\"a\",true]"], invalid: ["[\"a\",true,1]", "[true]"])
        try check(["enum": ["a", 1, nil, ["k": [true]]]], valid: ["\"a\"", "1", "null", "{\"k\":[true]}"],
                  invalid: ["\"b\"", "2"])
        try check(["const": "fixed"], valid: ["\"fixed\""], invalid: ["\"other\""])
        try check(["anyOf": [["type": "integer"], ["type": "string", "maxLength": 1]]], valid: ["5", "\"x\""],
                  invalid: ["\"xy\"", "true"])
    }

    func testRecursiveReferences() throws {
        let tree: JSONValue = ["$ref": "#/$defs/node",
                               "$defs": ["node": ["type": "object",
                                                  "properties": ["v": ["type": "integer"],
                                                                 "kids": ["type": "array", "items": ["$ref": "#/$defs/node"]]],
                                                  "required": ["v"], "additionalProperties": false]]]
        try check(tree, valid: ["{\"v\":1}", "{\"v\":1,\"kids\":[{\"v\":2,\"kids\":[{\"v\":3}]}]}"],
                  invalid: ["{\"v\":1,\"kids\":[{}]}"])
        let list: JSONValue = ["type": "object", "properties": ["next": ["anyOf": [["$ref": "#"], ["type": "null"]]]],
                               "required": ["next"], "additionalProperties": false]
        try check(list, valid: ["{\"next\":{\"next\":null}}"], invalid: ["{\"next\":{}}"])
    }

    func testUnsupportedKeywordsNameTheKeywordAndPath() {
        let cases: [(JSONValue, String, String)] = [
            (["type": "integer", "minimum": 3], "minimum", "#"),
            (["type": "object", "properties": ["a": ["type": "string", "contentEncoding": "base64"]]],
             "contentEncoding", "#/properties/a"),
            (["type": "array", "items": ["allOf": [true]]], "allOf", "#/items"),
            (["type": "string", "format": "ipv4"], "format", "#"),
            (["type": "string", "pattern": "(?=a)"], "pattern", "#"),
            (["$ref": "https://example.com/s.json"], "$ref", "#"),
            (["$defs": ["a": ["$ref": "#/$defs/a"]], "$ref": "#/$defs/a"], "$ref", "#"),
            (["type": "string", "pattern": "(a{1000}){1000}"], "pattern", "#"),
        ]
        for (schema, keyword, path) in cases {
            XCTAssertThrowsError(try JSONSchemaGrammar.compile(schema: schema), "\(schema)") { error in
                guard let error = error as? SchemaError else { return XCTFail("\(error)") }
                XCTAssertEqual(error.keyword, keyword, "\(schema)")
                XCTAssertEqual(error.path, path, "\(schema)")
            }
        }
    }

    func testDeepSchemasAreRefused() {
        var schema: JSONValue = ["type": "integer"]
        for _ in 0..<100 { schema = ["type": "array", "items": schema] }
        XCTAssertThrowsError(try JSONSchemaGrammar.compile(schema: schema)) { error in
            XCTAssertTrue("\(error)".contains("deeper"), "\(error)")
        }
    }

    func testWhitespaceIsASpaceOrALineBreakWithIndentation() throws {
        let grammar = JSONSchemaGrammar.anyObject()
        let indent = String(repeating: " ", count: JSONSchemaGrammar.maximumIndentation)
        XCTAssertTrue(accepts(grammar, "{\n" + indent + "\"a\": [1, 2],\r\n\t\"b\":{ }\n}"))
        XCTAssertFalse(accepts(grammar, "{\n" + indent + " \"a\": 1}"))
        XCTAssertFalse(accepts(grammar, "{  \"a\": 1}"))
        XCTAssertFalse(accepts(grammar, "{ \n\"a\": 1}"))
        var matcher = GrammarMatcher(grammar: grammar)
        XCTAssertTrue(matcher.accept(Array("{}\n".utf8) + Array(indent.utf8)))
        XCTAssertTrue(matcher.isComplete)
        XCTAssertTrue(matcher.acceptsNoMoreBytes)
    }
}
