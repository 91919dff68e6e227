import JSON

/// Typed, validating access to the fields of a JSON request body. `null` counts as absent;
/// a present value of the wrong type or range throws a 400 naming the field.
struct FieldReader {
    let object: JSONObject

    init(_ body: JSONValue) throws {
        guard let object = body.object else { throw APIError.badRequest("The request body must be a JSON object.") }
        self.object = object
    }

    func value(_ name: String) -> JSONValue? {
        guard let value = object[name], !value.isNull else { return nil }
        return value
    }

    func bool(_ name: String) throws -> Bool? {
        guard let value = value(name) else { return nil }
        guard let b = value.bool else { throw APIError.invalidField(name, "a boolean") }
        return b
    }

    func string(_ name: String) throws -> String? {
        guard let value = value(name) else { return nil }
        guard let s = value.string else { throw APIError.invalidField(name, "a string") }
        return s
    }

    func int(_ name: String, in range: ClosedRange<Int>? = nil) throws -> Int? {
        guard let value = value(name) else { return nil }
        guard let n = value.int else { throw APIError.invalidField(name, "an integer") }
        if let range, !range.contains(n) {
            throw APIError.invalidField(name, "an integer between \(range.lowerBound) and \(range.upperBound)")
        }
        return n
    }

    func double(_ name: String, in range: ClosedRange<Double>? = nil) throws -> Double? {
        guard let value = value(name) else { return nil }
        guard let d = value.double, d.isFinite else { throw APIError.invalidField(name, "a number") }
        if let range, !range.contains(d) {
            throw APIError.invalidField(name, "a number between \(range.lowerBound) and \(range.upperBound)")
        }
        return d
    }

    func object(_ name: String) throws -> JSONObject? {
        guard let value = value(name) else { return nil }
        guard let o = value.object else { throw APIError.invalidField(name, "an object") }
        return o
    }

    func array(_ name: String) throws -> [JSONValue]? {
        guard let value = value(name) else { return nil }
        guard let a = value.array else { throw APIError.invalidField(name, "an array") }
        return a
    }
}
