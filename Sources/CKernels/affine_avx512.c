// Group-affine integer weights, AVX-512F row kernel (format: affine.h). Each row is streamed once for up to
// TOKENS_PER_PASS tokens; codes become f32 in registers (zero-extend, mask/shift for 4-bit, vcvtdq2ps) and are
// multiplied with f32 FMAs into one accumulator per token and group, which is scaled when the group ends.
#if defined(__x86_64__)
#include "affine.h"
#include <immintrin.h>

__attribute__((target("avx512f")))
void ck_affine_rows_avx512(const ck_matrix *w, const ck_affine_input *in, int64_t T, float *y, int64_t ldy,
                           int64_t r0, int64_t r1) {
    int64_t cols = w->cols, group = w->group, groups = cols / group, stride = ck_affine_row_bytes(w);
    const ck_affine_group *blocks = (const ck_affine_group *)w->scale;
    const __m512i low4 = _mm512_set1_epi32(15);
    for (int64_t t0 = 0; t0 < T; t0 += TOKENS_PER_PASS) {
        int64_t nt = T - t0 < TOKENS_PER_PASS ? T - t0 : TOKENS_PER_PASS;
        const float *x = in->x + t0 * in->ldx;
        const float *xsum = in->xsum + t0 * groups;
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t *row = (const uint8_t *)w->data + r * stride;
            const ck_affine_group *b = blocks + r * groups;
            __m512 acc[TOKENS_PER_PASS];
            float bias[TOKENS_PER_PASS];
            for (int t = 0; t < TOKENS_PER_PASS; t++) { acc[t] = _mm512_setzero_ps(); bias[t] = 0.0f; }
            for (int64_t g = 0; g < groups; g++) {
                __m512 ga[TOKENS_PER_PASS], gb[TOKENS_PER_PASS];
                for (int t = 0; t < nt; t++) { ga[t] = _mm512_setzero_ps(); gb[t] = _mm512_setzero_ps(); }
                int64_t c0 = g * group, c1 = c0 + group;
                if (w->dtype == CK_AFFINE4) {
                    for (int64_t c = c0; c < c1; c += 32) {
                        __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(row + c / 2)));
                        __m512 lo = _mm512_cvtepi32_ps(_mm512_and_si512(v, low4));
                        __m512 hi = _mm512_cvtepi32_ps(_mm512_srli_epi32(v, 4));
                        for (int t = 0; t < nt; t++) {
                            const float *xt = x + t * in->ldx + c;
                            ga[t] = _mm512_fmadd_ps(lo, _mm512_loadu_ps(xt), ga[t]);
                            gb[t] = _mm512_fmadd_ps(hi, _mm512_loadu_ps(xt + 16), gb[t]);
                        }
                    }
                } else {
                    for (int64_t c = c0; c < c1; c += 32) {
                        __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(row + c))));
                        __m512 hi = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(row + c + 16))));
                        for (int t = 0; t < nt; t++) {
                            const float *xt = x + t * in->ldx + c;
                            ga[t] = _mm512_fmadd_ps(lo, _mm512_loadu_ps(xt), ga[t]);
                            gb[t] = _mm512_fmadd_ps(hi, _mm512_loadu_ps(xt + 16), gb[t]);
                        }
                    }
                }
                __m512 s = _mm512_set1_ps(b[g].scale);
                for (int t = 0; t < nt; t++) {
                    acc[t] = _mm512_fmadd_ps(_mm512_add_ps(ga[t], gb[t]), s, acc[t]);
                    bias[t] += b[g].bias * xsum[t * groups + g];
                }
            }
            for (int t = 0; t < nt; t++) y[(t0 + t) * ldy + r] = _mm512_reduce_add_ps(acc[t]) + bias[t];
        }
    }
}
#endif
