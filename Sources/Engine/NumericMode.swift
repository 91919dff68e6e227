/// How the engine multiplies activations by weights. Every model command takes `--exact` to pick `.exact`.
///
/// - `fast` (the default): for BF16 and FP8 weights the activations entering each matrix product are rounded to
///   BF16 (round to nearest even), and the products run on the CPU's BF16 dot-product instruction (`vdpbf16ps`)
///   where it has one, accumulating in f32 — what llama.cpp does. F32 and F16 weights are multiplied exactly.
///   Quality is measured as perplexity (`glmserve perplexity`), not as equality.
/// - `exact`: every weight is widened to f32 and multiplied by the f32 activations with f32 FMAs (OpenBLAS
///   `sgemm` for prefill), so results equal an f32 computation on the checkpoint's weights up to summation order.
///   The fidelity tests (logits against transformers within 1e-4) run in this mode.
public enum NumericMode: String, Sendable, CaseIterable {
    case fast
    case exact
}
