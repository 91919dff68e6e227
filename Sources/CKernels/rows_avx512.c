// AVX-512F row kernels. Weights are converted to f32 in registers (BF16: shift left by 16; F16: vcvtph2ps;
// F8_E4M3: bit moves plus a subnormal fix-up), all exact, then multiplied with f32 FMAs. vdpbf16ps is not used:
// it would round the activations to BF16 too.
#if defined(__x86_64__)
#include "rows.h"
#include <immintrin.h>
#include <math.h>

#define A512 __attribute__((target("avx512f")))

static inline A512 __m512 load16_bf16(const void *p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
}
static inline A512 __m512 load16_f16(const void *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }
static inline A512 __m512 load16_f32(const void *p) { return _mm512_loadu_ps((const float *)p); }

#define DEFINE_AVX512(NAME, ELEM, LOAD)                                                                        \
A512 void NAME(const ck_matrix *w, const float *x, int64_t ldx, int64_t T, float *y, int64_t ldy,       \
                      int64_t r0, int64_t r1) {                                                                \
    const ELEM *base = (const ELEM *)w->data;                                                                  \
    int64_t cols = w->cols, cv = cols & ~(int64_t)15;                                                          \
    int64_t r = r0;                                                                                            \
    if (T == 1) {                                                                                              \
        for (; r + 4 <= r1; r += 4) {                                                                          \
            const ELEM *w0 = base + r * cols, *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols;               \
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                        \
            for (int64_t c = 0; c < cv; c += 16) {                                                             \
                __m512 xv = _mm512_loadu_ps(x + c);                                                            \
                a0 = _mm512_fmadd_ps(LOAD(w0 + c), xv, a0);                                                    \
                a1 = _mm512_fmadd_ps(LOAD(w1 + c), xv, a1);                                                    \
                a2 = _mm512_fmadd_ps(LOAD(w2 + c), xv, a2);                                                    \
                a3 = _mm512_fmadd_ps(LOAD(w3 + c), xv, a3);                                                    \
            }                                                                                                  \
            float acc[4] = {_mm512_reduce_add_ps(a0), _mm512_reduce_add_ps(a1), _mm512_reduce_add_ps(a2),      \
                            _mm512_reduce_add_ps(a3)};                                                         \
            for (int k = 0; k < 4; k++) {                                                                      \
                ck_row_tail(w, r + k, cv, x, ldx, 1, acc + k);                                              \
                y[r + k] = acc[k];                                                                             \
            }                                                                                                  \
        }                                                                                                      \
    } else {                                                                                                   \
        /* 4 rows x 4 tokens per pass: every x load feeds 4 FMAs, every weight load 4. */                      \
        for (; r + 4 <= r1; r += 4) {                                                                          \
            const ELEM *wr0 = base + r * cols, *wr1 = wr0 + cols, *wr2 = wr1 + cols, *wr3 = wr2 + cols;        \
            for (int64_t t0 = 0; t0 < T; t0 += 4) {                                                            \
                int64_t nt = T - t0 < 4 ? T - t0 : 4;                                                          \
                const float *xp[4];                                                                            \
                for (int k = 0; k < 4; k++) xp[k] = x + (t0 + (k < nt ? k : 0)) * ldx;                         \
                __m512 a[4][4];                                                                                \
                for (int i = 0; i < 4; i++) for (int k = 0; k < 4; k++) a[i][k] = _mm512_setzero_ps();         \
                for (int64_t c = 0; c < cv; c += 16) {                                                         \
                    __m512 w0 = LOAD(wr0 + c), w1 = LOAD(wr1 + c), w2 = LOAD(wr2 + c), w3 = LOAD(wr3 + c);     \
                    for (int k = 0; k < 4; k++) {                                                              \
                        __m512 xv = _mm512_loadu_ps(xp[k] + c);                                                \
                        a[0][k] = _mm512_fmadd_ps(w0, xv, a[0][k]);                                            \
                        a[1][k] = _mm512_fmadd_ps(w1, xv, a[1][k]);                                            \
                        a[2][k] = _mm512_fmadd_ps(w2, xv, a[2][k]);                                            \
                        a[3][k] = _mm512_fmadd_ps(w3, xv, a[3][k]);                                            \
                    }                                                                                          \
                }                                                                                              \
                for (int i = 0; i < 4; i++) {                                                                  \
                    float acc[4];                                                                              \
                    for (int k = 0; k < 4; k++) acc[k] = _mm512_reduce_add_ps(a[i][k]);                        \
                    ck_row_tail(w, r + i, cv, x + t0 * ldx, ldx, nt, acc);                                  \
                    for (int64_t k = 0; k < nt; k++) y[(t0 + k) * ldy + r + i] = acc[k];                       \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
    }                                                                                                          \
    for (; r < r1; r++) {                                                                                      \
        const ELEM *wr = base + r * cols;                                                                      \
        for (int64_t t0 = 0; t0 < T; t0 += TOKENS_PER_PASS) {                                                  \
            int64_t nt = T - t0 < TOKENS_PER_PASS ? T - t0 : TOKENS_PER_PASS;                                  \
            const float *xt = x + t0 * ldx;                                                                    \
            __m512 a[TOKENS_PER_PASS];                                                                         \
            for (int t = 0; t < TOKENS_PER_PASS; t++) a[t] = _mm512_setzero_ps();                              \
            for (int64_t c = 0; c < cv; c += 16) {                                                             \
                __m512 wv = LOAD(wr + c);                                                                      \
                switch (nt) {                                                                                  \
                case 8: a[7] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xt + 7 * ldx + c), a[7]); /* fallthrough */ \
                case 7: a[6] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xt + 6 * ldx + c), a[6]); /* fallthrough */ \
                case 6: a[5] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xt + 5 * ldx + c), a[5]); /* fallthrough */ \
                case 5: a[4] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xt + 4 * ldx + c), a[4]); /* fallthrough */ \
                case 4: a[3] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xt + 3 * ldx + c), a[3]); /* fallthrough */ \
                case 3: a[2] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xt + 2 * ldx + c), a[2]); /* fallthrough */ \
                case 2: a[1] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xt + 1 * ldx + c), a[1]); /* fallthrough */ \
                default: a[0] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xt + c), a[0]);                            \
                }                                                                                              \
            }                                                                                                  \
            float acc[TOKENS_PER_PASS];                                                                        \
            for (int64_t t = 0; t < nt; t++) acc[t] = _mm512_reduce_add_ps(a[t]);                              \
            ck_row_tail(w, r, cv, xt, ldx, nt, acc);                                                        \
            for (int64_t t = 0; t < nt; t++) y[(t0 + t) * ldy + r] = acc[t];                                   \
        }                                                                                                      \
    }                                                                                                          \
}

