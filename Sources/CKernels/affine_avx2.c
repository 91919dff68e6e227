// Group-affine integer weights, AVX2+FMA row kernel (format: affine.h); same scheme as affine_avx512.c with
// 8-lane registers: one 32-column run is four 8-column pieces.
#if defined(__x86_64__)
#include "affine.h"
#include <immintrin.h>

__attribute__((target("avx2,fma")))
static inline __m256 codes8(const uint8_t *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

__attribute__((target("avx2,fma")))
static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma")))
void ck_affine_rows_avx2(const ck_matrix *w, const ck_affine_input *in, int64_t T, float *y, int64_t ldy,
                         int64_t r0, int64_t r1) {
    int64_t cols = w->cols, group = w->group, groups = cols / group, stride = ck_affine_row_bytes(w);
    const ck_affine_group *blocks = (const ck_affine_group *)w->scale;
    const __m256i low4 = _mm256_set1_epi32(15);
    for (int64_t t0 = 0; t0 < T; t0 += TOKENS_PER_PASS) {
        int64_t nt = T - t0 < TOKENS_PER_PASS ? T - t0 : TOKENS_PER_PASS;
        const float *x = in->x + t0 * in->ldx;
        const float *xsum = in->xsum + t0 * groups;
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t *row = (const uint8_t *)w->data + r * stride;
            const ck_affine_group *b = blocks + r * groups;
            __m256 acc[TOKENS_PER_PASS];
            float bias[TOKENS_PER_PASS];
            for (int t = 0; t < TOKENS_PER_PASS; t++) { acc[t] = _mm256_setzero_ps(); bias[t] = 0.0f; }
            for (int64_t g = 0; g < groups; g++) {
                __m256 ga[TOKENS_PER_PASS];
                for (int t = 0; t < nt; t++) ga[t] = _mm256_setzero_ps();
                int64_t c0 = g * group, c1 = c0 + group;
                for (int64_t c = c0; c < c1; c += 32) {
                    __m256 q[4];
                    if (w->dtype == CK_AFFINE4) {
                        for (int h = 0; h < 2; h++) {
                            __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(row + c / 2 + 8 * h)));
                            q[h] = _mm256_cvtepi32_ps(_mm256_and_si256(v, low4));          // columns 8h .. 8h+7
                            q[h + 2] = _mm256_cvtepi32_ps(_mm256_srli_epi32(v, 4));       // columns 16+8h ..
                        }
                    } else {
                        for (int h = 0; h < 4; h++) q[h] = codes8(row + c + 8 * h);
                    }
                    for (int t = 0; t < nt; t++) {
                        const float *xt = x + t * in->ldx + c;
                        for (int h = 0; h < 4; h++) ga[t] = _mm256_fmadd_ps(q[h], _mm256_loadu_ps(xt + 8 * h), ga[t]);
                    }
                }
                __m256 s = _mm256_set1_ps(b[g].scale);
                for (int t = 0; t < nt; t++) {
                    acc[t] = _mm256_fmadd_ps(ga[t], s, acc[t]);
                    bias[t] += b[g].bias * xsum[t * groups + g];
                }
            }
            for (int t = 0; t < nt; t++) y[(t0 + t) * ldy + r] = hsum256(acc[t]) + bias[t];
        }
    }
}
#endif
