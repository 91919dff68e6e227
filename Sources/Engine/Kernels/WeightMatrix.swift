import CKernels

/// Owns a block of f32 values at a stable address (FP8 scales handed to C kernels).
final class FloatStorage {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int
    init(_ values: [Float]) {
        count = values.count
        pointer = .allocate(capacity: max(values.count, 1))
        values.withUnsafeBufferPointer { if let base = $0.baseAddress { pointer.initialize(from: base, count: values.count) } }
    }
    deinit { pointer.deallocate() }
}

/// A weight matrix `[rows, cols]` kept in its checkpoint dtype, read in place from the mapped file.
/// `y = x · Wᵀ` is computed by the C kernels, which convert each element to f32 in registers.
struct WeightMatrix {
    let name: String
    let rows: Int
    let cols: Int
    let dtype: ck_dtype
    fileprivate(set) var raw: ck_matrix
    /// Keeps the FP8 scales alive while `raw.scale` points at them.
    private let scales: FloatStorage?
    /// Keeps weights quantised while loading alive while `raw.data` points at them.
    private let storage: QuantizedStorage?
    /// Keeps repacked group-affine codes, (scale, bias) pairs and the column order alive (CK_AFFINE*).
    private let affine: AffineStorage?

    init(name: String, rows: Int, cols: Int, dtype: ck_dtype, data: UnsafeRawPointer,
         scales: FloatStorage? = nil, scaleKind: ck_scale_kind = CK_SCALE_NONE, numerics: NumericMode = .exact,
         storage: QuantizedStorage? = nil) {
        self.name = name
        self.rows = rows
        self.cols = cols
        self.dtype = dtype
        self.scales = scales
        self.storage = storage
        self.affine = nil
        raw = ck_matrix(data: data, scale: scales.map { UnsafePointer($0.pointer) }, rows: Int64(rows),
                        cols: Int64(cols), dtype: Int32(dtype.rawValue), scale_kind: Int32(scaleKind.rawValue),
                        exact: numerics == .exact ? 1 : 0, group: 0, perm: nil)
    }

    /// A group-affine integer matrix (CK_AFFINE4 / CK_AFFINE8, Sources/CKernels/affine.h) owning its repacked data.
    init(name: String, affine storage: AffineStorage, numerics: NumericMode = .exact) {
        self.name = name
        rows = storage.rows
        cols = storage.cols
        dtype = storage.bits == 4 ? CK_AFFINE4 : CK_AFFINE8
        scales = nil
        self.storage = nil
        affine = storage
        raw = ck_matrix(data: UnsafeRawPointer(storage.codes), scale: UnsafePointer(storage.groups),
                        rows: Int64(rows), cols: Int64(cols), dtype: Int32(dtype.rawValue),
                        scale_kind: Int32(CK_SCALE_NONE.rawValue), exact: numerics == .exact ? 1 : 0,
                        group: Int32(storage.groupSize), perm: storage.permutation.map { UnsafePointer($0) })
    }

    /// How products with this matrix are computed.
    var numerics: NumericMode {
        get { raw.exact != 0 ? .exact : .fast }
        set { raw.exact = newValue == .exact ? 1 : 0 }
    }

    /// Bytes of weight data (without FP8 scales; with the block scales of CK_Q8 / CK_Q4 and the (scale, bias)
    /// pairs of group-affine matrices).
    var byteCount: Int {
        switch dtype {
        case CK_AFFINE4, CK_AFFINE8: return affine?.byteCount ?? 0    // codes + (scale, bias) pairs: all streamed
        case CK_Q8, CK_Q4: return rows * QuantizationFormat.rowBytes(dtype, cols: cols)
        default: return rows * cols * Self.elementSize(dtype)
        }
    }

    static func elementSize(_ dtype: ck_dtype) -> Int {
        switch dtype {
        case CK_F32: return 4
        case CK_BF16, CK_F16: return 2
        default: return 1
        }
    }

    /// Row `r` as f32 (embedding lookup).
    func row(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        withUnsafePointer(to: raw) { ck_row($0, Int64(r), out) }
    }
}

