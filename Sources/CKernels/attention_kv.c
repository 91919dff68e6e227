// Attention over a KV cache stored as F32, BF16 or Q8 (`ck_kv_layer`), and the stores into it.
//
// Decode (fewer than 16 new tokens): one pool chunk per (token, KV group, span of positions). A chunk reads each
// K row of its span once for all query heads of the group (scores by the per-ISA row routines of
// attention_bf16.c / attention_q8.c), keeps a running softmax per head over tiles of 64 positions, reads each V
// row once (widened to f32) for all heads, and leaves (max, sum, context) per head; the spans of one
// (token, group) are merged afterwards. Long contexts are thus split across threads even for a single query.
// Prefill (16 or more new tokens): the visible rows are widened to f32 and the f32 kernel (attention.c) runs.
// F32 layers always go to attention.c.
#include "CKernels.h"
#include "attention_kv.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define KV_TILE 32
#define KV_MIN_SPAN 256
#define KV_PREFILL_QUERIES 16

static inline uint16_t f32_to_bf16(float f) {           // round to nearest even (NaN stays NaN)
    union { float f; uint32_t u; } v = {f};
    if ((v.u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((v.u >> 16) | 0x40);
    return (uint16_t)((v.u + 0x7FFFu + ((v.u >> 16) & 1u)) >> 16);
}

/// Q8 of one row of D values: scale = max|x| / 127, x ≈ scale · round(x / scale).
static float quantize_row(const float *x, int8_t *out, int64_t D) {
    float amax = 0.0f;
    for (int64_t d = 0; d < D; d++) amax = fabsf(x[d]) > amax ? fabsf(x[d]) : amax;
    float scale = amax / 127.0f, inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    for (int64_t d = 0; d < D; d++) {
        float r = nearbyintf(x[d] * inv);
        out[d] = (int8_t)(r > 127.0f ? 127.0f : (r < -127.0f ? -127.0f : r));
    }
    return scale;
}

/// A query row as int16: scale = max|x| / 32767.
static float quantize_query(const float *x, int16_t *out, int64_t D) {
    float amax = 0.0f;
    for (int64_t d = 0; d < D; d++) amax = fabsf(x[d]) > amax ? fabsf(x[d]) : amax;
    float inv = amax > 0.0f ? 32767.0f / amax : 0.0f;
    for (int64_t d = 0; d < D; d++) {
        float r = nearbyintf(x[d] * inv);
        out[d] = (int16_t)(r > 32767.0f ? 32767.0f : (r < -32767.0f ? -32767.0f : r));
    }
    return amax / 32767.0f;
}

void ck_kv_store(const ck_kv_layer *layer, int64_t position, int64_t rows, int64_t nKV, int64_t D, const float *k,
                 const float *v) {
    int64_t width = nKV * D, n = rows * width;
    switch (layer->type) {
    case CK_KV_F32:
        memcpy((float *)layer->k + position * width, k, (size_t)n * sizeof(float));
        memcpy((float *)layer->v + position * width, v, (size_t)n * sizeof(float));
        break;
    case CK_KV_BF16: {
        uint16_t *kd = (uint16_t *)layer->k + position * width, *vd = (uint16_t *)layer->v + position * width;
        for (int64_t i = 0; i < n; i++) { kd[i] = f32_to_bf16(k[i]); vd[i] = f32_to_bf16(v[i]); }
        break;
    }
    case CK_KV_Q8:
        for (int64_t r = 0; r < rows * nKV; r++) {
            int64_t at = position * nKV + r;
            layer->k_scale[at] = quantize_row(k + r * D, (int8_t *)layer->k + at * D, D);
            layer->v_scale[at] = quantize_row(v + r * D, (int8_t *)layer->v + at * D, D);
        }
        break;
    }
}

void ck_kv_widen(const ck_kv_layer *layer, int64_t first, int64_t rows, int64_t nKV, int64_t D, float *k, float *v) {
    int64_t width = nKV * D;
    for (int64_t r = 0; r < rows * nKV; r++) {
        int64_t at = first * nKV + r;
        switch (layer->type) {
        case CK_KV_F32:
            memcpy(k + r * D, (const float *)layer->k + at * D, (size_t)D * sizeof(float));
            memcpy(v + r * D, (const float *)layer->v + at * D, (size_t)D * sizeof(float));
            break;
        case CK_KV_BF16:
            ck_kv_widen_bf16_plain((const uint16_t *)layer->k + at * D, k + r * D, D);
            ck_kv_widen_bf16_plain((const uint16_t *)layer->v + at * D, v + r * D, D);
            break;
        case CK_KV_Q8:
            ck_kv_widen_q8_plain((const int8_t *)layer->k + at * D, layer->k_scale[at], k + r * D, D);
            ck_kv_widen_q8_plain((const int8_t *)layer->v + at * D, layer->v_scale[at], v + r * D, D);
            break;
        }
    }
    (void)width;
}

// ---- e^x for a tile of scores, vectorised by the compiler per ISA (|relative error| < 2e-7 over the range used)

#define DEFINE_EXP_TILE(name, attr)                                                                             \
    attr static float name(float *s, int64_t n, float best) {                                                 \
        float total = 0.0f;                                                                                    \
        for (int64_t j = 0; j < n; j++) {                                                                      \
            float x = s[j] - best;                                                                             \
            x = x < -87.0f ? -87.0f : x;                                                                       \
            float t = x * 1.44269504088896341f;                                                                \
            float e = __builtin_floorf(t + 0.5f);                                                              \
            float r = x - e * 0.693359375f + e * 2.12194440e-4f;                                               \
            float p = 1.9875691500e-4f;                                                                        \
            p = p * r + 1.3981999507e-3f;                                                                      \
            p = p * r + 8.3334519073e-3f;                                                                      \
            p = p * r + 4.1665795894e-2f;                                                                      \
            p = p * r + 1.6666665459e-1f;                                                                      \
            p = p * r + 5.0000001201e-1f;                                                                      \
            p = p * r * r + r + 1.0f;                                                                          \
            union { int32_t i; float f; } scale = {((int32_t)e + 127) << 23};                                  \
            s[j] = p * scale.f;                                                                                \
            total += s[j];                                                                                     \
        }                                                                                                      \
        return total;                                                                                          \
    }
DEFINE_EXP_TILE(exp_tile_plain, )
#if defined(__x86_64__)
DEFINE_EXP_TILE(exp_tile_avx512, __attribute__((target("avx512f"))))
DEFINE_EXP_TILE(exp_tile_avx2, __attribute__((target("avx2,fma"))))
#endif
typedef float (*exp_tile_fn)(float *, int64_t, float);

// ---- tiles: scores through the row routines (paths without a tile routine), V accumulation per head

#define DEFINE_ROW_TILES(suffix, bf16_row, q8_row)                                                              \
    static void scores_bf16_rows_##suffix(const uint16_t *q, const uint16_t *qlo, const uint16_t *k,            \
                                          int64_t row_stride, int64_t m, int64_t G, int64_t D, float *s,        \
                                          int64_t ldS) {                                                        \
        for (int64_t j = 0; j < m; j++) bf16_row(q, qlo, k + j * row_stride, G, D, s + j, ldS);                 \
    }                                                                                                           \
    static void scores_q8_rows_##suffix(const int16_t *q, const int8_t *k, int64_t row_stride, int64_t m,       \
                                        int64_t G, int64_t D, int32_t *s, int64_t ldS) {                        \
        for (int64_t j = 0; j < m; j++) q8_row(q, k + j * row_stride, G, D, s + j, ldS);                        \
    }
