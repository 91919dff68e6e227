import Foundation
import SafeTensors

/// GPTQ checkpoints (quant_method "gptq", AutoGPTQ / GPTQModel): `qweight` I32 [in·bits/32, out] packed along the
/// input (element i of a word at bits (i mod 32/bits)·bits), `qzeros` I32 [groups, out·bits/32] packed along the
/// output, `scales` F16 [groups, out], `g_idx` I32 [in] (group of each input column; act-order with desc_act).
/// W[o, i] = (q − zero) · scale of group g_idx[i]. `checkpoint_format` "gptq" (v1, the default) stores zero − 1,
/// "gptq_v2" the zero itself. Act-order is executed by sorting the columns by g_idx at load (so each group is
/// contiguous) and gathering the activations once per call through the stored permutation.
final class GPTQFormat: QuantizedWeightFormat {
    private let bits: Int
    private let group: Int
    private let v1: Bool
    private let sym: Bool
    let summary: String

    init(config: [String: Any], file: String) throws {
        let q = QuantConfigReader(object: config, path: "quantization_config", file: file)
        bits = try q.bits("bits")
        guard let group = try q.int("group_size") else { throw q.fail("group_size", "is missing") }
        self.group = group
        let format = try q.string("checkpoint_format") ?? q.string("format") ?? "gptq"
        guard format == "gptq" || format == "gptq_v2" else {
            throw q.fail("checkpoint_format", "'\(format)' is not supported (gptq, gptq_v2)")
        }
        v1 = format == "gptq"
        sym = try q.bool("sym") ?? true
        let desc = try q.bool("desc_act") ?? false
        summary = "GPTQ int\(bits) group \(group)\(desc ? " act-order" : "")\(sym ? "" : " asym") (\(format))"
    }

    func matrix(module: String, rows: Int, cols: Int, loader: WeightLoader) throws -> WeightMatrix? {
        guard loader.has(module + ".qweight") else { return nil }
        let g = group == -1 ? cols : group
        try loader.checkGroup(g, cols: cols, module: module, source: "quantization_config.group_size")
        let perWord = 32 / bits, mask = UInt32((1 << bits) - 1)
        guard cols % perWord == 0, rows % perWord == 0 else {
            throw EngineError.badTensor(file: loader.listing, tensor: module + ".qweight", problem: "[\(rows), \(cols)] cannot be packed \(perWord) per int32")
        }
        let groups = cols / g
        let qweight = try loader.checkedView(module + ".qweight", dtypes: [.i32], shape: [cols / perWord, rows], what: "GPTQ codes [in·bits/32, out]")
        let qzeros = try loader.checkedView(module + ".qzeros", dtypes: [.i32], shape: [groups, rows / perWord], what: "GPTQ zero points [groups, out·bits/32]")
        let scales = try loader.checkedFloats(module + ".scales", shape: [groups, rows], what: "GPTQ scales [groups, out]")
        let storage = AffineStorage(rows: rows, cols: cols, bits: bits, groupSize: g, zeroed: false)
        var order: [Int32]?
        if loader.has(module + ".g_idx") {
            let gIdx = try loader.checkedView(module + ".g_idx", dtypes: [.i32, .i64], shape: [cols], what: "group index per input column")
            order = try actOrder(gIdx, cols: cols, group: g, file: loader.listing)
        }
        let zeroOffset: UInt32 = v1 ? 1 : 0
        for gi in 0..<groups {
            for o in 0..<rows {
                let stored = (qzeros.word(gi * (rows / perWord) + o / perWord) >> UInt32(bits * (o % perWord))) & mask
                storage.setGroup(o, gi, scale: scales[gi * rows + o], zero: Float(stored + zeroOffset))
            }
        }
        let codes = loader.codeScratch(rows: rows, cols: cols)
        for w in 0..<(cols / perWord) {     // qweight row w holds inputs w·perWord ..< (w+1)·perWord of every output
            for o in 0..<rows {
                var word = qweight.word(w * rows + o)
                let out = codes + o * cols + w * perWord
                for j in 0..<perWord { out[j] = UInt8(truncatingIfNeeded: word & mask); word >>= UInt32(bits) }
            }
        }
        if let order {
            permuteColumns(codes, rows: rows, cols: cols, order: order)
            storage.setPermutation(order)
        }
        storage.fill(codes: codes)
        return loader.finishAffine(module, storage)
    }
}
