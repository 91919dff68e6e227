// Causal grouped-query attention over the KV cache, one pool chunk per (token, query head). Softmax in f32.
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

void ck_attention(const float *q, int64_t T, int64_t start, int64_t nH, int64_t nKV, int64_t D,
                  const float *kc, const float *vc, float *ctx, float scale) {
    attention_job job = {q, kc, vc, ctx, T, start, nH, nKV, D, scale, dot_plain, axpy_plain};
#if defined(__x86_64__)
    int isa = ck_isa();
    if (isa == 2) { job.dot = dot_avx512; job.axpy = axpy_avx512; }
    else if (isa == 1) { job.dot = dot_avx2; job.axpy = axpy_avx2; }
#endif
    ck_parallel_for(T * nH, attention_chunk, &job);
}
