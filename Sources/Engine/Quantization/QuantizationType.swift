import CKernels

/// GLMServe's quantised weight types (`--quantize q8|q4`, `glmserve quantize --type`). The block formats are
/// documented in `Sources/CKernels/include/quant.h`; this type is the recipe: which matrix gets which format.
///
/// - `q8`: every weight matrix 8-bit (`ck_block_q8`, 8.5 bits per weight).
/// - `q4`: every weight matrix 4-bit (`ck_block_q4`, 4.5 bits per weight) except the token embeddings and the
///   output heads (`embed_tokens`, `lm_head`, the MTP layer's `embed_tokens` and `shared_head.head`), which stay
///   8-bit. On GLM-Tiny those are the only matrices whose 4-bit rounding costs measurable perplexity (+0.6 %
///   with them, within noise without them; docs/QUANTIZATION.md has the table); attention and the shared expert
///   are read for every token, so keeping them 4-bit matters for decode speed.
///
/// Both keep the router (`mlp.gate.weight`) in its checkpoint dtype with f32-exact products; norms, biases and
/// the router's correction bias are f32 vectors as always.
public enum QuantizationType: String, Sendable, CaseIterable {
    case q8, q4

    /// The block dtype for the matrix `name`, or nil to keep it as stored (the router).
    func dtype(forMatrix name: String) -> ck_dtype? {
        if name.hasSuffix(".mlp.gate.weight") { return nil }
        switch self {
        case .q8: return CK_Q8
        case .q4:
            let eightBit = name.hasSuffix("embed_tokens.weight") || name == "lm_head.weight"
                || name.hasSuffix("shared_head.head.weight")
            return eightBit ? CK_Q8 : CK_Q4
        }
    }
}

/// The on-disk format of a folder written by `glmserve quantize` (see docs/QUANTIZATION.md).
///
/// `config.json` carries `"quantization_config": {"quant_method": "glmserve", "version": 1, "type": "q4", ...}`.
/// Each quantised matrix is a `U8` tensor of shape `[rows, row_bytes]` holding its blocks exactly as the kernels
/// read them; the safetensors header's `__metadata__` names its block type and logical shape under the key
/// `glmserve.<tensor name>` as `"q8 <rows> <cols>"`, and `glmserve.version` gives the format version.
public enum QuantizationFormat {
    public static let method = "glmserve"
    public static let version = 1
    static let metadataPrefix = "glmserve."
    static let versionKey = "glmserve.version"

    /// The dtype name used in metadata, load summaries and `bytesByDType`.
    static func name(_ dtype: ck_dtype) -> String { dtype == CK_Q4 ? "q4" : dtype == CK_Q8 ? "q8" : "?" }
    static func dtype(named name: String) -> ck_dtype? { name == "q8" ? CK_Q8 : name == "q4" ? CK_Q4 : nil }

    /// Bytes of one stored row of `cols` weights.
    static func rowBytes(_ dtype: ck_dtype, cols: Int) -> Int { Int(ck_quant_row_bytes(Int32(dtype.rawValue), Int64(cols))) }
}

/// Owns a 64-byte aligned buffer of quantised blocks (weights quantised while loading).
final class QuantizedStorage {
    let pointer: UnsafeMutableRawPointer
    let count: Int
    init(count: Int) {
        self.count = count
        pointer = .allocate(byteCount: max(count, 1), alignment: 64)
    }
    deinit { pointer.deallocate() }
}
