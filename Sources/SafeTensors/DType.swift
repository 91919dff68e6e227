/// The element types a safetensors file can declare, named as in the file header.
public enum DType: String, Sendable, CaseIterable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16", f8e4m3 = "F8_E4M3"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"
    case u32 = "U32"   // MLX packed quantized weights

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32, .u32: return 4
        case .f16, .bf16, .i16: return 2
        case .f8e4m3, .i8, .u8, .bool: return 1
        }
    }

    /// True for the types `TensorView.floats()` converts exactly to `Float`.
    public var isExactlyFloatConvertible: Bool {
        switch self {
        case .f32, .f16, .bf16, .f8e4m3: return true
        default: return false
        }
    }
}
