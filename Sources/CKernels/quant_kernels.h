#pragma once
// Private declarations of the quantised-weight kernels (quant_plain.c, quant_avx512.c, quant_avx2.c).
#include "rows.h"
#include "quant.h"

/// Activations of T tokens quantised for a product with a CK_Q8 / CK_Q4 matrix of `nb` blocks per row (`nbp`
/// padded to even). Per token: `qx` the int8 values of every block (zero-padded), `dx` each block's scale
/// (padded with zeros to a multiple of 16 blocks, `nbq`, so the AVX-512 kernel loads 16 at a time), and `init`,
/// per block an 8-lane vector (lane 0: −offset · Σ qx, other lanes 0) the SIMD kernels start each block's integer
/// sum from, where offset is what they add to each weight code to make it unsigned for vpdpbusd/pmaddubsw (128
/// for q8, 8 for q4).
typedef struct {
    int64_t T, nb, nbp, nbq;
    int8_t *qx;        // [T][nbp * 32]
    float *dx;         // [T][nbq]
    int32_t *init;     // [T][nbp * 8]
} ck_qact;

/// Bytes of memory ck_qact_prepare needs for T tokens of `cols` values (64-byte aligned pieces included).
size_t ck_qact_bytes(int64_t cols, int64_t T);
/// Quantises x ([T, ldx], the first `cols` values of each row) for a product with `dtype` weights, using `mem`
/// (ck_qact_bytes, 64-byte aligned). Results are identical on every ISA.
void ck_qact_prepare(int32_t dtype, const float *x, int64_t ldx, int64_t T, int64_t cols, void *mem, ck_qact *a);

/// Fast (integer) products: y[t, r] for rows [r0, r1) and all T tokens of `a`.
void ck_qrows_plain(const ck_matrix *w, const ck_qact *a, float *y, int64_t ldy, int64_t r0, int64_t r1);
#if defined(__x86_64__)
void ck_qrows_avx512(const ck_matrix *w, const ck_qact *a, float *y, int64_t ldy, int64_t r0, int64_t r1);
void ck_qrows_avx2(const ck_matrix *w, const ck_qact *a, float *y, int64_t ldy, int64_t r0, int64_t r1);
/// Prefill (≥ 16 tokens) on CPUs with AVX512_BF16: rows [r0, r1) dequantised to BF16 and multiplied by the BF16
/// activation panels with the BF16 GEMM (bf16dot_avx512.c).
void ck_quant_gemm_bf16(const ck_matrix *w, const uint32_t *panels, int64_t kpairs, int64_t T, float *y, int64_t ldy,
                        int64_t r0, int64_t r1);
void ck_qact_quantize_avx512(const float *x, int64_t cols, int64_t nbp, int32_t offset, int8_t *qx, float *dx,
                             int32_t *init);
#endif
/// Fast products by the best kernel for this CPU (or the level set by ck_set_isa).
void ck_qrows(const ck_matrix *w, const ck_qact *a, float *y, int64_t ldy, int64_t r0, int64_t r1);

/// The streaming entry of linear.c for quantised weights: the exact path (dequantise to f32, f32 products) or
/// the fast path (quantise x here, integer products).
void ck_quant_linear_rows(const ck_matrix *w, const float *x, int64_t ldx, int64_t T, float *y, int64_t ldy,
                          int64_t r0, int64_t r1);
/// Dequantises rows [r0, r1) to f32 ([(r1 − r0), cols]).
void ck_dequantize_rows(const ck_matrix *w, int64_t r0, int64_t r1, float *out);

/// Row layout helpers (quant.h): blocks per row padded to even, and where a row's codes start.
static inline int64_t ck_qblocks_padded(int64_t cols) { return (((cols + CK_QBLOCK - 1) / CK_QBLOCK) + 1) & ~(int64_t)1; }
static inline const uint16_t *ck_qrow_scales(const ck_matrix *w, int64_t r, int64_t row_bytes) {
    return (const uint16_t *)((const uint8_t *)w->data + r * row_bytes);
}
static inline const uint8_t *ck_qrow_codes(const ck_matrix *w, int64_t r, int64_t row_bytes, int64_t nbp) {
    return (const uint8_t *)w->data + r * row_bytes + nbp * 2;
}

/// Round to nearest even for |v| < 2^22 without a libm call (the default build targets baseline x86-64).
static inline float ck_round_even(float v) {
    const float magic = 12582912.0f;   // 1.5 · 2^23: adding it pushes the fraction bits out, rounding to even
    return (v + magic) - magic;        // (no -ffast-math in this target, so this is not folded away)
}

/// f32 → f16 bits, round to nearest even (finite inputs within f16 range).
uint16_t ck_f32_to_f16(float f);
