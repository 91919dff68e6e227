/// BPE-encodes the pre-tokens of one `encode` call, remembering the ids of words it has already seen
/// (text repeats its words, and BPE of a word is the expensive step).
struct WordEncoder {
    let model: BytePairModel
    var output: [Int] = []
    private var cache = ByteSequenceTable(minimumCapacity: 1024)
    private var cachedIDs: [Int] = []
    /// Where each cached word's ids are in `cachedIDs`, indexed by the cache's value.
    private var cachedRanges: [Range<Int>] = []
    private var workspace = BytePairModel.Workspace()
    private static let maximumCachedWordLength = 64
    private static let maximumCacheEntries = 200_000

    init(model: BytePairModel) {
        self.model = model
    }

    mutating func encode(_ word: UnsafeBufferPointer<UInt8>) {
        guard word.count > 1, word.count <= Self.maximumCachedWordLength else {
            model.appendIDs(forWord: word, to: &output, workspace: &workspace)
            return
        }
        if let entry = cache.value(for: word) {
            output.append(contentsOf: cachedIDs[cachedRanges[entry]])
            return
        }
        let first = output.count
        model.appendIDs(forWord: word, to: &output, workspace: &workspace)
        if cache.count >= Self.maximumCacheEntries {
            cache.removeAll()
            cachedIDs.removeAll(keepingCapacity: true)
            cachedRanges.removeAll(keepingCapacity: true)
        }
        let start = cachedIDs.count
        cachedIDs.append(contentsOf: output[first...])
        cachedRanges.append(start..<cachedIDs.count)
        cache.set(cachedRanges.count - 1, for: word)
    }
}
