// Causal grouped-query attention over the KV cache, one pool chunk per (token, query head).
#include "CKernels.h"
#include <math.h>
#include <stdlib.h>

typedef struct {
    const float *q, *kc, *vc;
    float *ctx;
    int64_t T, start, nH, nKV, D;
    float scale;
} attention_job;

static __thread float *score_buffer = NULL;
static __thread int64_t score_capacity = 0;

static void attention_chunk(void *p, int64_t chunk, int thread) {
    (void)thread;
    attention_job *job = p;
    int64_t t = chunk / job->nH, h = chunk % job->nH;
    int64_t D = job->D, kvw = job->nKV * D;
    int64_t g = h / (job->nH / job->nKV);
    int64_t n = job->start + t + 1;                      // positions 0 ... start+t are visible
    if (n > score_capacity) {
        free(score_buffer);
        score_capacity = n > 1024 ? n : 1024;
        score_buffer = malloc((size_t)score_capacity * sizeof(float));
    }
    float *s = score_buffer;
    const float *qv = job->q + t * job->nH * D + h * D;
    float best = -INFINITY;
    for (int64_t j = 0; j < n; j++) {
        const float *kv = job->kc + j * kvw + g * D;
        float dot = 0.0f;
        for (int64_t d = 0; d < D; d++) dot += qv[d] * kv[d];
        s[j] = dot * job->scale;
        if (s[j] > best) best = s[j];
    }
    float total = 0.0f;
    for (int64_t j = 0; j < n; j++) { s[j] = expf(s[j] - best); total += s[j]; }
    float inv = 1.0f / total;
    float *out = job->ctx + t * job->nH * D + h * D;
    for (int64_t d = 0; d < D; d++) out[d] = 0.0f;
    for (int64_t j = 0; j < n; j++) {
        const float *vv = job->vc + j * kvw + g * D;
        float wj = s[j] * inv;
        for (int64_t d = 0; d < D; d++) out[d] += wj * vv[d];
    }
}

void ck_attention(const float *q, int64_t T, int64_t start, int64_t nH, int64_t nKV, int64_t D,
                  const float *kc, const float *vc, float *ctx, float scale) {
    attention_job job = {q, kc, vc, ctx, T, start, nH, nKV, D, scale};
    ck_parallel_for(T * nH, attention_chunk, &job);
}