DEFINE_ROW_TILES(plain, ck_kv_scores_bf16_plain, ck_kv_scores_q8_plain)
#if defined(__x86_64__)
DEFINE_ROW_TILES(avx2, ck_kv_scores_bf16_avx2, ck_kv_scores_q8_avx2)
#endif

/// acc[0..D) += Σ_j p[j] · v[j·D ..< (j+1)·D] over a tile of widened V rows.
typedef void (*accumulate_fn)(const float *p, const float *v, int64_t m, int64_t D, float *acc);

static void accumulate_plain(const float *p, const float *v, int64_t m, int64_t D, float *acc) {
    for (int64_t j = 0; j < m; j++)
        for (int64_t d = 0; d < D; d++) acc[d] += p[j] * v[j * D + d];
}

#if defined(__x86_64__)
/// The context row of a head stays in registers for the whole tile (D = 16·NV).
#define DEFINE_ACCUMULATE_AVX512(NV)                                                                            \
    __attribute__((target("avx512f"))) static void accumulate_avx512_##NV(const float *p, const float *v,       \
                                                                          int64_t m, int64_t D, float *acc) {   \
        (void)D;                                                                                                \
        __m512 a[NV];                                                                                           \
        for (int i = 0; i < NV; i++) a[i] = _mm512_loadu_ps(acc + 16 * i);                                     \
        for (int64_t j = 0; j < m; j++) {                                                                      \
            __m512 w = _mm512_set1_ps(p[j]);                                                                   \
            for (int i = 0; i < NV; i++) a[i] = _mm512_fmadd_ps(w, _mm512_loadu_ps(v + j * 16 * NV + 16 * i), a[i]); \
        }                                                                                                       \
        for (int i = 0; i < NV; i++) _mm512_storeu_ps(acc + 16 * i, a[i]);                                     \
    }
