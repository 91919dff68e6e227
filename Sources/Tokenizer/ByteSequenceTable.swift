import Foundation

/// A hash table from byte sequences to 32-bit values, looked up with a buffer slice (no allocation per
/// lookup). Keys are copied into one contiguous arena; 16-byte slots use open addressing with linear probing.
struct ByteSequenceTable {
    private struct Slot {
        var hash: UInt32 = 0
        var keyStart: UInt32 = 0
        var keyLength: Int32 = -1  // -1: empty
        var value: Int32 = 0
    }

    private var slots: [Slot]
    private var mask: Int
    private var keys: [UInt8] = []
    private(set) var count = 0

    init(minimumCapacity: Int = 16) {
        var size = 16
        while size < minimumCapacity * 2 { size <<= 1 }
        slots = [Slot](repeating: Slot(), count: size)
        mask = size - 1
    }

    static func hash(_ key: UnsafeBufferPointer<UInt8>) -> UInt32 {
        // FNV-1a, then a final mix so that linear probing sees well spread low bits.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        hash ^= hash >> 29
        hash = hash &* 0xBF58_476D_1CE4_E5B9
        return UInt32(truncatingIfNeeded: hash ^ (hash >> 32))
    }

    func value(for key: UnsafeBufferPointer<UInt8>) -> Int? {
        let hash = Self.hash(key)
        return slots.withUnsafeBufferPointer { slots in
            keys.withUnsafeBufferPointer { keys in
                var index = Int(truncatingIfNeeded: hash) & mask
                while true {
                    let slot = slots[index]
                    if slot.keyLength < 0 { return nil }
                    if slot.hash == hash, Int(slot.keyLength) == key.count,
                       key.count == 0 || memcmp(keys.baseAddress! + Int(slot.keyStart), key.baseAddress!, key.count) == 0 {
                        return Int(slot.value)
                    }
                    index = (index + 1) & mask
                }
            }
        }
    }

    func value(for key: [UInt8]) -> Int? {
        key.withUnsafeBufferPointer { value(for: $0) }
    }

    /// Inserts or replaces the value for `key`; the value must fit 32 bits.
    mutating func set(_ value: Int, for key: UnsafeBufferPointer<UInt8>) {
        let value = Int32(truncatingIfNeeded: value)
        if (count + 1) * 2 > slots.count { grow() }
        let hash = Self.hash(key)
        var index = Int(truncatingIfNeeded: hash) & mask
        while slots[index].keyLength >= 0 {
            let slot = slots[index]
            if slot.hash == hash, Int(slot.keyLength) == key.count, keysEqual(slot, key) {
                slots[index].value = value
                return
            }
            index = (index + 1) & mask
        }
        let start = keys.count
        keys.append(contentsOf: key)
        slots[index] = Slot(hash: hash, keyStart: UInt32(truncatingIfNeeded: start), keyLength: Int32(key.count),
                            value: value)
        count += 1
    }

    mutating func set(_ value: Int, for key: [UInt8]) {
        key.withUnsafeBufferPointer { set(value, for: $0) }
    }

    /// Forgets every key (keeps the allocated storage).
    mutating func removeAll() {
        for index in slots.indices { slots[index].keyLength = -1 }
        keys.removeAll(keepingCapacity: true)
        count = 0
    }

    private func keysEqual(_ slot: Slot, _ key: UnsafeBufferPointer<UInt8>) -> Bool {
        if key.isEmpty { return true }
        return keys.withUnsafeBufferPointer { keys in
            memcmp(keys.baseAddress! + Int(slot.keyStart), key.baseAddress!, key.count) == 0
        }
    }

    private mutating func grow() {
        let old = slots
        slots = [Slot](repeating: Slot(), count: old.count * 2)
        mask = slots.count - 1
        for slot in old where slot.keyLength >= 0 {
            var index = Int(truncatingIfNeeded: slot.hash) & mask
            while slots[index].keyLength >= 0 { index = (index + 1) & mask }
            slots[index] = slot
        }
    }
}
