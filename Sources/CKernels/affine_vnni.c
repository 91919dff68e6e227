// Group-affine integer weights, fast mode with AVX-512 VNNI (format and activation layout: affine.h). Codes
// (unsigned) × int8 activations are summed exactly in int32 by vpdpbusd on 256-bit registers (native width on
// Zen 4, and the same bytes per cycle as 512-bit elsewhere), 64 columns per step; at the end of each group the int32
// sums are converted and scaled by scale · dx, and bias · Σx is added once per row. Needs group % 64 == 0.
// Codes four row passes ahead are prefetched in software (see vnni_pass).
#if defined(__x86_64__)
#include "affine.h"
#include <immintrin.h>

#define VNNI __attribute__((target("avx512f,avx512vl,avx512bw,avx512vnni")))

int ck_affine_has_vnni(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl")
                 && __builtin_cpu_supports("avx512bw");
    }
    return cached;
}

VNNI static inline __attribute__((always_inline))
void vnni_pass(const ck_matrix *w, const ck_affine_input *in, int64_t T0, float *y, int64_t ldy, int64_t r,
               const int R, const int NT) {
    int64_t cols = w->cols, group = w->group, groups = cols / group, stride = ck_affine_row_bytes(w);
    const ck_affine_group *blocks = (const ck_affine_group *)w->scale;
    const int8_t *xq = in->xq + T0 * cols;
    const float *dx = in->dx + T0 * groups, *xsum = in->xsum + T0 * groups;
    const __m256i low4 = _mm256_set1_epi8(15);
    // Rows are short streams (a few KB) that the hardware prefetchers barely learn before they end, so the codes
    // four passes ahead are prefetched explicitly (measured: 30–40 % more bandwidth on 1408×4096 experts).
    const int64_t ahead = 4 * R * stride;
    const uint8_t *rows[4];
    for (int i = 0; i < R; i++) rows[i] = (const uint8_t *)w->data + (r + i) * stride;
    __m256 acc[4][TOKENS_PER_PASS];
    float bias[4][TOKENS_PER_PASS];
    for (int i = 0; i < R; i++)
        for (int t = 0; t < NT; t++) { acc[i][t] = _mm256_setzero_ps(); bias[i][t] = 0.0f; }
    for (int64_t g = 0; g < groups; g++) {
        __m256i ia[4][TOKENS_PER_PASS], ib[4][TOKENS_PER_PASS];
        for (int i = 0; i < R; i++)
            for (int t = 0; t < NT; t++) { ia[i][t] = _mm256_setzero_si256(); ib[i][t] = _mm256_setzero_si256(); }
        for (int64_t c = g * group; c < (g + 1) * group; c += 64) {
            for (int i = 0; i < R; i++) {
                __m256i a, b;
                if ((c & (w->dtype == CK_AFFINE4 ? 127 : 63)) == 0) _mm_prefetch((const char *)(rows[i] + ahead + (w->dtype == CK_AFFINE4 ? c / 2 : c)), _MM_HINT_T0);
                if (w->dtype == CK_AFFINE4) {
                    __m256i v = _mm256_loadu_si256((const __m256i *)(rows[i] + c / 2));
                    a = _mm256_and_si256(v, low4);
                    b = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
                } else {
                    a = _mm256_loadu_si256((const __m256i *)(rows[i] + c));
                    b = _mm256_loadu_si256((const __m256i *)(rows[i] + c + 32));
                }
                for (int t = 0; t < NT; t++) {
                    const int8_t *q = xq + t * cols + c;
                    ia[i][t] = _mm256_dpbusd_epi32(ia[i][t], a, _mm256_loadu_si256((const __m256i *)q));
                    ib[i][t] = _mm256_dpbusd_epi32(ib[i][t], b, _mm256_loadu_si256((const __m256i *)(q + 32)));
                }
            }
        }
        for (int i = 0; i < R; i++) {
            const ck_affine_group blk = blocks[(r + i) * groups + g];
            for (int t = 0; t < NT; t++) {
                __m256 sum = _mm256_cvtepi32_ps(_mm256_add_epi32(ia[i][t], ib[i][t]));
                acc[i][t] = _mm256_fmadd_ps(sum, _mm256_set1_ps(blk.scale * dx[t * groups + g]), acc[i][t]);
                bias[i][t] += blk.bias * xsum[t * groups + g];
            }
        }
    }
    for (int i = 0; i < R; i++)
        for (int t = 0; t < NT; t++) {
            __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc[i][t]), _mm256_extractf128_ps(acc[i][t], 1));
            s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
            y[(T0 + t) * ldy + r + i] = _mm_cvtss_f32(s) + bias[i][t];
        }
}

#define PASS(NT, R)                                                                                  \
    VNNI static void vpass_##NT##_##R(const ck_matrix *w, const ck_affine_input *in, int64_t t0,     \
                                      float *y, int64_t ldy, int64_t r) {                            \
        vnni_pass(w, in, t0, y, ldy, r, R, NT);                                                      \
    }
PASS(1, 4) PASS(1, 1) PASS(2, 2) PASS(2, 1) PASS(3, 1) PASS(4, 1) PASS(5, 1) PASS(6, 1) PASS(7, 1) PASS(8, 1)

typedef void (*vpass_fn)(const ck_matrix *, const ck_affine_input *, int64_t, float *, int64_t, int64_t);

// One token streams one row at a time: a single sequential stream (plus the prefetch four rows ahead) measured
// 35–45 % faster than four interleaved rows on the GLM-4.5-Air-shaped W4A16 model, 2 threads (47–48 against
// 32–36 tokens/s, alternating runs).

VNNI void ck_affine_rows_vnni(const ck_matrix *w, const ck_affine_input *in, int64_t T, float *y, int64_t ldy,
                              int64_t r0, int64_t r1) {
    static const vpass_fn wide[9] = {0, vpass_1_1, vpass_2_2, vpass_3_1, vpass_4_1, vpass_5_1, vpass_6_1, vpass_7_1, vpass_8_1};
    static const vpass_fn one[9] = {0, vpass_1_1, vpass_2_1, vpass_3_1, vpass_4_1, vpass_5_1, vpass_6_1, vpass_7_1, vpass_8_1};
    static const int width[9] = {0, 1, 2, 1, 1, 1, 1, 1, 1};
    for (int64_t t0 = 0; t0 < T; t0 += TOKENS_PER_PASS) {
        int nt = (int)(T - t0 < TOKENS_PER_PASS ? T - t0 : TOKENS_PER_PASS);
        int64_t r = r0;
        for (; r + width[nt] <= r1; r += width[nt]) wide[nt](w, in, t0, y, ldy, r);
        for (; r < r1; r++) one[nt](w, in, t0, y, ldy, r);
    }
}
#endif
