import CKernels
import Foundation

/// Small elementwise operations of the forward pass. They are a tiny share of the work next to the weight
/// streaming in `linear`, so they stay in Swift where the math is easy to read.
enum Ops {
    /// RMSNorm over consecutive rows of width `weight.count`: `y = w · x / sqrt(mean(x²) + ε)`.
    static func rmsNorm(_ x: [Float], weight: [Float], eps: Float) -> [Float] {
        var y = x
        rmsNormInPlace(&y, weight: weight, eps: eps)
        return y
    }

    static func rmsNormInPlace(_ x: inout [Float], weight: [Float], eps: Float) {
        let n = weight.count
        x.withUnsafeMutableBufferPointer { xs in
            weight.withUnsafeBufferPointer { w in
                var start = 0
                while start < xs.count {
                    var sum: Float = 0
                    for j in 0..<n { sum += xs[start + j] * xs[start + j] }
                    let inv = 1 / (sum / Float(n) + eps).squareRoot()
                    for j in 0..<n { xs[start + j] = w[j] * (xs[start + j] * inv) }
                    start += n
                }
            }
        }
    }

    /// `a += b` elementwise.
    static func add(_ a: inout [Float], _ b: [Float]) {
        a.withUnsafeMutableBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in for i in 0..<ap.count { ap[i] += bp[i] } }
        }
    }

    /// `silu(gate) ⊙ up`, the SwiGLU activation.
    static func swiglu(gate: [Float], up: [Float]) -> [Float] {
        [Float](unsafeUninitializedCapacity: gate.count) { out, n in
            gate.withUnsafeBufferPointer { g in
                up.withUnsafeBufferPointer { u in
                    for i in 0..<g.count { out[i] = g[i] / (1 + exp(-g[i])) * u[i] }
                }
            }
            n = gate.count
        }
    }
}

/// Partial NeoX ("rotate-half") rotary embedding on the first `rotaryDim` values of each head (model-spec §3.3).
struct Rope {
    let rotaryDim: Int
    let headDim: Int
    /// θ^(−2i/R), i = 0 ..< R/2, in double precision.
    let inverseFrequencies: [Double]

    init(rotaryDim: Int, headDim: Int, theta: Double) {
        self.rotaryDim = rotaryDim
        self.headDim = headDim
        inverseFrequencies = (0..<rotaryDim / 2).map { pow(theta, -2.0 * Double($0) / Double(rotaryDim)) }
    }

    /// Rotates the `heads` head vectors of rows `firstRow ..< firstRow + positions.count` of `x`
    /// (`[rows, heads·headDim]`); row `firstRow + i` is at position `positions.lowerBound + i`.
    func apply(_ x: inout [Float], heads: Int, positions: Range<Int>, firstRow: Int = 0) {
        let half = rotaryDim / 2
        var cosines = [Float](repeating: 0, count: half)
        var sines = [Float](repeating: 0, count: half)
        x.withUnsafeMutableBufferPointer { xs in
            for (t, p) in positions.enumerated() {
                for i in 0..<half {
                    let angle = Double(p) * inverseFrequencies[i]
                    cosines[i] = Float(cos(angle))
                    sines[i] = Float(sin(angle))
                }
                for h in 0..<heads {
                    let base = ((firstRow + t) * heads + h) * headDim
                    for i in 0..<half {
                        let a = xs[base + i], b = xs[base + i + half]
                        xs[base + i] = a * cosines[i] - b * sines[i]
                        xs[base + i + half] = b * cosines[i] + a * sines[i]
                    }
                }
            }
        }
    }
}