DEFINE_ACCUMULATE_AVX512(1)
DEFINE_ACCUMULATE_AVX512(2)
DEFINE_ACCUMULATE_AVX512(4)
DEFINE_ACCUMULATE_AVX512(8)

__attribute__((target("avx2,fma"))) static void accumulate_avx2(const float *p, const float *v, int64_t m, int64_t D,
                                                               float *acc) {
    for (int64_t j = 0; j < m; j++)
        for (int64_t d = 0; d < D; d++) acc[d] += p[j] * v[j * D + d];
}
#endif

// ---- decode

typedef struct {
    const ck_kv_layer *layer;
    float *ctx;
    int64_t T, start, nH, nKV, D, G, splits, span;
    const uint16_t *qb;      // BF16: queries × scale as two BF16 parts, [T, nH, D] each (high, then low)
    const uint16_t *qlo;
    const int16_t *q8;       // Q8: queries quantised per head to int16 [T, nH, D] ...
    const float *qs;         // ... with their scales × softmax scale [T, nH]
    float *part;             // per chunk: G × (max, sum, D context values)
    ck_kv_scores_bf16_tile_fn scores_bf16;
    ck_kv_widen_bf16_fn widen_bf16;
    ck_kv_scores_q8_tile_fn scores_q8;
    ck_kv_widen_q8_fn widen_q8;
    accumulate_fn accumulate;
    exp_tile_fn exp_tile;
} kv_job;

static __thread float *tile_buffer = NULL;
static __thread size_t tile_capacity = 0;

