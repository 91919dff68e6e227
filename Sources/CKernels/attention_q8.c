// Q8 KV cache rows: int8 elements with one f32 scale per (position, KV head). Scores of all query heads of a GQA
// group (the queries quantised to int16 per head: an int8 query cost 3 % of perplexity on GLM-Tiny, int16 nothing
// measurable) against one K row in int32 — exact, so every path gives the same sums: AVX512_VNNI (`vpdpwssd`,
// int16 pairs; K widened from int8 in registers), AVX2 (`vpmaddwd`) and plain C.
#include "attention_kv.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

void ck_kv_scores_q8_plain(const int16_t *q, const int8_t *k, int64_t G, int64_t D, int32_t *s, int64_t stride) {
    for (int64_t h = 0; h < G; h++) {
        int32_t sum = 0;
        for (int64_t d = 0; d < D; d++) sum += (int32_t)q[h * D + d] * (int32_t)k[d];
        s[h * stride] = sum;
    }
}

void ck_kv_widen_q8_plain(const int8_t *src, float scale, float *dst, int64_t D) {
    for (int64_t d = 0; d < D; d++) dst[d] = scale * (float)src[d];
}

void ck_kv_axpy_plain(float w, const float *x, float *y, int64_t D) {
    for (int64_t d = 0; d < D; d++) y[d] += w * x[d];
}

#if defined(__x86_64__)
#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

/// Lane j = the sum of the 16 int32 lanes of v[j] (the same tree as the BF16 one, on integers).
__attribute__((target("avx512f"))) static inline __m512i sum16_epi32(const __m512i *v) {
    __m512i w[8], u[4], t[2];
    for (int j = 0; j < 8; j++)
        w[j] = _mm512_add_epi32(_mm512_shuffle_i32x4(v[j], v[j + 8], 0x44), _mm512_shuffle_i32x4(v[j], v[j + 8], 0xEE));
    for (int j = 0; j < 4; j++)
        u[j] = _mm512_add_epi32(_mm512_shuffle_i32x4(w[j], w[j + 4], 0x88), _mm512_shuffle_i32x4(w[j], w[j + 4], 0xDD));
    for (int j = 0; j < 2; j++)
        t[j] = _mm512_add_epi32(_mm512_unpacklo_epi32(u[j], u[j + 2]), _mm512_unpackhi_epi32(u[j], u[j + 2]));
    __m512 a = _mm512_castsi512_ps(t[0]), b = _mm512_castsi512_ps(t[1]);
    __m512i r = _mm512_add_epi32(_mm512_castps_si512(_mm512_shuffle_ps(a, b, 0x44)),
                                 _mm512_castps_si512(_mm512_shuffle_ps(a, b, 0xEE)));
    const __m512i order = _mm512_setr_epi32(0, 2, 1, 3, 8, 10, 9, 11, 4, 6, 5, 7, 12, 14, 13, 15);
    return _mm512_permutexvar_epi32(order, r);
}

