// y = x · Wᵀ for weights kept in their checkpoint dtype. Each weight element is converted to f32 in registers
// (BF16: shift left by 16; F16: vcvtph2ps; both exact) and multiplied with f32 FMAs, so every path computes the
// same f32 products; only the summation order differs between paths.
//
// Streaming path (few tokens): every weight row is read once and applied to up to 8 tokens; with one token, 4
// rows are processed per pass. Matrix path (many tokens): a tile of rows is converted to f32 and handed to
// OpenBLAS sgemm (Debian's OpenBLAS has no BF16 GEMM); each tile is one pool chunk, OpenBLAS runs one thread.
#include "convert.h"
#include <math.h>
#include <stdlib.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define TOKENS_PER_PASS 8
#define GEMM_MIN_TOKENS 16
#define GEMM_TILE_ROWS 128

// ---------------------------------------------------------------- instruction-set dispatch

static int isa_level = -1;

static int detect_isa(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) return 1;
#endif
    return 0;
}

int ck_isa(void) {
    if (isa_level < 0) isa_level = detect_isa();
    return isa_level;
}

int ck_set_isa(int level) {
    int best = detect_isa();
    isa_level = level < best ? (level < 0 ? 0 : level) : best;
    return isa_level;
}

// ---------------------------------------------------------------- plain C (any CPU)

static inline float load_scalar(const void *data, int32_t dtype, int64_t i) {
    switch (dtype) {
    case CK_F32: return ((const float *)data)[i];
    case CK_BF16: return ck_bf16_to_f32(((const uint16_t *)data)[i]);
    case CK_F16: return ck_f16_to_f32(((const uint16_t *)data)[i]);
    default: return ck_f8e4m3_table[((const uint8_t *)data)[i]];
    }
}

/// One row against up to TOKENS_PER_PASS tokens, columns [c0, cols), scalar. Adds into acc[t].
static void row_tail_plain(const ck_matrix *w, int64_t r, int64_t c0, const float *x, int64_t ldx, int64_t nt,
                           float *acc) {
    int64_t cols = w->cols;
    for (int64_t c = c0; c < cols; c++) {
        float wv = load_scalar(w->data, w->dtype, r * cols + c);
        for (int64_t t = 0; t < nt; t++) acc[t] += wv * x[t * ldx + c];
    }
}

/// FP8 rows: partial sums per 128-column block, each multiplied by its scale (per-row or per-block).
static void rows_fp8(const ck_matrix *w, const float *x, int64_t ldx, int64_t T, float *y, int64_t ldy,
                     int64_t r0, int64_t r1) {
    ck_prepare_tables();
    int64_t cols = w->cols;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = (const uint8_t *)w->data + r * cols;
        for (int64_t t = 0; t < T; t++) {
            const float *xt = x + t * ldx;
            float total = 0.0f;
            for (int64_t c0 = 0; c0 < cols; c0 += 128) {
                int64_t c1 = c0 + 128 < cols ? c0 + 128 : cols;
                float part = 0.0f;
                for (int64_t c = c0; c < c1; c++) part += ck_f8e4m3_table[row[c]] * xt[c];
                total += part * ck_scale_at(w, r, c0);
            }
            y[t * ldy + r] = total;
        }
    }
}

static void rows_plain(const ck_matrix *w, const float *x, int64_t ldx, int64_t T, float *y, int64_t ldy,
                       int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
        for (int64_t t0 = 0; t0 < T; t0 += TOKENS_PER_PASS) {
            int64_t nt = T - t0 < TOKENS_PER_PASS ? T - t0 : TOKENS_PER_PASS;
            float acc[TOKENS_PER_PASS] = {0};
            row_tail_plain(w, r, 0, x + t0 * ldx, ldx, nt, acc);
            for (int64_t t = 0; t < nt; t++) y[(t0 + t) * ldy + r] = acc[t];
        }
    }
}

#if defined(__x86_64__)
// ---------------------------------------------------------------- AVX-512F

#define A512 __attribute__((target("avx512f")))

static inline A512 __m512 load16_bf16(const void *p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
}
static inline A512 __m512 load16_f16(const void *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }
static inline A512 __m512 load16_f32(const void *p) { return _mm512_loadu_ps((const float *)p); }

