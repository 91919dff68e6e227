// Causal grouped-query attention over the KV cache, softmax in f32. Few queries (decode): one pool chunk per
// (token, KV group), reading each cached row once for all query heads of the group (one query head per KV head,
// or no memory for the scores: per head with an online softmax). Many queries (prefill): per (head, block of queries) two sgemm calls.
#include "CKernels.h"
#include <math.h>
#include <stdlib.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// ---- dot products and axpy per instruction set (f32, accumulate in f32)

static float dot_plain(const float *a, const float *b, int64_t n) {
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}
static void axpy_plain(float w, const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += w * x[i];
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static float dot_avx512(const float *a, const float *b, int64_t n) {
    __m512 acc = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc);
    float s = _mm512_reduce_add_ps(acc);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}
__attribute__((target("avx512f"))) static void axpy_avx512(float w, const float *x, float *y, int64_t n) {
    __m512 wv = _mm512_set1_ps(w);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_fmadd_ps(wv, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += w * x[i];
}
__attribute__((target("avx2,fma"))) static float dot_avx2(const float *a, const float *b, int64_t n) {
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float s = _mm_cvtss_f32(h);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}
__attribute__((target("avx2,fma"))) static void axpy_avx2(float w, const float *x, float *y, int64_t n) {
    __m256 wv = _mm256_set1_ps(w);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += w * x[i];
}
#endif

typedef float (*dot_fn)(const float *, const float *, int64_t);
typedef void (*axpy_fn)(float, const float *, float *, int64_t);

typedef struct {
    const float *q, *kc, *vc;
    float *ctx;
    int64_t T, start, nH, nKV, D;
    float scale;
    dot_fn dot;
    axpy_fn axpy;
} attention_job;

/// One (token, head): a single pass over the visible positions with an online softmax (running maximum and
/// sum; the partial context is rescaled when the maximum grows), so no score buffer is needed.
static void attention_chunk(void *p, int64_t chunk, int thread) {
    (void)thread;
    attention_job *job = p;
    int64_t t = chunk / job->nH, h = chunk % job->nH;
    int64_t D = job->D, kvw = job->nKV * D;
    int64_t g = h / (job->nH / job->nKV);
    int64_t n = job->start + t + 1;                      // positions 0 ... start+t are visible
    const float *qv = job->q + t * job->nH * D + h * D;
    float *out = job->ctx + t * job->nH * D + h * D;
    for (int64_t d = 0; d < D; d++) out[d] = 0.0f;
    float best = -INFINITY, total = 0.0f;
    for (int64_t j = 0; j < n; j++) {
        float s = job->dot(qv, job->kc + j * kvw + g * D, D) * job->scale;
        if (s > best) {
            float factor = expf(best - s);               // 0 for the first position
            total *= factor;
            for (int64_t d = 0; d < D; d++) out[d] *= factor;
            best = s;
        }
        float w = expf(s - best);
        total += w;
        job->axpy(w, job->vc + j * kvw + g * D, out, D);
    }
    float inv = 1.0f / total;
    for (int64_t d = 0; d < D; d++) out[d] *= inv;
}

/// One (token, KV group): the scores of all query heads of the group against every visible key, a softmax per
/// head, then the values, so each cached K and V row is read once for the whole group (GQA shares them).
static __thread float *group_scores = NULL;
static __thread size_t group_capacity = 0;

static void attention_group_chunk(void *p, int64_t chunk, int thread) {
    attention_job *job = p;
    int64_t t = chunk / job->nKV, g = chunk % job->nKV;
    int64_t G = job->nH / job->nKV, D = job->D, kvw = job->nKV * D, qw = job->nH * D;
    int64_t n = job->start + t + 1;
    size_t need = (size_t)G * (size_t)n;
    if (need > group_capacity) {
        free(group_scores);
        group_scores = malloc(need * sizeof(float));
        group_capacity = group_scores ? need : 0;
    }
    if (!group_scores) {                                   // no memory for the scores: head by head, online
        for (int64_t i = 0; i < G; i++) attention_chunk(job, t * job->nH + g * G + i, thread);
        return;
    }
    const float *q = job->q + t * qw + g * G * D;
    float *out = job->ctx + t * qw + g * G * D;
    for (int64_t j = 0; j < n; j++) {
        const float *k = job->kc + j * kvw + g * D;
        for (int64_t i = 0; i < G; i++) group_scores[i * n + j] = job->dot(q + i * D, k, D) * job->scale;
    }
    for (int64_t i = 0; i < G; i++) {
        float *s = group_scores + i * n, best = -INFINITY, total = 0.0f;
        for (int64_t j = 0; j < n; j++) best = s[j] > best ? s[j] : best;
        for (int64_t j = 0; j < n; j++) { s[j] = expf(s[j] - best); total += s[j]; }
        float inv = 1.0f / total;
        for (int64_t j = 0; j < n; j++) s[j] *= inv;
        for (int64_t d = 0; d < D; d++) out[i * D + d] = 0.0f;
    }
    for (int64_t j = 0; j < n; j++) {
        const float *v = job->vc + j * kvw + g * D;
        for (int64_t i = 0; i < G; i++) job->axpy(group_scores[i * n + j], v, out + i * D, D);
    }
}

// ---- many queries (prefill): per (query head, block of queries) two sgemm calls, S = Q·Kᵀ and C = P·V

extern void cblas_sgemm(int layout, int transA, int transB, int M, int N, int K, float alpha, const float *A,
                        int lda, const float *B, int ldb, float beta, float *C, int ldc);
enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };

