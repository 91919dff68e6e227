// AVX2 + FMA + F16C row kernels (x86-64 CPUs without AVX-512): one row against up to 4 tokens per pass.
#if defined(__x86_64__)
#include "rows.h"
#include <immintrin.h>

#define A256 __attribute__((target("avx2,fma,f16c")))

static inline A256 float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline A256 __m256 load8_bf16(const void *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}
static inline A256 __m256 load8_f16(const void *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
static inline A256 __m256 load8_f32(const void *p) { return _mm256_loadu_ps((const float *)p); }

#define DEFINE_AVX2(NAME, ELEM, LOAD)                                                                          \
A256 void NAME(const ck_matrix *w, const float *x, int64_t ldx, int64_t T, float *y, int64_t ldy,       \
                      int64_t r0, int64_t r1) {                                                                \
    const ELEM *base = (const ELEM *)w->data;                                                                  \
    int64_t cols = w->cols, cv = cols & ~(int64_t)7;                                                           \
    for (int64_t r = r0; r < r1; r++) {                                                                        \
        const ELEM *wr = base + r * cols;                                                                      \
        for (int64_t t0 = 0; t0 < T; t0 += 4) {                                                                \
            int64_t nt = T - t0 < 4 ? T - t0 : 4;                                                              \
            const float *xt = x + t0 * ldx;                                                                    \
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                        \
            for (int64_t c = 0; c < cv; c += 8) {                                                              \
                __m256 wv = LOAD(wr + c);                                                                      \
                a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xt + c), a0);                                         \
                if (nt > 1) a1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xt + ldx + c), a1);                       \
                if (nt > 2) a2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xt + 2 * ldx + c), a2);                   \
                if (nt > 3) a3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xt + 3 * ldx + c), a3);                   \
            }                                                                                                  \
            float acc[4] = {hsum256(a0), hsum256(a1), hsum256(a2), hsum256(a3)};                               \
            ck_row_tail(w, r, cv, xt, ldx, nt, acc);                                                        \
            for (int64_t t = 0; t < nt; t++) y[(t0 + t) * ldy + r] = acc[t];                                   \
        }                                                                                                      \
    }                                                                                                          \
}

DEFINE_AVX2(ck_rows_avx2_bf16, uint16_t, load8_bf16)
DEFINE_AVX2(ck_rows_avx2_f16, uint16_t, load8_f16)
DEFINE_AVX2(ck_rows_avx2_f32, float, load8_f32)
#endif
