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
    private var index: KeyIndex? = nil
    private static let indexThreshold = 12

    public init() {}

    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        for (k, v) in elements { self[k] = v }
    }

    public init<S: Sequence>(_ pairs: S) where S.Element == (String, JSONValue) {
        for (k, v) in pairs { self[k] = v }
    }

    /// An object from members in the order they were written; a repeated key keeps its first position and takes
    /// its last value (as `self[key] = value` one by one would, with the index sized once).
    init(members: [Element]) {
        guard members.count > Self.indexThreshold else {
            for (key, value) in members { set(value, for: key) }
            return
        }
        var index = KeyIndex(capacity: members.count)
        entries = members
        var hasRepeats = false
        let hashes = members.map { KeyIndex.hashBits($0.key) }
        for (position, member) in members.enumerated() {
            let first = index.positionInserting(member.key, hashBits: hashes[position], at: position, in: members)
            if first != position {
                entries[first].value = member.value
                hasRepeats = true
            }
        }
        if hasRepeats {
            entries = entries.enumerated().filter { index.position(of: $0.element.key, in: members) == $0.offset }
                .map(\.element)
            rebuildIndex()
        } else {
            self.index = index
        }
    }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }
    public var keys: [String] { entries.map { $0.key } }
    public var values: [JSONValue] { entries.map { $0.value } }

    public func makeIterator() -> IndexingIterator<[Element]> { entries.makeIterator() }

    private func position(of key: String) -> Int? {
        if let index { return index.position(of: key, in: entries) }
        return entries.firstIndex { KeyIndex.sameBytes($0.key, key) }
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

    /// Replaces the value of `key` in place, or appends the key.
    private mutating func set(_ value: JSONValue, for key: String) {
        guard var index else {
            if let i = entries.firstIndex(where: { KeyIndex.sameBytes($0.key, key) }) {
                entries[i].value = value
            } else {
                entries.append((key, value))
                if entries.count > Self.indexThreshold { rebuildIndex() }
            }
            return
        }
        self.index = nil  // keep the table uniquely referenced while it is changed
        let end = entries.count
        let i = index.positionInserting(key, at: end, in: entries)
        self.index = index
        if i == end {
            entries.append((key, value))
        } else {
            entries[i].value = value
        }
    }

    @discardableResult
    public mutating func removeValue(forKey key: String) -> JSONValue? {
        guard let i = position(of: key) else { return nil }
        let old = entries.remove(at: i).value
        if index != nil { rebuildIndex() }
        return old
    }

    private mutating func rebuildIndex() {
        guard entries.count > Self.indexThreshold else { index = nil; return }
        var table = KeyIndex(capacity: entries.count)
        for (i, e) in entries.enumerated() { _ = table.positionInserting(e.key, at: i, in: entries) }
        index = table
    }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.count == rhs.count else { return false }
        for (k, v) in lhs.entries {
            guard let other = rhs[k], other == v else { return false }
        }
        return true
    }
}