/// K rows are widened from int8 to int16 once per tile (into an L1 buffer) and then used by every query head of the
/// group: widening per head made the shuffle unit, not the dot products, the limit (G = 12 for GLM-4.5-Air).
VNNI_TARGET void ck_kv_scores_q8_tile_avx512vnni(const int16_t *q, const int8_t *k, int64_t row_stride, int64_t m,
                                                 int64_t G, int64_t D, int32_t *s, int64_t ldS) {
    enum { MAX_ROWS = 32, MAX_D = 256 };
    if (m > MAX_ROWS || D > MAX_D) {                  // shapes beyond the buffer: widen per head
        for (int64_t h = 0; h < G; h++)
            for (int64_t j = 0; j < m; j++) ck_kv_scores_q8_plain(q + h * D, k + j * row_stride, 1, D, s + h * ldS + j, 1);
        return;
    }
    const int64_t steps = (D + 31) / 32;
    __attribute__((aligned(64))) int16_t wide[MAX_ROWS * MAX_D];
    for (int64_t j = 0; j < m; j++)
        for (int64_t st = 0; st < steps; st++) {
            int64_t d = st * 32;
            __mmask32 mask = D - d >= 32 ? 0xFFFFFFFFu : (__mmask32)((1u << (D - d)) - 1);
            _mm512_store_si512(wide + (j * steps + st) * 32, _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(mask, k + j * row_stride + d)));
        }
    for (int64_t h = 0; h < G; h++) {
        for (int64_t j0 = 0; j0 < m; j0 += 16) {
            int64_t jn = m - j0 < 16 ? m - j0 : 16;
            __m512i acc[16];
            for (int jj = 0; jj < 16; jj++) acc[jj] = _mm512_setzero_si512();
            for (int64_t st = 0; st < steps; st++) {
                int64_t d = st * 32;
                __mmask32 mask = D - d >= 32 ? 0xFFFFFFFFu : (__mmask32)((1u << (D - d)) - 1);
                __m512i qv = _mm512_maskz_loadu_epi16(mask, q + h * D + d);
                for (int64_t jj = 0; jj < jn; jj++)
                    acc[jj] = _mm512_dpwssd_epi32(acc[jj], _mm512_load_si512(wide + ((j0 + jj) * steps + st) * 32), qv);
            }
            _mm512_mask_storeu_epi32(s + h * ldS + j0, (__mmask16)((1u << jn) - 1), sum16_epi32(acc));
        }
    }
}

__attribute__((target("avx2"))) void ck_kv_scores_q8_avx2(const int16_t *q, const int8_t *k, int64_t G, int64_t D,
                                                          int32_t *s, int64_t stride) {
    int64_t body = D & ~(int64_t)15;
    for (int64_t h = 0; h < G; h++) {
        __m256i acc = _mm256_setzero_si256();
        for (int64_t d = 0; d < body; d += 16) {
            __m256i kv = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(k + d)));
            __m256i qv = _mm256_loadu_si256((const __m256i *)(q + h * D + d));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(kv, qv));
        }
        __m128i r = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        r = _mm_add_epi32(r, _mm_shuffle_epi32(r, 0x4E));
        r = _mm_add_epi32(r, _mm_shuffle_epi32(r, 0xB1));
        int32_t sum = _mm_cvtsi128_si32(r);
        for (int64_t d = body; d < D; d++) sum += (int32_t)q[h * D + d] * (int32_t)k[d];
        s[h * stride] = sum;
    }
}

__attribute__((target("avx512f"))) void ck_kv_widen_q8_avx512(const int8_t *src, float scale, float *dst, int64_t D) {
    __m512 sv = _mm512_set1_ps(scale);
    int64_t d = 0;
    for (; d + 16 <= D; d += 16)
        _mm512_storeu_ps(dst + d, _mm512_mul_ps(sv, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(src + d))))));
    for (; d < D; d++) dst[d] = scale * (float)src[d];
}

__attribute__((target("avx2"))) void ck_kv_widen_q8_avx2(const int8_t *src, float scale, float *dst, int64_t D) {
    __m256 sv = _mm256_set1_ps(scale);
    int64_t d = 0;
    for (; d + 8 <= D; d += 8)
        _mm256_storeu_ps(dst + d, _mm256_mul_ps(sv, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(src + d))))));
    for (; d < D; d++) dst[d] = scale * (float)src[d];
}

__attribute__((target("avx512f"))) void ck_kv_axpy_avx512(float w, const float *x, float *y, int64_t D) {
    __m512 wv = _mm512_set1_ps(w);
    int64_t d = 0;
    for (; d + 16 <= D; d += 16) _mm512_storeu_ps(y + d, _mm512_fmadd_ps(wv, _mm512_loadu_ps(x + d), _mm512_loadu_ps(y + d)));
    for (; d < D; d++) y[d] += w * x[d];
}

__attribute__((target("avx2,fma"))) void ck_kv_axpy_avx2(float w, const float *x, float *y, int64_t D) {
    __m256 wv = _mm256_set1_ps(w);
    int64_t d = 0;
    for (; d + 8 <= D; d += 8) _mm256_storeu_ps(y + d, _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + d), _mm256_loadu_ps(y + d)));
    for (; d < D; d++) y[d] += w * x[d];
}
#endif