#define DEFINE_AVX512(NAME, ELEM, LOAD)                                                                        \
static A512 void NAME(const ck_matrix *w, const float *x, int64_t ldx, int64_t T, float *y, int64_t ldy,       \
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
                row_tail_plain(w, r + k, cv, x, ldx, 1, acc + k);                                              \
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
                    row_tail_plain(w, r + i, cv, x + t0 * ldx, ldx, nt, acc);                                  \
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
            row_tail_plain(w, r, cv, xt, ldx, nt, acc);                                                        \
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
static A512 void rows_avx512_f8(const ck_matrix *w, const float *x, int64_t ldx, int64_t T, float *y, int64_t ldy,
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
static A512 void convert_rows_avx512(const ck_matrix *w, int64_t r0, int64_t r1, float *out) {
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

DEFINE_AVX512(rows_avx512_bf16, uint16_t, load16_bf16)
DEFINE_AVX512(rows_avx512_f16, uint16_t, load16_f16)
DEFINE_AVX512(rows_avx512_f32, float, load16_f32)
// FP8 codes without their scale; the per-row scale is applied to the finished sums (see ck_linear_rows).
DEFINE_AVX512(rows_avx512_f8_unscaled, uint8_t, load16_f8e4m3)

// ---------------------------------------------------------------- AVX2 + FMA

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
static A256 void NAME(const ck_matrix *w, const float *x, int64_t ldx, int64_t T, float *y, int64_t ldy,       \
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
            row_tail_plain(w, r, cv, xt, ldx, nt, acc);                                                        \
            for (int64_t t = 0; t < nt; t++) y[(t0 + t) * ldy + r] = acc[t];                                   \
        }                                                                                                      \
    }                                                                                                          \
}

DEFINE_AVX2(rows_avx2_bf16, uint16_t, load8_bf16)
DEFINE_AVX2(rows_avx2_f16, uint16_t, load8_f16)
DEFINE_AVX2(rows_avx2_f32, float, load8_f32)
#endif

void ck_linear_rows(const ck_matrix *w, const float *x, int64_t ldx, int64_t T, float *y, int64_t ldy,
                    int64_t r0, int64_t r1) {
#if defined(__x86_64__)
    int isa = ck_isa();
    if (w->dtype == CK_F8E4M3) {
        if (isa == 2 && w->scale_kind == CK_SCALE_ROW) {
            ck_prepare_tables();
            rows_avx512_f8_unscaled(w, x, ldx, T, y, ldy, r0, r1);
            for (int64_t t = 0; t < T; t++)
                for (int64_t r = r0; r < r1; r++) y[t * ldy + r] *= w->scale[r];
        } else if (isa == 2) {
            rows_avx512_f8(w, x, ldx, T, y, ldy, r0, r1);
        } else {
            rows_fp8(w, x, ldx, T, y, ldy, r0, r1);
        }
        return;
    }
    if (isa == 2) {
        if (w->dtype == CK_BF16) rows_avx512_bf16(w, x, ldx, T, y, ldy, r0, r1);
        else if (w->dtype == CK_F16) rows_avx512_f16(w, x, ldx, T, y, ldy, r0, r1);
        else rows_avx512_f32(w, x, ldx, T, y, ldy, r0, r1);
        return;
    }
    if (isa == 1) {
        if (w->dtype == CK_BF16) rows_avx2_bf16(w, x, ldx, T, y, ldy, r0, r1);
        else if (w->dtype == CK_F16) rows_avx2_f16(w, x, ldx, T, y, ldy, r0, r1);
        else rows_avx2_f32(w, x, ldx, T, y, ldy, r0, r1);
        return;
    }
#else
    if (w->dtype == CK_F8E4M3) { rows_fp8(w, x, ldx, T, y, ldy, r0, r1); return; }
#endif
    rows_plain(w, x, ldx, T, y, ldy, r0, r1);
}

// ---------------------------------------------------------------- parallel drivers

// OpenBLAS's CBLAS entry point (linked through the COpenBLAS system library).
extern void cblas_sgemm(int layout, int transA, int transB, int M, int N, int K, float alpha, const float *A,
                        int lda, const float *B, int ldb, float beta, float *C, int ldc);
enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };

/// One chunk of a batched call: rows [r0, r1) of task `task`.
typedef struct { int32_t task; int64_t r0, r1; } linear_chunk;

typedef struct {
    const ck_linear_task *tasks;
    const linear_chunk *chunks;
} linear_job;

static __thread float *tile_buffer = NULL;
static __thread size_t tile_capacity = 0;

