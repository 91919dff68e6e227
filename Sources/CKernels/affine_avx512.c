// Group-affine integer weights, AVX-512F row kernel (format: affine.h). Each weight row is streamed once for up
// to TOKENS_PER_PASS tokens; codes become f32 in registers (zero-extend, mask/shift for 4-bit, vcvtdq2ps) and are
// multiplied with f32 FMAs into one accumulator per (row, token) and group, which is scaled when the group ends.
// The token count and the rows per pass are compile-time constants of an inlined body (one specialisation per
// token count), so every accumulator stays in a register: 4 rows per pass for 1–2 tokens, 2 for 3–4, 1 above.
#if defined(__x86_64__)
#include "affine.h"
#include <immintrin.h>

#define A512 __attribute__((target("avx512f")))

/// 32 codes of run `c` (a multiple of 32) of a row as two f32 vectors: columns c .. c+15 and c+16 .. c+31.
A512 static inline void load_run(const uint8_t *row, int32_t dtype, int64_t c, __m512 *lo, __m512 *hi) {
    if (dtype == CK_AFFINE4) {
        __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(row + c / 2)));
        *lo = _mm512_cvtepi32_ps(_mm512_and_si512(v, _mm512_set1_epi32(15)));
        *hi = _mm512_cvtepi32_ps(_mm512_srli_epi32(v, 4));
    } else {
        *lo = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(row + c))));
        *hi = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(row + c + 16))));
    }
}

/// Rows r .. r+R-1 (R ≤ 4) against NT tokens (NT ≤ 8). R and NT are constants after inlining.
A512 static inline __attribute__((always_inline))
void rows_pass(const ck_matrix *w, const ck_affine_input *in, const float *x, const float *xsum, float *y,
               int64_t ldy, int64_t r, const int R, const int NT) {
    int64_t cols = w->cols, group = w->group, groups = (cols + group - 1) / group, stride = ck_affine_row_bytes(w);
    const ck_affine_group *blocks = (const ck_affine_group *)w->scale;
    const int64_t ahead = 4 * R * stride;   // software prefetch four passes ahead (as in affine_vnni.c)
    const uint8_t *rows[4];
    for (int i = 0; i < R; i++) rows[i] = (const uint8_t *)w->data + (r + i) * stride;
    __m512 acc[4][TOKENS_PER_PASS];
    float bias[4][TOKENS_PER_PASS];
    for (int i = 0; i < R; i++)
        for (int t = 0; t < NT; t++) { acc[i][t] = _mm512_setzero_ps(); bias[i][t] = 0.0f; }
    for (int64_t g = 0; g < groups; g++) {
        int64_t c0 = g * group, c1 = c0 + group < cols ? c0 + group : cols;
        __m512 ga[4][TOKENS_PER_PASS];
        for (int i = 0; i < R; i++)
            for (int t = 0; t < NT; t++) ga[i][t] = _mm512_setzero_ps();
        for (int64_t c = c0; c < c1; c += 32) {
            for (int i = 0; i < R; i++) {
                __m512 lo, hi;
                if ((c & (w->dtype == CK_AFFINE4 ? 127 : 63)) == 0) _mm_prefetch((const char *)(rows[i] + ahead + (w->dtype == CK_AFFINE4 ? c / 2 : c)), _MM_HINT_T0);
                load_run(rows[i], w->dtype, c, &lo, &hi);
                for (int t = 0; t < NT; t++) {
                    const float *xt = x + t * in->ldx + c;
                    ga[i][t] = _mm512_fmadd_ps(lo, _mm512_loadu_ps(xt), ga[i][t]);
                    ga[i][t] = _mm512_fmadd_ps(hi, _mm512_loadu_ps(xt + 16), ga[i][t]);
                }
            }
        }
        for (int i = 0; i < R; i++) {
            const ck_affine_group b = blocks[(r + i) * groups + g];
            __m512 s = _mm512_set1_ps(b.scale);
            for (int t = 0; t < NT; t++) {
                acc[i][t] = _mm512_fmadd_ps(ga[i][t], s, acc[i][t]);
                bias[i][t] += b.bias * xsum[t * groups + g];
            }
        }
    }
    for (int i = 0; i < R; i++)
        for (int t = 0; t < NT; t++) y[t * ldy + r + i] = _mm512_reduce_add_ps(acc[i][t]) + bias[i][t];
}

#define PASS(NT, R)                                                                                  \
    A512 static void pass_##NT##_##R(const ck_matrix *w, const ck_affine_input *in, const float *x,  \
                                     const float *xsum, float *y, int64_t ldy, int64_t r) {         \
        rows_pass(w, in, x, xsum, y, ldy, r, R, NT);                                                 \
    }
PASS(1, 4) PASS(1, 1) PASS(2, 4) PASS(2, 1) PASS(3, 2) PASS(3, 1) PASS(4, 2) PASS(4, 1)
PASS(5, 1) PASS(6, 1) PASS(7, 1) PASS(8, 1)

typedef void (*pass_fn)(const ck_matrix *, const ck_affine_input *, const float *, const float *, float *, int64_t,
                        int64_t);

A512 void ck_affine_rows_avx512(const ck_matrix *w, const ck_affine_input *in, int64_t T, float *y, int64_t ldy,
                                int64_t r0, int64_t r1) {
    static const pass_fn wide[9] = {0, pass_1_4, pass_2_4, pass_3_2, pass_4_2, pass_5_1, pass_6_1, pass_7_1, pass_8_1};
    static const pass_fn one[9] = {0, pass_1_1, pass_2_1, pass_3_1, pass_4_1, pass_5_1, pass_6_1, pass_7_1, pass_8_1};
    static const int width[9] = {0, 4, 4, 2, 2, 1, 1, 1, 1};
    int64_t groups = (w->cols + w->group - 1) / w->group;
    for (int64_t t0 = 0; t0 < T; t0 += TOKENS_PER_PASS) {
        int nt = (int)(T - t0 < TOKENS_PER_PASS ? T - t0 : TOKENS_PER_PASS);
        const float *x = in->x + t0 * in->ldx;
        const float *xsum = in->xsum + t0 * groups;
        float *yt = y + t0 * ldy;
        int64_t r = r0;
        for (; r + width[nt] <= r1; r += width[nt]) wide[nt](w, in, x, xsum, yt, ldy, r);
        for (; r < r1; r++) one[nt](w, in, x, xsum, yt, ldy, r);
    }
}
#endif
