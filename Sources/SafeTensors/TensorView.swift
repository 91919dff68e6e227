/// A tensor inside a mapped file: its name, type, shape and raw little-endian bytes.
///
/// `bytes` points into the mapping, and the view keeps that mapping alive (even if its `SafeTensorsFile` or
/// `Checkpoint` is released); a raw pointer taken out of `bytes` is valid only as long as a view, file or
/// checkpoint holding the mapping lives. Big weights stay there; `floats()` copies and is meant for small tensors.
public struct TensorView: @unchecked Sendable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    /// The name of the file the tensor lives in.
    public let file: String
    /// The tensor's data inside the mapping (possibly unaligned).
    public let bytes: UnsafeRawBufferPointer
    /// Whatever owns the memory behind `bytes` (the file mapping), retained so the view cannot dangle.
    private let owner: AnyObject?

    /// A view of `bytes`; `owner` is retained for the view's lifetime and must keep `bytes` valid.
    public init(name: String, dtype: DType, shape: [Int], file: String, bytes: UnsafeRawBufferPointer,
                owner: AnyObject? = nil) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.file = file
        self.bytes = bytes
        self.owner = owner
    }

    /// Number of elements: the product of `shape` (1 for a scalar).
    public var elementCount: Int {
        bytes.count / dtype.byteSize
    }

    /// The values as `Float`. F32, F16, BF16 and F8_E4M3 convert exactly; other dtypes throw.
    public func floats() throws -> [Float] {
        let count = elementCount
        let source = bytes
        switch dtype {
        case .f32:
            return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                if count > 0, let destination = buffer.baseAddress, let base = source.baseAddress {
                    UnsafeMutableRawPointer(destination).copyMemory(from: base, byteCount: count * 4)
                }
                initialized = count
            }
        case .bf16:
            return convert(count) { FloatDecoding.bf16(source.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)) }
        case .f16:
            return convert(count) { FloatDecoding.f16(source.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)) }
        case .f8e4m3:
            let table = FloatDecoding.f8e4m3Table
            return convert(count) { table[Int(source[$0])] }
        default:
            throw SafeTensorsError(file: file, tensor: name,
                                   problem: "dtype \(dtype.rawValue) cannot be read as floats (F32, F16, BF16 or F8_E4M3 expected)")
        }
    }

    /// The values as `Int32`. I32 is copied; I64, I16, I8 and U8 are converted, and an I64 value outside the
    /// `Int32` range throws.
    public func int32s() throws -> [Int32] {
        let count = elementCount
        let source = bytes
        switch dtype {
        case .i32:
            return convert(count) { Int32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
        case .i64:
            var result: [Int32] = []
            result.reserveCapacity(count)
            for index in 0..<count {
                let value = Int64(littleEndian: source.loadUnaligned(fromByteOffset: 8 * index, as: Int64.self))
                guard let narrow = Int32(exactly: value) else {
                    throw SafeTensorsError(file: file, tensor: name,
                                           problem: "element \(index) = \(value) does not fit in Int32")
                }
                result.append(narrow)
            }
            return result
        case .i16:
            return convert(count) { Int32(Int16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * $0, as: Int16.self))) }
        case .i8:
            return convert(count) { Int32(Int8(bitPattern: source[$0])) }
        case .u8:
            return convert(count) { Int32(source[$0]) }
        default:
            throw SafeTensorsError(file: file, tensor: name,
                                   problem: "dtype \(dtype.rawValue) cannot be read as integers (I32, I64, I16, I8 or U8 expected)")
        }
    }

    @inline(__always)
    private func convert<T>(_ count: Int, _ element: (Int) -> T) -> [T] {
        [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            guard let destination = buffer.baseAddress else { return }
            for index in 0..<count {
                (destination + index).initialize(to: element(index))
            }
            initialized = count
        }
    }
}
