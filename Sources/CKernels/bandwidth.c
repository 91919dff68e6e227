// Memory: heap tuning for large activation arrays, and a DRAM read-bandwidth probe on the engine's own thread pool (glmserve bench --roofline): every thread sums
// its share of a buffer much larger than the caches, so the figure is what the weight-streaming kernels can
// reach with the same threads.
#define _GNU_SOURCE
#include "CKernels.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

void ck_keep_heap_memory(int64_t mmap_threshold, int64_t trim_threshold) {
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, (int)mmap_threshold);
    mallopt(M_TRIM_THRESHOLD, (int)trim_threshold);
#else
    (void)mmap_threshold; (void)trim_threshold;
#endif
}
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define PROBE_CHUNK (1 << 20)

typedef struct {
    const unsigned char *data;
    int64_t chunks;
    volatile uint64_t sink[256];
} probe_job;

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static uint64_t sum_avx512(const unsigned char *p, size_t n) {
    __m512i a = _mm512_setzero_si512(), b = a, c = a, d = a;
    for (size_t i = 0; i < n; i += 256) {
        a = _mm512_add_epi64(a, _mm512_loadu_si512(p + i));
        b = _mm512_add_epi64(b, _mm512_loadu_si512(p + i + 64));
        c = _mm512_add_epi64(c, _mm512_loadu_si512(p + i + 128));
        d = _mm512_add_epi64(d, _mm512_loadu_si512(p + i + 192));
    }
    return (uint64_t)_mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a, b), _mm512_add_epi64(c, d)));
}
__attribute__((target("avx2"))) static uint64_t sum_avx2(const unsigned char *p, size_t n) {
    __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
    for (size_t i = 0; i < n; i += 128) {
        a = _mm256_add_epi64(a, _mm256_loadu_si256((const __m256i *)(p + i)));
        b = _mm256_add_epi64(b, _mm256_loadu_si256((const __m256i *)(p + i + 32)));
        c = _mm256_add_epi64(c, _mm256_loadu_si256((const __m256i *)(p + i + 64)));
        d = _mm256_add_epi64(d, _mm256_loadu_si256((const __m256i *)(p + i + 96)));
    }
    __m256i s = _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d));
    uint64_t out[4];
    _mm256_storeu_si256((__m256i *)out, s);
    return out[0] + out[1] + out[2] + out[3];
}
#endif

static uint64_t sum_plain(const unsigned char *p, size_t n) {
    const uint64_t *q = (const uint64_t *)p;
    uint64_t a = 0, b = 0;
    for (size_t i = 0; i < n / 8; i += 2) { a += q[i]; b += q[i + 1]; }
    return a + b;
}

static void probe_chunk(void *ctx, int64_t chunk, int thread) {
    probe_job *job = ctx;
    const unsigned char *p = job->data + (size_t)chunk * PROBE_CHUNK;
    uint64_t s;
#if defined(__x86_64__)
    if (ck_isa() >= 2) s = sum_avx512(p, PROBE_CHUNK);
    else if (ck_isa() == 1) s = sum_avx2(p, PROBE_CHUNK);
    else
#endif
    s = sum_plain(p, PROBE_CHUNK);
    job->sink[thread & 255] += s;
}

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int ck_measure_read_bandwidth(int64_t bytes, int repeats, double *gb_per_s) {
    int64_t chunks = bytes / PROBE_CHUNK;
    if (chunks < 1 || repeats < 1) return -1;
    unsigned char *data = aligned_alloc(64, (size_t)chunks * PROBE_CHUNK);
    if (!data) return -1;
    memset(data, 1, (size_t)chunks * PROBE_CHUNK);       // commit every page before timing
    probe_job job = {data, chunks, {0}};
    ck_parallel_for(chunks, probe_chunk, &job);          // warm-up pass
    for (int r = 0; r < repeats; r++) {
        double start = now_seconds();
        ck_parallel_for(chunks, probe_chunk, &job);
        gb_per_s[r] = (double)chunks * PROBE_CHUNK / (now_seconds() - start) / 1e9;
    }
    free(data);
    return 0;
}
