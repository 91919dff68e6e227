/// Where each key of a large `JSONObject` sits in its entry list: an open-addressing hash table of positions.
///
/// Keys are hashed and compared by their UTF-8 bytes (scalar-exact, as Python compares `str`), with the
/// standard library's seeded `Hasher`, so crafted keys cannot force collisions. A slot holds an entry position
/// and 32 bits of its key's hash: the slot number comes from those bits (so growing needs no rehashing), and
/// probes that meet another key are mostly rejected without reading it.
struct KeyIndex: Sendable {
    typealias Entries = [JSONObject.Element]

    /// `0` = empty; otherwise `(hash bits << 32) | (position + 1)`. The only stored property, so an optional
    /// index adds just one word to `JSONObject` (and so to every `JSONValue`).
    private var slots: [UInt64]
    private var mask: Int { slots.count - 1 }

    /// A table with room for `capacity` keys at a load factor of at most three quarters.
    init(capacity: Int) {
        var size = 16
        while 3 * size < 4 * capacity { size <<= 1 }
        slots = [UInt64](repeating: 0, count: size)
    }

    /// The position of `key` in `entries`, or `nil` if it is not there.
    func position(of key: String, in entries: Entries) -> Int? {
        let bits = Self.hashBits(key)
        var slot = Int(bits) & mask
        while true {
            let slotValue = slots[slot]
            if slotValue == 0 { return nil }
            if slotValue >> 32 == bits, let position = Self.match(slotValue, key, entries) { return position }
            slot = (slot + 1) & mask
        }
    }

    /// The position of `key` if it is indexed; otherwise indexes it at `newPosition` (where the caller puts it)
    /// and returns `newPosition`.
    mutating func positionInserting(_ key: String, at newPosition: Int, in entries: Entries) -> Int {
        positionInserting(key, hashBits: Self.hashBits(key), at: newPosition, in: entries)
    }

    /// `positionInserting(_:at:in:)` with the key's `hashBits` computed beforehand: a loop over many keys whose
    /// hashes are all ready keeps several table reads in flight instead of waiting for each cache miss in turn.
    mutating func positionInserting(_ key: String, hashBits bits: UInt64, at newPosition: Int,
                                    in entries: Entries) -> Int {
        // At most `newPosition` keys are indexed already (the new one goes at the end of the entries).
        if 4 * (newPosition + 1) > 3 * slots.count { grow() }
        var slot = Int(bits) & mask
        while true {
            let slotValue = slots[slot]
            if slotValue == 0 {
                slots[slot] = bits << 32 | UInt64(newPosition + 1)
                return newPosition
            }
            if slotValue >> 32 == bits, let position = Self.match(slotValue, key, entries) { return position }
            slot = (slot + 1) & mask
        }
    }

    private static func match(_ slotValue: UInt64, _ key: String, _ entries: Entries) -> Int? {
        let position = Int(truncatingIfNeeded: slotValue & 0xFFFF_FFFF) - 1
        return sameBytes(entries[position].key, key) ? position : nil
    }

    private mutating func grow() {
        let old = slots
        slots = [UInt64](repeating: 0, count: old.count * 2)
        for slotValue in old where slotValue != 0 {
            var slot = Int(slotValue >> 32) & mask
            while slots[slot] != 0 { slot = (slot + 1) & mask }
            slots[slot] = slotValue
        }
    }

    /// The 32 bits of the key's hash the table keeps.
    static func hashBits(_ key: String) -> UInt64 {
        var hasher = Hasher()
        var key = key
        key.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        return UInt64(truncatingIfNeeded: hasher.finalize()) & 0xFFFF_FFFF
    }

    /// Equal UTF-8 bytes (Swift's `==` would also call canonically equivalent strings equal).
    static func sameBytes(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        var a = a, b = b
        return a.withUTF8 { x in b.withUTF8 { y in x.elementsEqual(y) } }
    }
}
