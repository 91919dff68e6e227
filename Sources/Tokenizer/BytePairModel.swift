/// The BPE model over bytes: a pre-token's bytes start as single-byte symbols and the adjacent pair with the
/// lowest merge rank is merged (leftmost first on ties) until no rule applies — the order `tokenizers` uses.
/// With `ignoresMerges`, a pre-token that is itself a vocabulary entry maps straight to that id.
struct BytePairModel {
    /// Byte-level vocabulary entries keyed by the bytes they stand for.
    let vocabulary: ByteSequenceTable
    /// The id of each single byte, -1 where the vocabulary lacks it (such bytes are dropped, as `tokenizers`
    /// does with no `unk_token` and no byte fallback).
    let byteIDs: [Int32]
    let merges: MergeTable
    let ignoresMerges: Bool

    /// Reusable buffers for `appendIDs`.
    struct Workspace {
        var symbols: [Int32] = []
        var previous: [Int32] = []
        var next: [Int32] = []
        var heap: [UInt64] = []
    }

    func appendIDs(forWord word: UnsafeBufferPointer<UInt8>, to output: inout [Int], workspace: inout Workspace) {
        if ignoresMerges, word.count > 1, let id = vocabulary.value(for: word) {
            output.append(id)
            return
        }
        workspace.symbols.removeAll(keepingCapacity: true)
        for byte in word {
            let id = byteIDs[Int(byte)]
            if id >= 0 { workspace.symbols.append(id) }
        }
        let count = workspace.symbols.count
        if count <= 1 {
            if count == 1 { output.append(Int(workspace.symbols[0])) }
            return
        }
        mergeSymbols(count: count, workspace: &workspace)
        var index: Int32 = 0
        while index >= 0 {
            output.append(Int(workspace.symbols[Int(index)]))
            index = workspace.next[Int(index)]
        }
    }

    /// Merges the symbols of `workspace.symbols` in place; afterwards the live symbols form the linked list
    /// starting at 0 (`next`, -1 at the end).
    private func mergeSymbols(count: Int, workspace: inout Workspace) {
        workspace.previous.removeAll(keepingCapacity: true)
        workspace.next.removeAll(keepingCapacity: true)
        workspace.heap.removeAll(keepingCapacity: true)
        for index in 0..<count {
            workspace.previous.append(Int32(index - 1))
            workspace.next.append(index + 1 < count ? Int32(index + 1) : -1)
        }
        var heap = MinHeap(storage: workspace.heap)
        defer { workspace.heap = heap.storage }
        for index in 0..<(count - 1) {
            if let merge = merges.merge(workspace.symbols[index], workspace.symbols[index + 1]) {
                heap.push(Self.entry(rank: merge.rank, position: Int32(index)))
            }
        }
        while let entry = heap.popMin() {
            let rank = Int32(truncatingIfNeeded: entry >> 32)
            let position = Int(Int32(truncatingIfNeeded: entry & 0xFFFF_FFFF))
            let right = Int(workspace.next[position])
            // Stale entries: the left symbol was absorbed (its `previous` link was cut), it has no right
            // neighbour any more, or the pair changed since the entry was pushed.
            guard workspace.symbols[position] >= 0, right >= 0,
                  let merge = merges.merge(workspace.symbols[position], workspace.symbols[right]),
                  merge.rank == rank else { continue }
            workspace.symbols[position] = merge.mergedID
            workspace.symbols[right] = -1
            let afterRight = workspace.next[right]
            workspace.next[position] = afterRight
            if afterRight >= 0 { workspace.previous[Int(afterRight)] = Int32(position) }
            let left = workspace.previous[position]
            if left >= 0, let newMerge = merges.merge(workspace.symbols[Int(left)], merge.mergedID) {
                heap.push(Self.entry(rank: newMerge.rank, position: left))
            }
            if afterRight >= 0, let newMerge = merges.merge(merge.mergedID, workspace.symbols[Int(afterRight)]) {
                heap.push(Self.entry(rank: newMerge.rank, position: Int32(position)))
            }
        }
    }

    /// Heap order: lowest rank first, then leftmost position.
    @inline(__always)
    private static func entry(rank: Int32, position: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: rank)) << 32 | UInt64(UInt32(bitPattern: position))
    }
}

/// A binary min-heap of packed keys.
struct MinHeap {
    var storage: [UInt64]

    mutating func push(_ value: UInt64) {
        storage.append(value)
        var child = storage.count - 1
        while child > 0 {
            let parent = (child - 1) >> 1
            if storage[parent] <= storage[child] { break }
            storage.swapAt(parent, child)
            child = parent
        }
    }

    mutating func popMin() -> UInt64? {
        guard let last = storage.popLast() else { return nil }
        if storage.isEmpty { return last }
        let top = storage[0]
        storage[0] = last
        var parent = 0
        let count = storage.count
        while true {
            let left = 2 * parent + 1
            if left >= count { break }
            let right = left + 1
            let smaller = right < count && storage[right] < storage[left] ? right : left
            if storage[parent] <= storage[smaller] { break }
            storage.swapAt(parent, smaller)
            parent = smaller
        }
        return top
    }
}
