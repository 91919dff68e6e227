// Q8 KV cache rows: int8 elements with one f32 scale per (position, KV head). Scores of all query heads of a GQA
// group (the queries quantised to int8 per head) against one K row in int32 — exact, so every path gives the
// same sums: AVX512_VNNI (`vpdpbusd`, unsigned×signed: K is shifted to unsigned by flipping its sign bit and
// 128·Σq is subtracted), AVX2 (`vpmaddwd` on sign-extended pairs) and plain C.
#include "attention_kv.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

void ck_kv_scores_q8_plain(const int8_t *q, const int8_t *k, int64_t G, int64_t D, int32_t *s, int64_t stride) {
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
#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni")))

VNNI_TARGET void ck_kv_scores_q8_avx512vnni(const int8_t *q, const int8_t *k, int64_t G, int64_t D, int32_t *s,
                                            int64_t stride) {
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    for (int64_t h0 = 0; h0 < G; h0 += 4) {
        int64_t hn = G - h0 < 4 ? G - h0 : 4;
        __m512i acc[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
        __m512i qsum[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
        const __m512i ones = _mm512_set1_epi8(1);
        for (int64_t d = 0; d < D; d += 64) {
            __mmask64 m = D - d >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (D - d)) - 1);
            // Masked-off lanes: k' = 0x80 ^ 0 = 128 but q = 0 there, so they add nothing.
            __m512i ku = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, k + d), flip);
            for (int64_t i = 0; i < hn; i++) {
                __m512i qv = _mm512_maskz_loadu_epi8(m, q + (h0 + i) * D + d);
                acc[i] = _mm512_dpbusd_epi32(acc[i], ku, qv);
                qsum[i] = _mm512_dpbusd_epi32(qsum[i], ones, qv);
            }
        }
        for (int64_t i = 0; i < hn; i++)
            s[(h0 + i) * stride] = _mm512_reduce_add_epi32(acc[i]) - 128 * _mm512_reduce_add_epi32(qsum[i]);
    }
}

__attribute__((target("avx2"))) void ck_kv_scores_q8_avx2(const int8_t *q, const int8_t *k, int64_t G, int64_t D,
                                                          int32_t *s, int64_t stride) {
    int64_t body = D & ~(int64_t)15;
    for (int64_t h = 0; h < G; h++) {
        __m256i acc = _mm256_setzero_si256();
        for (int64_t d = 0; d < body; d += 16) {
            __m256i kv = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(k + d)));
            __m256i qv = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(q + h * D + d)));
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