/// Matrix path for one tile: convert rows [r0, r1) to f32 (unless already F32) and run sgemm.
static void gemm_tile(const ck_linear_task *t, int64_t r0, int64_t r1) {
    const ck_matrix *w = t->w;
    const float *tile;
    if (w->dtype == CK_F32) {
        tile = (const float *)w->data + r0 * w->cols;
    } else {
        size_t need = (size_t)(r1 - r0) * (size_t)w->cols;
        if (need > tile_capacity) {
            free(tile_buffer);
            tile_buffer = malloc(need * sizeof(float));
            tile_capacity = tile_buffer ? need : 0;
            if (!tile_buffer) {   // out of memory: the streaming path needs no buffer
                ck_linear_rows(w, t->x, t->ldx, t->T, t->y, t->ldy, r0, r1);
                return;
            }
        }
#if defined(__x86_64__)
        if (ck_isa() == 2) convert_rows_avx512(w, r0, r1, tile_buffer);
        else
#endif
        ck_convert_rows(w, r0, r1, tile_buffer);
        tile = tile_buffer;
    }
    cblas_sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS, (int)t->T, (int)(r1 - r0), (int)w->cols, 1.0f,
                t->x, (int)t->ldx, tile, (int)w->cols, 0.0f, t->y + r0, (int)t->ldy);
}

static void run_chunk(void *ctx, int64_t index, int thread) {
    (void)thread;
    linear_job *job = ctx;
    const linear_chunk *c = &job->chunks[index];
    const ck_linear_task *t = &job->tasks[c->task];
    if (t->T >= GEMM_MIN_TOKENS) gemm_tile(t, c->r0, c->r1);
    else ck_linear_rows(t->w, t->x, t->ldx, t->T, t->y, t->ldy, c->r0, c->r1);
    if (t->bias) {
        for (int64_t tok = 0; tok < t->T; tok++)
            for (int64_t r = c->r0; r < c->r1; r++) t->y[tok * t->ldy + r] += t->bias[r];
    }
}

/// Rows per chunk: GEMM tiles for many tokens; for few tokens about `target` chunks over all tasks, never
/// tiny ones (a chunk should stream at least ~64 KiB of weights).
static int64_t rows_per_chunk(const ck_linear_task *t, int64_t total_bytes, int threads) {
    if (t->T >= GEMM_MIN_TOKENS) return GEMM_TILE_ROWS;
    int64_t row_bytes = t->w->cols * (t->w->dtype == CK_F32 ? 4 : t->w->dtype == CK_F8E4M3 ? 1 : 2);
    if (row_bytes < 1) row_bytes = 1;
    int64_t chunk_bytes = total_bytes / ((int64_t)threads * 6);
    if (chunk_bytes < 65536) chunk_bytes = 65536;
    int64_t rows = (chunk_bytes / row_bytes + 3) & ~(int64_t)3;
    return rows < 4 ? 4 : rows;
}

void ck_linear_many(const ck_linear_task *tasks, int64_t count) {
    int threads = ck_pool_threads();
    int64_t total_bytes = 0, nchunks = 0;
    for (int64_t i = 0; i < count; i++) {
        const ck_matrix *w = tasks[i].w;
        if (tasks[i].T <= 0) continue;
        total_bytes += w->rows * w->cols * (w->dtype == CK_F32 ? 4 : w->dtype == CK_F8E4M3 ? 1 : 2);
    }
    for (int64_t i = 0; i < count; i++) {
        if (tasks[i].T <= 0) continue;
        int64_t per = rows_per_chunk(&tasks[i], total_bytes, threads);
        nchunks += (tasks[i].w->rows + per - 1) / per;
    }
    if (nchunks == 0) return;
    linear_chunk small[256];
    linear_chunk *chunks = nchunks <= 256 ? small : malloc((size_t)nchunks * sizeof(linear_chunk));
    if (!chunks) {  // out of memory: run everything on this thread
        for (int64_t i = 0; i < count; i++) {
            linear_chunk one = {(int32_t)i, 0, tasks[i].w->rows};
            linear_job job = {tasks, &one};
            if (tasks[i].T > 0) run_chunk(&job, 0, 0);
        }
        return;
    }
    int64_t n = 0;
    for (int64_t i = 0; i < count; i++) {
        if (tasks[i].T <= 0) continue;
        int64_t per = rows_per_chunk(&tasks[i], total_bytes, threads);
        for (int64_t r = 0; r < tasks[i].w->rows; r += per)
            chunks[n++] = (linear_chunk){(int32_t)i, r, r + per < tasks[i].w->rows ? r + per : tasks[i].w->rows};
    }
    linear_job job = {tasks, chunks};
    ck_parallel_for(n, run_chunk, &job);
    if (chunks != small) free(chunks);
}

void ck_linear(const ck_matrix *w, const float *x, int64_t ldx, int64_t T, float *y, int64_t ldy,
               const float *bias) {
    ck_linear_task task = {w, x, ldx, T, y, ldy, bias};
    ck_linear_many(&task, 1);
}
