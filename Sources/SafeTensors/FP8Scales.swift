/// How an FP8 weight's `weight_scale` maps onto the weight (model-spec §7).
public enum WeightScaleLayout: Equatable, Sendable {
    /// One scale for the whole matrix (shape `[]` or `[1]`).
    case perTensor
    /// compressed-tensors "float-quantized", the official GLM FP8 releases: shape `[out, 1]`,
    /// `W[o, i] = q[o, i] · s[o, 0]`.
    case perOutputChannel
    /// Block FP8 re-quantisations: shape `[⌈out/rows⌉, ⌈in/columns⌉]`,
    /// `W[o, i] = q[o, i] · s[o / rows, i / columns]`.
    case blocks(rows: Int, columns: Int)
}

/// An F8_E4M3 weight matrix with its scale tensor (a multiplier).
public struct ScaledWeight: @unchecked Sendable {
    public let weight: TensorView
    public let scale: TensorView
    public let layout: WeightScaleLayout

    /// The scale multiplying element `[row, column]` of the weight, given the scale values `scales`.
    @inline(__always)
    public func scaleIndex(row: Int, column: Int) -> Int {
        switch layout {
        case .perTensor: return 0
        case .perOutputChannel: return row
        case let .blocks(rows, columns):
            let scaleColumns = scale.shape.count == 2 ? scale.shape[1] : 1
            return (row / rows) * scaleColumns + column / columns
        }
    }

    /// The dequantised matrix `W[o, i] = fp8(q[o, i]) · scale`, row-major. For small weights and tests: big
    /// weights should be dequantised on the fly by the kernels.
    public func dequantized() throws -> [Float] {
        let scales = try scale.floats()
        let rows = weight.shape[0], columns = weight.shape[1]
        let table = FloatDecoding.f8e4m3Table
        var result = [Float](repeating: 0, count: rows * columns)
        for row in 0..<rows {
            for column in 0..<columns {
                let code = weight.bytes[row * columns + column]
                result[row * columns + column] = table[Int(code)] * scales[scaleIndex(row: row, column: column)]
            }
        }
        return result
    }
}

extension Checkpoint {
    /// The scale tensor paired with `weightName` by name, or nil when the checkpoint has none, i.e. the weight is
    /// not quantised. `X.weight_scale` (compressed-tensors, the GLM FP8 releases) is looked up first, then
    /// DeepSeek-style `X.weight_scale_inv`, which despite its name is also a multiplier (model-spec §7).
    public func weightScale(for weightName: String) throws -> TensorView? {
        for suffix in ["_scale", "_scale_inv"] where contains(weightName + suffix) {
            return try tensor(named: weightName + suffix)
        }
        return nil
    }

    /// The weight `name` with its validated scale when it is an FP8 weight, nil when it has no scale tensor.
    ///
    /// Checks: the weight is F8_E4M3 and 2-D, the scale is F32, BF16 or F16, and its shape is `[]`/`[1]`
    /// (per tensor), `[out, 1]` (per output channel) or the `blockSize` grid `[⌈out/b0⌉, ⌈in/b1⌉]`.
    public func scaledWeight(named name: String, blockSize: [Int] = [128, 128]) throws -> ScaledWeight? {
        guard let scale = try weightScale(for: name) else { return nil }
        let weight = try tensor(named: name)
        func fail(_ view: TensorView, _ problem: String) -> SafeTensorsError {
            SafeTensorsError(file: view.file, tensor: view.name, problem: problem)
        }
        guard weight.dtype == .f8e4m3 else {
            throw fail(weight, "has a weight_scale but dtype \(weight.dtype.rawValue), expected F8_E4M3")
        }
        guard weight.shape.count == 2 else {
            throw fail(weight, "FP8 weight has shape \(weight.shape), expected [out, in]")
        }
        guard [.f32, .bf16, .f16].contains(scale.dtype) else {
            throw fail(scale, "dtype \(scale.dtype.rawValue), expected F32, BF16 or F16")
        }
        let rows = weight.shape[0], columns = weight.shape[1]
        let layout: WeightScaleLayout
        if scale.shape == [] || scale.shape == [1] {
            layout = .perTensor
        } else if scale.shape == [rows, 1] || scale.shape == [rows] {
            layout = .perOutputChannel
        } else if blockSize.count == 2, blockSize.allSatisfy({ $0 > 0 }),
                  scale.shape == [(rows + blockSize[0] - 1) / blockSize[0], (columns + blockSize[1] - 1) / blockSize[1]] {
            layout = .blocks(rows: blockSize[0], columns: blockSize[1])
        } else {
            throw fail(scale, "shape \(scale.shape) fits neither per-channel [\(rows), 1] nor \(blockSize) blocks "
                       + "of the weight's [\(rows), \(columns)]")
        }
        return ScaledWeight(weight: weight, scale: scale, layout: layout)
    }
}
