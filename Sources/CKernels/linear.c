// y = x · Wᵀ for weights kept in their checkpoint dtype. Each weight element is converted to f32 in registers
// (BF16: shift left by 16; F16: vcvtph2ps; both exact) and multiplied with f32 FMAs, so every path computes the
// same f32 products; only the summation order differs between paths.
//
// Streaming path (few tokens): every weight row is read once and applied to up to 8 tokens; with one token, 4
// rows are processed per pass. Matrix path (many tokens): a tile of rows is converted to f32 and handed to
// OpenBLAS sgemm (Debian's OpenBLAS has no BF16 GEMM); each tile is one pool chunk, OpenBLAS runs one thread.
#include "convert.h"
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

DEFINE_AVX512(rows_avx512_bf16, uint16_t, load16_bf16)
DEFINE_AVX512(rows_avx512_f16, uint16_t, load16_f16)
DEFINE_AVX512(rows_avx512_f32, float, load16_f32)

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
    if (w->dtype == CK_F8E4M3) { rows_fp8(w, x, ldx, T, y, ldy, r0, r1); return; }
#if defined(__x86_64__)
    int isa = ck_isa();
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
#endif
    rows_plain(w, x, ldx, T, y, ldy, r0, r1);
}

// ---------------------------------------------------------------- parallel drivers

// OpenBLAS's CBLAS entry point (linked through the COpenBLAS system library).
extern void cblas_sgemm(int layout, int transA, int transB, int M, int N, int K, float alpha, const float *A,
                        int lda, const float *B, int ldb, float beta, float *C, int ldc);
enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };

typedef struct {
    const ck_matrix *w;
    const float *x;
    int64_t ldx, T;
    float *y;
    int64_t ldy, rows_per_chunk;
} linear_job;

static void stream_chunk(void *ctx, int64_t chunk, int thread) {
    (void)thread;
    linear_job *job = ctx;
    int64_t r0 = chunk * job->rows_per_chunk;
    int64_t r1 = r0 + job->rows_per_chunk < job->w->rows ? r0 + job->rows_per_chunk : job->w->rows;
    ck_linear_rows(job->w, job->x, job->ldx, job->T, job->y, job->ldy, r0, r1);
}

static __thread float *tile_buffer = NULL;
static __thread size_t tile_capacity = 0;

static void gemm_chunk(void *ctx, int64_t chunk, int thread) {
    (void)thread;
    linear_job *job = ctx;
    const ck_matrix *w = job->w;
    int64_t r0 = chunk * job->rows_per_chunk;
    int64_t r1 = r0 + job->rows_per_chunk < w->rows ? r0 + job->rows_per_chunk : w->rows;
    const float *tile;
    if (w->dtype == CK_F32) {
        tile = (const float *)w->data + r0 * w->cols;
    } else {
        size_t need = (size_t)(r1 - r0) * (size_t)w->cols;
        if (need > tile_capacity) {
            free(tile_buffer);
            tile_buffer = malloc(need * sizeof(float));
            tile_capacity = tile_buffer ? need : 0;
            if (!tile_buffer) {   // out of memory: fall back to the streaming path for this tile
                ck_linear_rows(w, job->x, job->ldx, job->T, job->y, job->ldy, r0, r1);
                return;
            }
        }
        ck_convert_rows(w, r0, r1, tile_buffer);
        tile = tile_buffer;
    }
    cblas_sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS, (int)job->T, (int)(r1 - r0), (int)w->cols, 1.0f,
                job->x, (int)job->ldx, tile, (int)w->cols, 0.0f, job->y + r0, (int)job->ldy);
}

void ck_linear(const ck_matrix *w, const float *x, int64_t ldx, int64_t T, float *y, int64_t ldy,
               const float *bias) {
    if (T <= 0 || w->rows <= 0) return;
    linear_job job = {w, x, ldx, T, y, ldy, 0};
    int threads = ck_pool_threads();
    if (T >= GEMM_MIN_TOKENS) {
        job.rows_per_chunk = GEMM_TILE_ROWS;
        ck_parallel_for((w->rows + GEMM_TILE_ROWS - 1) / GEMM_TILE_ROWS, gemm_chunk, &job);
    } else {
        int64_t work = w->rows * w->cols * T;
        int64_t chunks = work < 65536 ? 1 : (int64_t)threads * 8;
        int64_t per = (w->rows + chunks - 1) / chunks;
        per = (per + 3) & ~(int64_t)3;
        if (per < 4) per = 4;
        job.rows_per_chunk = per;
        ck_parallel_for((w->rows + per - 1) / per, stream_chunk, &job);
    }
    if (bias) {
        for (int64_t t = 0; t < T; t++)
            for (int64_t r = 0; r < w->rows; r++) y[t * ldy + r] += bias[r];
    }
}
