/// A JSON object that keeps its keys in insertion order (like a Python `dict`).
///
/// Setting an existing key replaces its value in place (the key keeps its position); setting `nil` removes it.
/// Keys are compared by their Unicode scalars, as Python compares `str` keys: `"é"` (U+00E9) and `"e\u{301}"`
/// are two keys, although Swift's `String ==` calls them equal. Equality of objects ignores key order, as
/// Python's `dict` equality does.
public struct JSONObject: Equatable, Sendable, Sequence, ExpressibleByDictionaryLiteral {
    public typealias Element = (key: String, value: JSONValue)

    private var entries: [Element] = []
    /// Position of each key in `entries`; built only for larger objects (linear search is faster for small ones).
    private var index: [ExactKey: Int]? = nil
    private static let indexThreshold = 12

    public init() {}

    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        for (k, v) in elements { self[k] = v }
    }

    public init<S: Sequence>(_ pairs: S) where S.Element == (String, JSONValue) {
        for (k, v) in pairs { self[k] = v }
    }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }
    public var keys: [String] { entries.map { $0.key } }
    public var values: [JSONValue] { entries.map { $0.value } }

    public func makeIterator() -> IndexingIterator<[Element]> { entries.makeIterator() }

    private func position(of key: String) -> Int? {
        if let index { return index[ExactKey(key)] }
        return entries.firstIndex { ExactKey.same($0.key, key) }
    }

    public func contains(_ key: String) -> Bool { position(of: key) != nil }

    public subscript(key: String) -> JSONValue? {
        get { position(of: key).map { entries[$0].value } }
        set {
            if let newValue {
                set(newValue, for: key)
            } else {
                removeValue(forKey: key)
            }
        }
    }

    /// Replaces the value of `key` in place, or appends the key; one hash-table probe for indexed objects.
    private mutating func set(_ value: JSONValue, for key: String) {
        guard var index else {
            if let i = entries.firstIndex(where: { ExactKey.same($0.key, key) }) {
                entries[i].value = value
            } else {
                entries.append((key, value))
                if entries.count > Self.indexThreshold { rebuildIndex() }
            }
            return
        }
        self.index = nil  // keep the table uniquely referenced while it is changed
        let end = entries.count
        let i = Self.insertingIfAbsent(&index[ExactKey(key), default: end])
        self.index = index
        if i == end {
            entries.append((key, value))
        } else {
            entries[i].value = value
        }
    }

    /// The value after `Dictionary`'s `default:` subscript has inserted it when it was absent.
    private static func insertingIfAbsent(_ position: inout Int) -> Int { position }

    @discardableResult
    public mutating func removeValue(forKey key: String) -> JSONValue? {
        guard let i = position(of: key) else { return nil }
        let old = entries.remove(at: i).value
        if index != nil { rebuildIndex() }
        return old
    }

    private mutating func rebuildIndex() {
        guard entries.count > Self.indexThreshold else { index = nil; return }
        var d = [ExactKey: Int](minimumCapacity: entries.count)
        for (i, e) in entries.enumerated() { d[ExactKey(e.key)] = i }
        index = d
    }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.count == rhs.count else { return false }
        for (k, v) in lhs.entries {
            guard let other = rhs[k], other == v else { return false }
        }
        return true
    }
}

/// A string key hashed and compared by its UTF-8 bytes (the same thing as comparing its Unicode scalars),
/// not by Swift's canonical equivalence; also much cheaper to hash for non-ASCII keys.
struct ExactKey: Hashable, Sendable {
    let string: String

    init(_ string: String) { self.string = string }

    static func == (lhs: ExactKey, rhs: ExactKey) -> Bool { same(lhs.string, rhs.string) }

    func hash(into hasher: inout Hasher) {
        var string = string
        string.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }

    static func same(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        var a = a, b = b
        return a.withUTF8 { x in b.withUTF8 { y in x.elementsEqual(y) } }
    }
}
