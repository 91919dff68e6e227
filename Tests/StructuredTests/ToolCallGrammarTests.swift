import JSON
import XCTest
@testable import Structured

/// Strict tool calls in GLM's format: keys from `properties`, string values as raw text, others as JSON.
final class ToolCallGrammarTests: XCTestCase {
    private func text(_ parts: [Any]) -> [UInt8] {
        parts.flatMap { part -> [UInt8] in
            if let marker = part as? JSONSchemaGrammar.ToolCallMarker { return marker.bytes }
            return Array((part as! String).utf8)
        }
    }

    func testConstrainedArgumentsFollowTheSchema() throws {
        typealias M = JSONSchemaGrammar.ToolCallMarker
        let weather = JSONSchemaGrammar.Tool(
            name: "get_weather",
            parameters: ["type": "object",
                         "properties": ["city": ["type": "string", "maxLength": 10], "days": ["type": "integer"],
                                        "unit": ["enum": ["C", "F"]]],
                         "required": ["city", "days"], "additionalProperties": false],
            constrained: true)
        let free = JSONSchemaGrammar.Tool(name: "note", parameters: nil, constrained: false)
        let grammar = try JSONSchemaGrammar.toolCall(tools: [weather, free])
        func accepts(_ parts: [Any]) -> Bool {
            var matcher = GrammarMatcher(grammar: grammar)
            return matcher.accept(text(parts)) && matcher.isComplete
        }
        XCTAssertTrue(accepts(["get_weather\n", M.argKeyOpen, "city", M.argKeyClose, "\n", M.argValueOpen, "Paris \"x\"",
                               M.argValueClose, "\n", M.argKeyOpen, "days", M.argKeyClose, "\n", M.argValueOpen, "2",
                               M.argValueClose, "\n", M.callClose]))
        XCTAssertTrue(accepts(["get_weather", M.argKeyOpen, "city", M.argKeyClose, M.argValueOpen, "Rome",
                               M.argValueClose, M.argKeyOpen, "days", M.argKeyClose, M.argValueOpen, "-1",
                               M.argValueClose, M.argKeyOpen, "unit", M.argKeyClose, M.argValueOpen, "F",
                               M.argValueClose, M.callClose]))
        // Missing `days`, a wrong key, a non-integer, a too-long city, an unknown enum value, an unknown tool.
        XCTAssertFalse(accepts(["get_weather\n", M.argKeyOpen, "city", M.argKeyClose, M.argValueOpen, "Rome",
                                M.argValueClose, M.callClose]))
        XCTAssertFalse(accepts(["get_weather\n", M.argKeyOpen, "town", M.argKeyClose, M.argValueOpen, "Rome",
                                M.argValueClose, M.callClose]))
        XCTAssertFalse(accepts(["get_weather\n", M.argKeyOpen, "city", M.argKeyClose, M.argValueOpen, "Rome",
                                M.argValueClose, M.argKeyOpen, "days", M.argKeyClose, M.argValueOpen, "two",
                                M.argValueClose, M.callClose]))
        XCTAssertFalse(accepts(["get_weather\n", M.argKeyOpen, "city", M.argKeyClose, M.argValueOpen, "Constantinople",
                                M.argValueClose, M.argKeyOpen, "days", M.argKeyClose, M.argValueOpen, "1",
                                M.argValueClose, M.callClose]))
        XCTAssertFalse(accepts(["lookup\n", M.callClose]))
        // A tool that is not strict takes any arguments.
        XCTAssertTrue(accepts(["note\n", M.argKeyOpen, "anything", M.argKeyClose, M.argValueOpen, "at all\n",
                               M.argValueClose, M.callClose]))
    }

    func testUnsupportedParameterKeywordsAreRefusedWithTheirPath() {
        let tool = JSONSchemaGrammar.Tool(name: "f", parameters: ["type": "object",
                                                                  "properties": ["n": ["type": "integer", "maximum": 3]]],
                                          constrained: true)
        XCTAssertThrowsError(try JSONSchemaGrammar.toolCall(tools: [tool])) { error in
            XCTAssertEqual((error as? SchemaError)?.keyword, "maximum")
            XCTAssertEqual((error as? SchemaError)?.path, "#/properties/n")
        }
    }
}
