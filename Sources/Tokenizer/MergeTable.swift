/// The BPE merge rules keyed by the ids of the two parts: `(left, right) → (rank, merged id)`.
/// Open addressing over packed 64-bit keys; lookups are the hot path of BPE.
struct MergeTable {
    struct Merge {
        let rank: Int32
        let mergedID: Int32
    }

    private var keys: [UInt64]
    private var values: [UInt64]
    private var mask: Int
    private(set) var count = 0
    private static let empty = UInt64.max

    init(minimumCapacity: Int) {
        var size = 16
        while size < minimumCapacity * 2 { size <<= 1 }
        keys = [UInt64](repeating: Self.empty, count: size)
        values = [UInt64](repeating: 0, count: size)
        mask = size - 1
    }

    @inline(__always)
    private static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    @inline(__always)
    private func slot(for key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 20) & mask
    }

    /// Adds a rule; a later rule for the same pair replaces the earlier one (as in `tokenizers`).
    mutating func set(_ merge: Merge, left: Int32, right: Int32) {
        if (count + 1) * 2 > keys.count { grow() }
        insert(key: Self.key(left, right), value: UInt64(UInt32(bitPattern: merge.rank)) << 32
               | UInt64(UInt32(bitPattern: merge.mergedID)))
    }

    private mutating func insert(key: UInt64, value: UInt64) {
        var index = slot(for: key)
        while keys[index] != Self.empty {
            if keys[index] == key { values[index] = value; return }
            index = (index + 1) & mask
        }
        keys[index] = key
        values[index] = value
        count += 1
    }

    @inline(__always)
    func merge(_ left: Int32, _ right: Int32) -> Merge? {
        let key = Self.key(left, right)
        return keys.withUnsafeBufferPointer { keys in
            var index = slot(for: key)
            while true {
                let found = keys[index]
                if found == key {
                    let value = values[index]
                    return Merge(rank: Int32(truncatingIfNeeded: value >> 32), mergedID: Int32(truncatingIfNeeded: value))
                }
                if found == Self.empty { return nil }
                index = (index + 1) & mask
            }
        }
    }

    private mutating func grow() {
        let oldKeys = keys, oldValues = values
        keys = [UInt64](repeating: Self.empty, count: oldKeys.count * 2)
        values = [UInt64](repeating: 0, count: oldKeys.count * 2)
        mask = keys.count - 1
        count = 0
        for index in oldKeys.indices where oldKeys[index] != Self.empty {
            insert(key: oldKeys[index], value: oldValues[index])
        }
    }
}
