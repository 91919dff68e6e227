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

INLINE A256 void row_tokens(int32_t dtype, const uint8_t *row, const ck_qact *a, float *y, int64_t ldy, int64_t r,
                            int64_t t0, int NT) {
    const __m256i ones = _mm256_set1_epi16(1), mask = _mm256_set1_epi8(0x0f);
    __m256 acc[8];
    for (int t = 0; t < NT; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < a->nb; b++) {
        __m256i wv;
        float d;
        if (dtype == CK_Q8) {
            const ck_block_q8 *blk = (const ck_block_q8 *)row + b;
            wv = _mm256_loadu_si256((const __m256i *)blk->qs);
            d = _cvtsh_ss(blk->d);
        } else {
            const ck_block_q4 *blk = (const ck_block_q4 *)row + b;
            __m128i v = _mm_loadu_si128((const __m128i *)blk->qs);
            __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(v), _mm_srli_epi16(v, 4), 1);
            wv = _mm256_and_si256(both, mask);
            d = _cvtsh_ss(blk->d);
        }
        __m256 dw = _mm256_set1_ps(d);
        __m256i magnitude = dtype == CK_Q8 ? _mm256_sign_epi8(wv, wv) : wv;
        for (int t = 0; t < NT; t++) {
            int64_t tt = t0 + t;
            __m256i xv = _mm256_load_si256((const __m256i *)(a->qx + tt * a->nbp * 32 + b * 32));
            __m256i p;
            if (dtype == CK_Q8) {
                p = _mm256_madd_epi16(_mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(xv, wv)), ones);
            } else {
                p = _mm256_madd_epi16(_mm256_maddubs_epi16(wv, xv), ones);
                p = _mm256_add_epi32(p, _mm256_load_si256((const __m256i *)(a->init + tt * a->nbp * 8 + b * 8)));
            }
            __m256 dx = _mm256_load_ps(a->dxv + tt * a->nbp * 8 + b * 8);
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_mul_ps(dw, dx), acc[t]);
        }
    }
    for (int t = 0; t < NT; t++) y[(t0 + t) * ldy + r] = hsum(acc[t]);
}

#define ROWS_FOR(DT)                                                                                            \
    static A256 void rows_##DT(const ck_matrix *w, const ck_qact *a, float *y, int64_t ldy, int64_t r0, int64_t r1) { \
        int64_t row_bytes = ck_quant_row_bytes(DT, w->cols);                                                     \
        for (int64_t r = r0; r < r1; r++) {                                                                      \
            const uint8_t *row = (const uint8_t *)w->data + r * row_bytes;                                       \
            for (int64_t t0 = 0; t0 < a->T; t0 += 8) {                                                           \
                int64_t nt = a->T - t0 < 8 ? a->T - t0 : 8;                                                     \
                switch (nt) {                                                                                    \
                case 1: row_tokens(DT, row, a, y, ldy, r, t0, 1); break;                                         \
                case 2: row_tokens(DT, row, a, y, ldy, r, t0, 2); break;                                         \
                case 3: row_tokens(DT, row, a, y, ldy, r, t0, 3); break;                                         \
                case 4: row_tokens(DT, row, a, y, ldy, r, t0, 4); break;                                         \
                case 5: row_tokens(DT, row, a, y, ldy, r, t0, 5); break;                                         \
                case 6: row_tokens(DT, row, a, y, ldy, r, t0, 6); break;                                         \
                case 7: row_tokens(DT, row, a, y, ldy, r, t0, 7); break;                                         \
                default: row_tokens(DT, row, a, y, ldy, r, t0, 8); break;                                        \
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