#define GEMM_MIN_QUERIES 16
#define QUERY_BLOCK 128

typedef struct {
    attention_job base;
    int64_t blocks;          // query blocks per head
} gemm_attention_job;

static __thread float *prob_buffer = NULL;
static __thread size_t prob_capacity = 0;

static void gemm_attention_chunk(void *p, int64_t chunk, int thread) {
    gemm_attention_job *gj = p;
    attention_job *job = &gj->base;
    int64_t h = chunk / gj->blocks, t0 = (chunk % gj->blocks) * QUERY_BLOCK;
    int64_t t1 = t0 + QUERY_BLOCK < job->T ? t0 + QUERY_BLOCK : job->T;
    int64_t D = job->D, kvw = job->nKV * D, qw = job->nH * D;
    int64_t g = h / (job->nH / job->nKV);
    int64_t m = t1 - t0, n = job->start + t1;            // keys 0 ..< n are visible to the last query of the block
    size_t need = (size_t)m * (size_t)n;
    if (need > prob_capacity) {
        free(prob_buffer);
        prob_buffer = malloc(need * sizeof(float));
        prob_capacity = prob_buffer ? need : 0;
    }
    if (!prob_buffer) {                                    // no memory for the scores: one query at a time
        for (int64_t t = t0; t < t1; t++) attention_chunk(job, t * job->nH + h, thread);
        return;
    }
    float *S = prob_buffer;
    const float *q = job->q + t0 * qw + h * D;
    cblas_sgemm(ROW_MAJOR, NO_TRANS, TRANS, (int)m, (int)n, (int)D, job->scale, q, (int)qw, job->kc + g * D, (int)kvw,
                0.0f, S, (int)n);
    for (int64_t i = 0; i < m; i++) {                     // causal softmax of each row over keys ≤ its position
        float *row = S + i * n;
        int64_t visible = job->start + t0 + i + 1;
        float best = -INFINITY, total = 0.0f;
        for (int64_t j = 0; j < visible; j++) best = row[j] > best ? row[j] : best;
        for (int64_t j = 0; j < visible; j++) { row[j] = expf(row[j] - best); total += row[j]; }
        float inv = 1.0f / total;
        for (int64_t j = 0; j < visible; j++) row[j] *= inv;
        for (int64_t j = visible; j < n; j++) row[j] = 0.0f;
    }
    cblas_sgemm(ROW_MAJOR, NO_TRANS, NO_TRANS, (int)m, (int)D, (int)n, 1.0f, S, (int)n, job->vc + g * D, (int)kvw,
                0.0f, job->ctx + t0 * qw + h * D, (int)qw);
}

void ck_attention(const float *q, int64_t T, int64_t start, int64_t nH, int64_t nKV, int64_t D,
                  const float *kc, const float *vc, float *ctx, float scale) {
    attention_job job = {q, kc, vc, ctx, T, start, nH, nKV, D, scale, dot_plain, axpy_plain};
#if defined(__x86_64__)
    int isa = ck_isa();
    if (isa >= 2) { job.dot = dot_avx512; job.axpy = axpy_avx512; }   // 2 = AVX-512F, 3 = also AVX512_BF16
    else if (isa == 1) { job.dot = dot_avx2; job.axpy = axpy_avx2; }
#endif
    if (T >= GEMM_MIN_QUERIES) {
        gemm_attention_job gj = {job, (T + QUERY_BLOCK - 1) / QUERY_BLOCK};
        ck_parallel_for(nH * gj.blocks, gemm_attention_chunk, &gj);
    } else if (nH == nKV) {                                // no sharing to exploit: per head, no score buffer
        ck_parallel_for(T * nH, attention_chunk, &job);
    } else {
        ck_parallel_for(T * nKV, attention_group_chunk, &job);
    }
}
