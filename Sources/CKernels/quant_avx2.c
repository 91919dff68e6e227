// Quantised weights, AVX2 (x86-64 CPUs without AVX-512 VNNI): one 32-weight block per step with pmaddubsw
// (unsigned × signed bytes → 16-bit pairs) and pmaddwd. q8 codes are signed, so their magnitude is multiplied by
// the activation carrying the code's sign (no 16-bit overflow: 128·127·2 < 2^15); q4 nibbles are unsigned and
// the block's −8 · Σ qx comes in through ck_qact.init. Up to 8 tokens per weight row read.
#if defined(__x86_64__)
#include "quant_kernels.h"
#include <immintrin.h>

#define A256 __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

INLINE A256 float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

INLINE A256 __m256i block_product(int32_t dtype, __m256i wv, __m256i xv, const int32_t *init) {
    const __m256i ones = _mm256_set1_epi16(1);
    if (dtype == CK_Q8)
        return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(xv, wv)), ones);
    __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(wv, xv), ones);
    return _mm256_add_epi32(p, _mm256_load_si256((const __m256i *)init));
}

/// One row against NT tokens, two blocks (one pair of codes) per step.
INLINE A256 void row_tokens(int32_t dtype, const uint16_t *scales, const uint8_t *codes, const ck_qact *a, float *y,
                            int64_t ldy, int64_t r, int64_t t0, int NT) {
    const __m256i mask = _mm256_set1_epi8(0x0f);
    __m256 acc[8];
    for (int t = 0; t < NT; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < a->nbp; b += 2) {
        __m256i w0, w1;
        if (dtype == CK_Q8) {
            w0 = _mm256_loadu_si256((const __m256i *)(codes + b * CK_QBLOCK));
            w1 = _mm256_loadu_si256((const __m256i *)(codes + (b + 1) * CK_QBLOCK));
        } else {
            __m256i v = _mm256_loadu_si256((const __m256i *)(codes + (b / 2) * CK_QBLOCK));
            w0 = _mm256_and_si256(v, mask);
            w1 = _mm256_and_si256(_mm256_srli_epi16(v, 4), mask);
        }
        float d0 = _cvtsh_ss(scales[b]), d1 = _cvtsh_ss(scales[b + 1]);
        for (int t = 0; t < NT; t++) {
            int64_t tt = t0 + t;
            const int8_t *qx = a->qx + tt * a->nbp * 32 + b * 32;
            const int32_t *init = a->init + tt * a->nbp * 8 + b * 8;
            const float *dx = a->dx + tt * a->nbq + b;
            __m256i p0 = block_product(dtype, w0, _mm256_load_si256((const __m256i *)qx), init);
            __m256i p1 = block_product(dtype, w1, _mm256_load_si256((const __m256i *)(qx + 32)), init + 8);
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(d0 * dx[0]), acc[t]);
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1), _mm256_set1_ps(d1 * dx[1]), acc[t]);
        }
    }
    for (int t = 0; t < NT; t++) y[(t0 + t) * ldy + r] = hsum(acc[t]);
}

#define ROWS_FOR(DT)                                                                                            \
    static A256 void rows_##DT(const ck_matrix *w, const ck_qact *a, float *y, int64_t ldy, int64_t r0, int64_t r1) { \
        int64_t row_bytes = ck_quant_row_bytes(DT, w->cols);                                                     \
        for (int64_t r = r0; r < r1; r++) {                                                                      \
            const uint16_t *sc = ck_qrow_scales(w, r, row_bytes);                                                \
            const uint8_t *row = ck_qrow_codes(w, r, row_bytes, a->nbp);                                         \
            for (int64_t t0 = 0; t0 < a->T; t0 += 8) {                                                           \
                int64_t nt = a->T - t0 < 8 ? a->T - t0 : 8;                                                     \
                switch (nt) {                                                                                    \
                case 1: row_tokens(DT, sc, row, a, y, ldy, r, t0, 1); break;                                         \
                case 2: row_tokens(DT, sc, row, a, y, ldy, r, t0, 2); break;                                         \
                case 3: row_tokens(DT, sc, row, a, y, ldy, r, t0, 3); break;                                         \
                case 4: row_tokens(DT, sc, row, a, y, ldy, r, t0, 4); break;                                         \
                case 5: row_tokens(DT, sc, row, a, y, ldy, r, t0, 5); break;                                         \
                case 6: row_tokens(DT, sc, row, a, y, ldy, r, t0, 6); break;                                         \
                case 7: row_tokens(DT, sc, row, a, y, ldy, r, t0, 7); break;                                         \
                default: row_tokens(DT, sc, row, a, y, ldy, r, t0, 8); break;                                        \
                }                                                                                                \
            }                                                                                                    \
        }                                                                                                        \
    }
ROWS_FOR(CK_Q8)
ROWS_FOR(CK_Q4)

void ck_qrows_avx2(const ck_matrix *w, const ck_qact *a, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    if (w->dtype == CK_Q8) rows_CK_Q8(w, a, y, ldy, r0, r1);
    else rows_CK_Q4(w, a, y, ldy, r0, r1);
}
#endif
