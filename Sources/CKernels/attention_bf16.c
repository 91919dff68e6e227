// BF16 KV cache rows: scores of all query heads of a GQA group against K rows (each read once), and rows widened
// to f32 (for V and for prefill). AVX512_BF16 (`vdpbf16ps`: pairs of BF16 products summed into f32 lanes),
// AVX2 (widen, then FMA) and plain C. The query is split into two BF16 parts (a query rounded to one BF16 cost
// 0.4 % of perplexity on a short GLM-Tiny text); BF16×BF16 products are exact in f32, so the paths differ only
// in the order of the f32 sums.
#include "attention_kv.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static inline float bf16_to_f32(uint16_t b) {
    union { uint32_t u; float f; } v = {(uint32_t)b << 16};
    return v.f;
}

void ck_kv_scores_bf16_plain(const uint16_t *q, const uint16_t *qlo, const uint16_t *k, int64_t G, int64_t D,
                             float *s, int64_t stride) {
    for (int64_t h = 0; h < G; h++) {
        float sum = 0.0f;
        for (int64_t d = 0; d < D; d++)
            sum += bf16_to_f32(q[h * D + d]) * bf16_to_f32(k[d]) + bf16_to_f32(qlo[h * D + d]) * bf16_to_f32(k[d]);
        s[h * stride] = sum;
    }
}

void ck_kv_widen_bf16_plain(const uint16_t *src, float *dst, int64_t D) {
    for (int64_t d = 0; d < D; d++) dst[d] = bf16_to_f32(src[d]);
}

#if defined(__x86_64__)
#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16")))

/// Lane j of the result = the sum of the 16 lanes of v[j] (a transpose-add tree; lanes come out in the order
/// 0 2 1 3 8 10 9 11 4 6 5 7 12 14 13 15, put back by one permute).
__attribute__((target("avx512f"))) static inline __m512 sum16(const __m512 *v) {
    __m512 w[8], u[4], t[2];
    for (int j = 0; j < 8; j++)
        w[j] = _mm512_add_ps(_mm512_shuffle_f32x4(v[j], v[j + 8], 0x44), _mm512_shuffle_f32x4(v[j], v[j + 8], 0xEE));
    for (int j = 0; j < 4; j++)
        u[j] = _mm512_add_ps(_mm512_shuffle_f32x4(w[j], w[j + 4], 0x88), _mm512_shuffle_f32x4(w[j], w[j + 4], 0xDD));
    for (int j = 0; j < 2; j++)
        t[j] = _mm512_add_ps(_mm512_unpacklo_ps(u[j], u[j + 2]), _mm512_unpackhi_ps(u[j], u[j + 2]));
    __m512 r = _mm512_add_ps(_mm512_shuffle_ps(t[0], t[1], 0x44), _mm512_shuffle_ps(t[0], t[1], 0xEE));
    const __m512i order = _mm512_setr_epi32(0, 2, 1, 3, 8, 10, 9, 11, 4, 6, 5, 7, 12, 14, 13, 15);
    return _mm512_permutexvar_ps(order, r);
}

BF16_TARGET void ck_kv_scores_bf16_tile_avx512bf16(const uint16_t *q, const uint16_t *qlo, const uint16_t *k, int64_t row_stride,
                                                   int64_t m, int64_t G, int64_t D, float *s, int64_t ldS) {
    for (int64_t j0 = 0; j0 < m; j0 += 16) {
        int64_t jn = m - j0 < 16 ? m - j0 : 16;
        for (int64_t h = 0; h < G; h++) {
            __m512 acc[16];
            for (int jj = 0; jj < 16; jj++) acc[jj] = _mm512_setzero_ps();
            for (int64_t d = 0; d < D; d += 32) {
                __mmask32 mask = D - d >= 32 ? 0xFFFFFFFFu : (__mmask32)((1u << (D - d)) - 1);
                __m512bh qv = (__m512bh)_mm512_maskz_loadu_epi16(mask, q + h * D + d);
                __m512bh qlv = (__m512bh)_mm512_maskz_loadu_epi16(mask, qlo + h * D + d);
                for (int64_t jj = 0; jj < jn; jj++) {
                    __m512bh kv = (__m512bh)_mm512_maskz_loadu_epi16(mask, k + (j0 + jj) * row_stride + d);
                    acc[jj] = _mm512_dpbf16_ps(_mm512_dpbf16_ps(acc[jj], qv, kv), qlv, kv);
                }
            }
            _mm512_mask_storeu_ps(s + h * ldS + j0, (__mmask16)((1u << jn) - 1), sum16(acc));
        }
    }
}

__attribute__((target("avx512f"))) void ck_kv_widen_bf16_avx512(const uint16_t *src, float *dst, int64_t D) {
    int64_t d = 0;
    for (; d + 16 <= D; d += 16) {
        __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(src + d)));
        _mm512_storeu_ps(dst + d, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
    }
    for (; d < D; d++) dst[d] = bf16_to_f32(src[d]);
}

__attribute__((target("avx2,fma"))) static inline __m256 load8_bf16(const uint16_t *p) {
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

__attribute__((target("avx2,fma"))) static inline float hsum256(__m256 v) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

__attribute__((target("avx2,fma"))) void ck_kv_scores_bf16_avx2(const uint16_t *q, const uint16_t *qlo,
                                                               const uint16_t *k, int64_t G, int64_t D, float *s,
                                                               int64_t stride) {
    int64_t body = D & ~(int64_t)7;
    for (int64_t h = 0; h < G; h++) {
        __m256 acc = _mm256_setzero_ps();
        for (int64_t d = 0; d < body; d += 8) {
            __m256 kv = load8_bf16(k + d);
            acc = _mm256_fmadd_ps(load8_bf16(qlo + h * D + d), kv, _mm256_fmadd_ps(load8_bf16(q + h * D + d), kv, acc));
        }
        float sum = hsum256(acc);
        for (int64_t d = body; d < D; d++)
            sum += bf16_to_f32(q[h * D + d]) * bf16_to_f32(k[d]) + bf16_to_f32(qlo[h * D + d]) * bf16_to_f32(k[d]);
        s[h * stride] = sum;
    }
}

__attribute__((target("avx2,fma"))) void ck_kv_widen_bf16_avx2(const uint16_t *src, float *dst, int64_t D) {
    int64_t d = 0;
    for (; d + 8 <= D; d += 8) _mm256_storeu_ps(dst + d, load8_bf16(src + d));
    for (; d < D; d++) dst[d] = bf16_to_f32(src[d]);
}
#endif
