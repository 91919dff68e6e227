import ArgumentParser
import Engine

/// `--exact` and `--quantize`, shared by every command that runs the model (`NumericMode`, `QuantizationType`).
struct NumericsOption: ParsableArguments {
    @Flag(name: .customLong("exact"), help: ArgumentHelp(
        "f32-exact matrix products (weights widened to f32, f32 activations). Default: the fast path, which rounds "
            + "activations to BF16 for BF16/FP8 weights and uses the CPU's BF16 dot-product instruction."))
    var exact = false

    @Option(name: .customLong("quantize"), help: ArgumentHelp(
        "Quantise the weights while loading: q8 (every matrix 8-bit) or q4 (matrices 4-bit, embeddings and output "
            + "heads 8-bit); the router, norms and biases stay as they are. See docs/QUANTIZATION.md.",
        valueName: "q8|q4"))
    var quantize: QuantizationType?

    var mode: NumericMode { exact ? .exact : .fast }
}

extension QuantizationType: ExpressibleByArgument {}