/// 16 F8_E4M3 codes to f32 (exact): normal numbers by moving the exponent/mantissa bits into the f32 fields and
/// re-biasing the exponent (+120), subnormals (e = 0) as m · 2⁻⁹, the NaN codes (0x7f, 0xff) as NaN. (Multiplying
/// the raw bits by 2^120 would handle both cases at once but runs into denormal-operand slowdowns.)
static inline A512 __m512 load16_f8e4m3(const uint8_t *p) {
    __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p));
    __m512i em = _mm512_and_si512(v, _mm512_set1_epi32(0x7f));
    __m512 mag = _mm512_castsi512_ps(_mm512_add_epi32(_mm512_slli_epi32(em, 20), _mm512_set1_epi32(120 << 23)));
    __mmask16 sub = _mm512_cmplt_epi32_mask(em, _mm512_set1_epi32(8));
    mag = _mm512_mask_mul_ps(mag, sub, _mm512_cvtepi32_ps(em), _mm512_set1_ps(1.0f / 512.0f));
    mag = _mm512_mask_mov_ps(mag, _mm512_cmpeq_epi32_mask(em, _mm512_set1_epi32(0x7f)), _mm512_set1_ps(NAN));
    __m512i sign = _mm512_and_si512(_mm512_slli_epi32(v, 24), _mm512_set1_epi32((int)0x80000000u));
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(mag), sign));
}