/// `y = x · Wᵀ (+ bias)` for `tokens` rows of `x` (`[tokens, w.cols]`), giving `[tokens, w.rows]`.
func linear(_ w: WeightMatrix, _ x: [Float], tokens: Int, bias: [Float]? = nil) -> [Float] {
    precondition(x.count == tokens * w.cols, "linear \(w.name): input has \(x.count) values, expected \(tokens)×\(w.cols)")
    return [Float](unsafeUninitializedCapacity: tokens * w.rows) { y, initialized in
        x.withUnsafeBufferPointer { xp in
            withUnsafePointer(to: w.raw) { wp in
                if let bias {
                    bias.withUnsafeBufferPointer { bp in
                        ck_linear(wp, xp.baseAddress, Int64(w.cols), Int64(tokens), y.baseAddress, Int64(w.rows), bp.baseAddress)
                    }
                } else {
                    ck_linear(wp, xp.baseAddress, Int64(w.cols), Int64(tokens), y.baseAddress, Int64(w.rows), nil)
                }
            }
        }
        initialized = tokens * w.rows
    }
}

/// Several independent products `x_i · W_iᵀ (+ b_i)` run as one pool job (one fork-join for all of them).
/// Returns the outputs in the order of `calls`.
func linearBatch(_ calls: [(weight: WeightMatrix, input: [Float], tokens: Int, bias: [Float]?)]) -> [[Float]] {
    let n = calls.count
    let inputCount = calls.reduce(0) { $0 + $1.input.count }
    let outputCount = calls.reduce(0) { $0 + $1.tokens * $1.weight.rows }
    let biasCount = calls.reduce(0) { $0 + ($1.bias?.count ?? 0) }
    let inputs = UnsafeMutablePointer<Float>.allocate(capacity: max(inputCount, 1))
    let outputs = UnsafeMutablePointer<Float>.allocate(capacity: max(outputCount, 1))
    let biases = UnsafeMutablePointer<Float>.allocate(capacity: max(biasCount, 1))
    let matrices = UnsafeMutablePointer<ck_matrix>.allocate(capacity: max(n, 1))
    let tasks = UnsafeMutablePointer<ck_linear_task>.allocate(capacity: max(n, 1))
    defer {
        inputs.deallocate(); outputs.deallocate(); biases.deallocate(); matrices.deallocate(); tasks.deallocate()
    }
    var inOffset = 0, outOffset = 0, biasOffset = 0
    var outputRanges: [Range<Int>] = []
    // Calls that pass the same array (e.g. an expert's gate and up) share one copy, so the kernels can also
    // share its rounded / packed form.
    var copied: [UnsafeRawPointer: Int] = [:]
    for (i, call) in calls.enumerated() {
        precondition(call.input.count == call.tokens * call.weight.cols, "linearBatch \(call.weight.name): input size")
        let source = call.input.withUnsafeBufferPointer { $0.isEmpty ? nil : $0.baseAddress.map(UnsafeRawPointer.init) }
        let inputOffset: Int
        if let source, let earlier = copied[source] {
            inputOffset = earlier
        } else {
            call.input.withUnsafeBufferPointer {
                if let base = $0.baseAddress { (inputs + inOffset).initialize(from: base, count: $0.count) }
            }
            if let source { copied[source] = inOffset }
            inputOffset = inOffset
            inOffset += call.input.count
        }
        (matrices + i).initialize(to: call.weight.raw)
        var biasPointer: UnsafePointer<Float>?
        if let bias = call.bias {
            bias.withUnsafeBufferPointer { (biases + biasOffset).initialize(from: $0.baseAddress!, count: $0.count) }
            biasPointer = UnsafePointer(biases + biasOffset)
            biasOffset += bias.count
        }
        let outCount = call.tokens * call.weight.rows
        (tasks + i).initialize(to: ck_linear_task(w: matrices + i, x: inputs + inputOffset, ldx: Int64(call.weight.cols),
                                                   T: Int64(call.tokens), y: outputs + outOffset,
                                                   ldy: Int64(call.weight.rows), bias: biasPointer))
        outputRanges.append(outOffset ..< outOffset + outCount)
        outOffset += outCount
    }
    ck_linear_many(tasks, Int64(n))
    return outputRanges.map { Array(UnsafeBufferPointer(start: outputs + $0.lowerBound, count: $0.count)) }
}
