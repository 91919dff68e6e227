import Foundation
import SafeTensors

/// AutoAWQ checkpoints (quant_method "awq", version "gemm"), 4-bit with zero points:
/// `qweight` I32 [in, out/8], `qzeros` I32 [in/group, out/8], `scales` F16 [in/group, out]. Eight output columns
/// share a word in AWQ's interleaved order: nibble i of word j holds output j·8 + [0, 2, 4, 6, 1, 3, 5, 7][i].
/// W[o, i] = (q − zero) · scale, zero and scale of group i / group_size. Repacked (transposed) at load.
final class AutoAWQFormat: QuantizedWeightFormat {
    private let group: Int
    private let skip: [String]
    let summary: String
    static let order = [0, 2, 4, 6, 1, 3, 5, 7]

    init(config: [String: Any], file: String) throws {
        let q = QuantConfigReader(object: config, path: "quantization_config", file: file)
        let bits = try q.bits("bits")
        guard bits == 4 else { throw q.fail("bits", "is \(bits); AutoAWQ GEMM checkpoints are 4-bit") }
        let version = (try q.string("version") ?? "gemm").lowercased()
        guard version == "gemm" else { throw q.fail("version", "'\(version)' is not supported (only the GEMM layout)") }
        guard try q.bool("zero_point") ?? true else { throw q.fail("zero_point", "is false; only AWQ with zero points is supported") }
        guard let group = try q.int("group_size") else { throw q.fail("group_size", "is missing") }
        self.group = group
        skip = (config["modules_to_not_convert"] as? [String]) ?? []
        summary = "AutoAWQ GEMM int4 group \(group)"
    }

    func matrix(module: String, rows: Int, cols: Int, loader: WeightLoader) throws -> WeightMatrix? {
        if skip.contains(where: { module.contains($0) }) || !loader.has(module + ".qweight") { return nil }
        let g = group == -1 ? cols : group
        try loader.checkGroup(g, cols: cols, module: module, source: "quantization_config.group_size")
        guard rows % 8 == 0 else {
            throw EngineError.badTensor(file: loader.listing, tensor: module + ".qweight", problem: "\(rows) outputs cannot be packed 8 per int32")
        }
        let groups = cols / g, words = rows / 8
        let qweight = try loader.checkedView(module + ".qweight", dtypes: [.i32], shape: [cols, words], what: "AWQ codes [in, out/8]")
        let qzeros = try loader.checkedView(module + ".qzeros", dtypes: [.i32], shape: [groups, words], what: "AWQ zero points [in/group, out/8]")
        let scales = try loader.checkedFloats(module + ".scales", shape: [groups, rows], what: "AWQ scales [in/group, out]")
        let storage = AffineStorage(rows: rows, cols: cols, bits: 4, groupSize: g, zeroed: false)
        for gi in 0..<groups {
            for w in 0..<words {
                let z = qzeros.word(gi * words + w)
                for (nibble, k) in Self.order.enumerated() {
                    let o = w * 8 + k
                    storage.setGroup(o, gi, scale: scales[gi * rows + o], zero: Float((z >> UInt32(4 * nibble)) & 15))
                }
            }
        }
        let codes = loader.codeScratch(rows: rows, cols: cols)
        for i in 0..<cols {
            for w in 0..<words {
                let word = qweight.word(i * words + w)
                for (nibble, k) in Self.order.enumerated() {
                    codes[(w * 8 + k) * cols + i] = UInt8(truncatingIfNeeded: (word >> UInt32(4 * nibble)) & 15)
                }
            }
        }
        storage.fill(codes: codes)
        return loader.finishAffine(module, storage)
    }
}
