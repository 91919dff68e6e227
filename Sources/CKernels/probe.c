// Read-bandwidth probe: streams a buffer with the engine's own thread pool (the same threads and chunking the
// decode kernels use) and reports GB/s, so a benchmark can state decode speed as a fraction of what this machine
// reads in the same run.
#include "CKernels.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

typedef struct { const unsigned char *data; size_t chunk, bytes; double *sums; } probe_job;

#if defined(__x86_64__)
__attribute__((target("avx512f")))
static double sum_avx512(const unsigned char *p, size_t n) {
    __m512i a = _mm512_setzero_si512(), b = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 128 <= n; i += 128) {
        a = _mm512_xor_si512(a, _mm512_loadu_si512((const void *)(p + i)));
        b = _mm512_xor_si512(b, _mm512_loadu_si512((const void *)(p + i + 64)));
    }
    long long out[8];
    _mm512_storeu_si512(out, _mm512_xor_si512(a, b));
    double s = 0;
    for (int k = 0; k < 8; k++) s += (double)(out[k] & 0xff);
    return s;
}
#endif

static double sum_plain(const unsigned char *p, size_t n) {
    unsigned long long x = 0;
    for (size_t i = 0; i + 8 <= n; i += 8) { unsigned long long v; memcpy(&v, p + i, 8); x ^= v; }
    return (double)(x & 0xff);
}

static void probe_chunk(void *ctx, int64_t c, int thread) {
    (void)thread;
    probe_job *job = ctx;
    size_t start = (size_t)c * job->chunk;
    size_t n = start + job->chunk <= job->bytes ? job->chunk : job->bytes - start;
#if defined(__x86_64__)
    if (ck_isa() >= 2) { job->sums[c] = sum_avx512(job->data + start, n); return; }
#endif
    job->sums[c] = sum_plain(job->data + start, n);
}

double ck_probe_read_bandwidth(size_t bytes, int repeats) {
    unsigned char *data = malloc(bytes);
    if (!data || repeats < 1) { free(data); return 0; }
    memset(data, 1, bytes);                      // fault every page in before timing
    size_t chunk = 1 << 20;
    int64_t chunks = (int64_t)((bytes + chunk - 1) / chunk);
    double *sums = calloc((size_t)chunks, sizeof(double));
    probe_job job = {data, chunk, bytes, sums};
    double best = 0;
    for (int r = 0; r < repeats; r++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        ck_parallel_for(chunks, probe_chunk, &job);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        double rate = (double)bytes / seconds / 1e9;
        if (rate > best) best = rate;
    }
    free(sums);
    free(data);
    return best;
}