static void kv_decode_chunk(void *p, int64_t chunk, int thread) {
    (void)thread;
    kv_job *job = p;
    int64_t G = job->G, D = job->D, nKV = job->nKV, width = nKV * D;
    int64_t sp = chunk % job->splits, g = (chunk / job->splits) % nKV, t = chunk / (job->splits * nKV);
    int64_t n = job->start + t + 1;
    int64_t p0 = sp * job->span, p1 = p0 + job->span < n ? p0 + job->span : n;
    float *part = job->part + chunk * G * (D + 2);
    for (int64_t h = 0; h < G; h++) { part[h * (D + 2)] = -INFINITY; part[h * (D + 2) + 1] = 0.0f; }
    for (int64_t h = 0; h < G; h++) memset(part + h * (D + 2) + 2, 0, (size_t)D * sizeof(float));
    if (p0 >= p1) return;
    size_t need = 2 * (size_t)G * KV_TILE + (size_t)KV_TILE * (size_t)D;
    if (need > tile_capacity) {
        free(tile_buffer);
        tile_buffer = malloc(need * sizeof(float));
        tile_capacity = tile_buffer ? need : 0;
        if (!tile_buffer) abort();                       // tens of KiB; nothing sensible to fall back to
    }
    float *s = tile_buffer, *vtile = tile_buffer + 2 * G * KV_TILE;
    int32_t *si = (int32_t *)(tile_buffer + G * KV_TILE);
    const ck_kv_layer *L = job->layer;
    int64_t qrow = t * job->nH + g * G;                  // first query head of the group
    for (int64_t j0 = p0; j0 < p1; j0 += KV_TILE) {
        int64_t m = p1 - j0 < KV_TILE ? p1 - j0 : KV_TILE;
        if (L->type == CK_KV_BF16) {                     // scores of all G heads; each K row read once
            job->scores_bf16(job->qb + qrow * D, job->qlo + qrow * D, (const uint16_t *)L->k + j0 * width + g * D, width, m, G, D, s, KV_TILE);
        } else {
            job->scores_q8(job->q8 + qrow * D, (const int8_t *)L->k + j0 * width + g * D, width, m, G, D, si, KV_TILE);
            float ks[KV_TILE];                           // the tile's K scales, gathered once for all heads
            for (int64_t j = 0; j < m; j++) ks[j] = L->k_scale[(j0 + j) * nKV + g];
            for (int64_t h = 0; h < G; h++) {
                float qs = job->qs[qrow + h];
                for (int64_t j = 0; j < m; j++) s[h * KV_TILE + j] = (float)si[h * KV_TILE + j] * (qs * ks[j]);
            }
        }
        for (int64_t h = 0; h < G; h++) {               // running softmax of head h over the tile
            float *row = s + h * KV_TILE, *state = part + h * (D + 2);
            float best = state[0];
            for (int64_t j = 0; j < m; j++) best = row[j] > best ? row[j] : best;
            if (best > state[0]) {
                float factor = state[0] == -INFINITY ? 0.0f : expf(state[0] - best);
                state[1] *= factor;
                for (int64_t d = 0; d < D; d++) state[2 + d] *= factor;
                state[0] = best;
            }
            state[1] += job->exp_tile(row, m, best);
        }
        for (int64_t j = 0; j < m; j++) {               // the tile's V rows widened once for all heads
            int64_t at = (j0 + j) * nKV + g;
            if (L->type == CK_KV_BF16) job->widen_bf16((const uint16_t *)L->v + at * D, vtile + j * D, D);
            else job->widen_q8((const int8_t *)L->v + at * D, L->v_scale[at], vtile + j * D, D);
        }
        for (int64_t h = 0; h < G; h++) job->accumulate(s + h * KV_TILE, vtile, m, D, part + h * (D + 2) + 2);
    }
}

