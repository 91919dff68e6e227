import ArgumentParser
import Engine

/// `--exact`, shared by every command that runs the model (`NumericMode`).
struct NumericsOption: ParsableArguments {
    @Flag(name: .customLong("exact"), help: ArgumentHelp(
        "f32-exact matrix products (weights widened to f32, f32 activations). Default: the fast path, which rounds "
            + "activations to BF16 for BF16/FP8 weights and uses the CPU's BF16 dot-product instruction."))
    var exact = false

    var mode: NumericMode { exact ? .exact : .fast }
}
