import CKernels

/// The repacked form of an integer-quantized weight matrix `[rows, cols]`: the engine's group-affine format
/// (Sources/CKernels/affine.h). `W[r, c] = scale[r, g] · q[r, c] + bias[r, g]` with `g = c / groupSize`; 4-bit codes
/// sit in 32-column runs (byte j: column j low nibble, column j + 16 high nibble). Every third-party layout is
/// written into one of these at load time through `setCode` / `setGroup`.
final class AffineStorage {
    let rows: Int
    let cols: Int
    let bits: Int
    let groupSize: Int
    let codes: UnsafeMutablePointer<UInt8>
    /// `[rows][cols / groupSize]` pairs (scale, bias), interleaved as `ck_affine_group`.
    let groups: UnsafeMutablePointer<Float>
    /// Code column `c` multiplies input column `permutation[c]` (act-order); nil: identity.
    private(set) var permutation: UnsafeMutablePointer<Int32>?

    var groupsPerRow: Int { cols / groupSize }
    var rowBytes: Int { bits == 4 ? cols / 2 : cols }
    /// Bytes held: codes, scales/biases and the permutation.
    var byteCount: Int { rows * rowBytes + rows * groupsPerRow * 8 + (permutation == nil ? 0 : cols * 4) }

    /// `bits` is 4 or 8; `groupSize` a multiple of 32 dividing `cols` (the caller checks and names the tensor).
    /// `zeroed: false` leaves the codes uninitialised for a caller that writes them all with `fill`.
    init(rows: Int, cols: Int, bits: Int, groupSize: Int, zeroed: Bool = true) {
        precondition((bits == 4 || bits == 8) && groupSize % 32 == 0 && cols % groupSize == 0)
        self.rows = rows
        self.cols = cols
        self.bits = bits
        self.groupSize = groupSize
        let codeBytes = rows * (bits == 4 ? cols / 2 : cols)
        // 64-byte aligned, so the kernels' 32-byte loads never split a cache line
        codes = UnsafeMutableRawPointer.allocate(byteCount: max(codeBytes, 1), alignment: 64)
            .bindMemory(to: UInt8.self, capacity: max(codeBytes, 1))
        if zeroed { codes.initialize(repeating: 0, count: max(codeBytes, 1)) }
        let pairs = rows * (cols / groupSize) * 2
        groups = .allocate(capacity: max(pairs, 1))
        groups.initialize(repeating: 0, count: max(pairs, 1))
    }

    deinit {
        codes.deallocate()
        groups.deallocate()
        permutation?.deallocate()
    }

    /// Stores code `q` (already checked to fit in `bits`) of row `r`, code column `c`.
    @inline(__always) func setCode(_ r: Int, _ c: Int, _ q: UInt32) {
        if bits == 8 {
            codes[r * cols + c] = UInt8(truncatingIfNeeded: q)
        } else {
            let index = r * (cols / 2) + (c & ~31) / 2 + (c & 15)
            if c & 16 == 0 { codes[index] = (codes[index] & 0xF0) | UInt8(q & 15) }
            else { codes[index] = (codes[index] & 0x0F) | UInt8((q & 15) << 4) }
        }
    }

    @inline(__always) func code(_ r: Int, _ c: Int) -> UInt32 {
        if bits == 8 { return UInt32(codes[r * cols + c]) }
        let byte = codes[r * (cols / 2) + (c & ~31) / 2 + (c & 15)]
        return UInt32(c & 16 == 0 ? byte & 15 : byte >> 4)
    }

    /// Writes all codes from `codes` (row-major `[rows, cols]`, one code per byte, each already < 2^bits).
    func fill(codes: UnsafePointer<UInt8>) {
        if bits == 8 {
            codes.withMemoryRebound(to: UInt8.self, capacity: rows * cols) { self.codes.update(from: $0, count: rows * cols) }
            return
        }
        ck_pack_nibble_runs(codes, Int64(rows), Int64(cols), self.codes)
    }

    /// Sets block (r, g) to `W = scale · q + bias`.
    @inline(__always) func setGroup(_ r: Int, _ g: Int, scale: Float, bias: Float) {
        let i = (r * groupsPerRow + g) * 2
        groups[i] = scale
        groups[i + 1] = bias
    }

    /// Sets block (r, g) from the `(q − zero) · scale` convention.
    @inline(__always) func setGroup(_ r: Int, _ g: Int, scale: Float, zero: Float) {
        setGroup(r, g, scale: scale, bias: -zero * scale)
    }

    func setPermutation(_ order: [Int32]) {
        precondition(order.count == cols)
        let p = UnsafeMutablePointer<Int32>.allocate(capacity: max(cols, 1))
        order.withUnsafeBufferPointer { p.initialize(from: $0.baseAddress!, count: cols) }
        permutation?.deallocate()
        permutation = p
    }

    /// The dequantised matrix in input-column order (tests).
    func dequantized() -> [Float] {
        var out = [Float](repeating: 0, count: rows * cols)
        for r in 0..<rows {
            for c in 0..<cols {
                let i = (r * groupsPerRow + c / groupSize) * 2
                let column = permutation.map { Int($0[c]) } ?? c
                out[r * cols + column] = groups[i] * Float(code(r, c)) + groups[i + 1]
            }
        }
        return out
    }
}