/// FP8 rows: each weight vector is decoded once and used for up to 4 tokens; partial sums per scale block
/// (the whole row for per-row scales, 128 columns for block scales) are multiplied by their scale.
A512 void ck_rows_avx512_f8(const ck_matrix *w, const float *x, int64_t ldx, int64_t T, float *y, int64_t ldy,
                                int64_t r0, int64_t r1) {
    ck_prepare_tables();
    int64_t cols = w->cols;
    int64_t block = w->scale_kind == CK_SCALE_BLOCK128 ? 128 : cols;
    int64_t r = r0;
    if (T == 1) {                      // one token: 4 rows per pass, one accumulator each
        for (; r + 4 <= r1; r += 4) {
            const uint8_t *rows[4];
            for (int i = 0; i < 4; i++) rows[i] = (const uint8_t *)w->data + (r + i) * cols;
            float total[4] = {0, 0, 0, 0};
            for (int64_t b0 = 0; b0 < cols; b0 += block) {
                int64_t b1 = b0 + block < cols ? b0 + block : cols;
                int64_t bv = b0 + ((b1 - b0) & ~(int64_t)15);
                __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
                for (int64_t c = b0; c < bv; c += 16) {
                    __m512 xv = _mm512_loadu_ps(x + c);
                    for (int i = 0; i < 4; i++) a[i] = _mm512_fmadd_ps(load16_f8e4m3(rows[i] + c), xv, a[i]);
                }
                for (int i = 0; i < 4; i++) {
                    float part = _mm512_reduce_add_ps(a[i]);
                    for (int64_t c = bv; c < b1; c++) part += ck_f8e4m3_table[rows[i][c]] * x[c];
                    total[i] += part * ck_scale_at(w, r + i, b0);
                }
            }
            for (int i = 0; i < 4; i++) y[r + i] = total[i];
        }
    }
    for (; r < r1; r++) {
        const uint8_t *row = (const uint8_t *)w->data + r * cols;
        for (int64_t t0 = 0; t0 < T; t0 += 4) {
            int64_t nt = T - t0 < 4 ? T - t0 : 4;
            const float *xp[4];
            for (int k = 0; k < 4; k++) xp[k] = x + (t0 + (k < nt ? k : 0)) * ldx;
            float total[4] = {0, 0, 0, 0};
            for (int64_t b0 = 0; b0 < cols; b0 += block) {
                int64_t b1 = b0 + block < cols ? b0 + block : cols;
                int64_t bv = b0 + ((b1 - b0) & ~(int64_t)15);
                __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
                for (int64_t c = b0; c < bv; c += 16) {
                    __m512 wv = load16_f8e4m3(row + c);
                    for (int k = 0; k < 4; k++) a[k] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xp[k] + c), a[k]);
                }
                float scale = ck_scale_at(w, r, b0);
                for (int64_t k = 0; k < nt; k++) {
                    float part = _mm512_reduce_add_ps(a[k]);
                    for (int64_t c = bv; c < b1; c++) part += ck_f8e4m3_table[row[c]] * xp[k][c];
                    total[k] += part * scale;
                }
            }
            for (int64_t k = 0; k < nt; k++) y[(t0 + k) * ldy + r] = total[k];
        }
    }
}

/// Rows [r0, r1) of W as f32 (the matrix path's tile conversion), 16 elements per step.
A512 void ck_convert_rows_avx512(const ck_matrix *w, int64_t r0, int64_t r1, float *out) {
    int64_t cols = w->cols, cv = cols & ~(int64_t)15;
    for (int64_t r = r0; r < r1; r++) {
        float *o = out + (r - r0) * cols;
        if (cv != cols) {            // widths that are not a multiple of 16: the scalar converter does the row
            ck_convert_rows(w, r, r + 1, o);
            continue;
        }
        int64_t c = 0;
        switch (w->dtype) {
        case CK_BF16: {
            const uint16_t *src = (const uint16_t *)w->data + r * cols;
            for (; c < cv; c += 16) _mm512_storeu_ps(o + c, load16_bf16(src + c));
            break;
        }
        case CK_F16: {
            const uint16_t *src = (const uint16_t *)w->data + r * cols;
            for (; c < cv; c += 16) _mm512_storeu_ps(o + c, load16_f16(src + c));
            break;
        }
        case CK_F8E4M3: {
            const uint8_t *src = (const uint8_t *)w->data + r * cols;
            for (; c < cv; c += 16)
                _mm512_storeu_ps(o + c, _mm512_mul_ps(load16_f8e4m3(src + c), _mm512_set1_ps(ck_scale_at(w, r, c))));
            break;
        }
        default: {
            const float *src = (const float *)w->data + r * cols;
            for (; c < cv; c += 16) _mm512_storeu_ps(o + c, _mm512_loadu_ps(src + c));
        }
        }
    }
}

DEFINE_AVX512(ck_rows_avx512_bf16, uint16_t, load16_bf16)
DEFINE_AVX512(ck_rows_avx512_f16, uint16_t, load16_f16)
DEFINE_AVX512(ck_rows_avx512_f32, float, load16_f32)
// FP8 codes without their scale; the per-row scale is applied to the finished sums (see ck_linear_rows).
DEFINE_AVX512(ck_rows_avx512_f8_unscaled, uint8_t, load16_f8e4m3)
#endif