static int has_feature_vnni(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

// ck_isa(): 3 = AVX-512 with AVX512_BF16, 2 = AVX-512F, 1 = AVX2+FMA, 0 = plain. VNNI is checked on its own.
const char *ck_kv_kernel_name(int32_t type) {
    int isa = ck_isa();
    if (type == CK_KV_BF16) return isa >= 3 ? "avx512bf16" : isa >= 1 ? "avx2" : "plain";
    if (type == CK_KV_Q8) return isa >= 2 && has_feature_vnni() ? "avx512vnni" : isa >= 1 ? "avx2" : "plain";
    return isa >= 2 ? "avx512" : isa == 1 ? "avx2" : "plain";
}

static void kv_decode(const float *q, int64_t T, int64_t start, int64_t nH, int64_t nKV, int64_t D,
                      const ck_kv_layer *layer, float *ctx, float scale) {
    int64_t G = nH / nKV, longest = start + T;
    int64_t base = T * nKV, threads = ck_pool_threads() > 0 ? ck_pool_threads() : 1;
    int64_t splits = (4 * threads + base - 1) / base;
    int64_t most = (longest + KV_MIN_SPAN - 1) / KV_MIN_SPAN;
    splits = splits < most ? splits : most;
    splits = splits < 1 ? 1 : splits;
    int64_t span = (longest + splits - 1) / splits;
    span = (span + KV_TILE - 1) / KV_TILE * KV_TILE;
    splits = (longest + span - 1) / span;

    kv_job job = {layer, ctx, T, start, nH, nKV, D, G, splits, span, NULL, NULL, NULL, NULL, NULL,
                  scores_bf16_rows_plain, ck_kv_widen_bf16_plain, scores_q8_rows_plain, ck_kv_widen_q8_plain,
                  accumulate_plain, exp_tile_plain};
#if defined(__x86_64__)
    int isa = ck_isa();
    if (isa >= 1) {
        job.scores_bf16 = scores_bf16_rows_avx2; job.widen_bf16 = ck_kv_widen_bf16_avx2;
        job.scores_q8 = scores_q8_rows_avx2; job.widen_q8 = ck_kv_widen_q8_avx2;
        job.accumulate = accumulate_avx2; job.exp_tile = exp_tile_avx2;
    }
    if (isa >= 2) {
        job.widen_bf16 = ck_kv_widen_bf16_avx512; job.widen_q8 = ck_kv_widen_q8_avx512;
        job.exp_tile = exp_tile_avx512;
        if (D == 16) job.accumulate = accumulate_avx512_1;
        if (D == 32) job.accumulate = accumulate_avx512_2;
        if (D == 64) job.accumulate = accumulate_avx512_4;
        if (D == 128) job.accumulate = accumulate_avx512_8;
        if (has_feature_vnni()) job.scores_q8 = ck_kv_scores_q8_tile_avx512vnni;
    }
    if (isa >= 3) job.scores_bf16 = ck_kv_scores_bf16_tile_avx512bf16;
#endif
    int64_t rows = T * nH;
    void *prepared = NULL;
    float *qs = NULL;
    if (layer->type == CK_KV_BF16) {
        uint16_t *qb = malloc((size_t)(2 * rows * D) * sizeof(uint16_t));
        if (!qb) abort();
        for (int64_t i = 0; i < rows * D; i++) {
            float x = q[i] * scale;
            qb[i] = f32_to_bf16(x);
            union { uint32_t u; float f; } high = {(uint32_t)qb[i] << 16};
            qb[rows * D + i] = f32_to_bf16(x - high.f);
        }
        job.qb = qb; job.qlo = qb + rows * D; prepared = qb;
    } else {
        int16_t *q8 = malloc((size_t)(rows * D) * sizeof(int16_t));
        qs = malloc((size_t)rows * sizeof(float));
        if (!q8 || !qs) abort();
        for (int64_t r = 0; r < rows; r++) qs[r] = quantize_query(q + r * D, q8 + r * D, D) * scale;
        job.q8 = q8; job.qs = qs; prepared = q8;
    }
    int64_t chunks = T * nKV * splits;
    job.part = malloc((size_t)(chunks * G * (D + 2)) * sizeof(float));
    if (!job.part) abort();
    ck_parallel_for(chunks, kv_decode_chunk, &job);
    for (int64_t t = 0; t < T; t++) {                   // merge the spans of each (token, group, head)
        for (int64_t g = 0; g < nKV; g++) {
            for (int64_t h = 0; h < G; h++) {
                float best = -INFINITY;
                for (int64_t sp = 0; sp < splits; sp++) {
                    float m = job.part[((t * nKV + g) * splits + sp) * G * (D + 2) + h * (D + 2)];
                    best = m > best ? m : best;
                }
                float *out = ctx + (t * nH + g * G + h) * D, total = 0.0f;
                for (int64_t d = 0; d < D; d++) out[d] = 0.0f;
                for (int64_t sp = 0; sp < splits; sp++) {
                    const float *state = job.part + ((t * nKV + g) * splits + sp) * G * (D + 2) + h * (D + 2);
                    if (state[0] == -INFINITY) continue;
                    float w = expf(state[0] - best);
                    total += w * state[1];
                    for (int64_t d = 0; d < D; d++) out[d] += w * state[2 + d];
                }
                float inv = 1.0f / total;
                for (int64_t d = 0; d < D; d++) out[d] *= inv;
            }
        }
    }
    free(job.part);
    free(prepared);
    free(qs);
}

void ck_attention_kv(const float *q, int64_t T, int64_t start, int64_t nH, int64_t nKV, int64_t D,
                     const ck_kv_layer *layer, float *ctx, float scale) {
    if (layer->type == CK_KV_F32) {
        ck_attention(q, T, start, nH, nKV, D, (const float *)layer->k, (const float *)layer->v, ctx, scale);
        return;
    }
    if (T < KV_PREFILL_QUERIES && D <= 256) {           // int16·int8 sums of up to 256 pairs fit in int32
        kv_decode(q, T, start, nH, nKV, D, layer, ctx, scale);
        return;
    }
    int64_t n = start + T, width = nKV * D;             // prefill: widen the visible rows, then the f32 kernel
    float *k = malloc((size_t)(n * width) * sizeof(float)), *v = malloc((size_t)(n * width) * sizeof(float));
    if (!k || !v) abort();
    ck_kv_widen(layer, 0, n, nKV, D, k, v);
    ck_attention(q, T, start, nH, nKV, D, k, v, ctx, scale);
    free(k);
    free(v);
}
