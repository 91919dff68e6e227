// Row routines of the compact KV cache types, one set per instruction set (attention_bf16.c, attention_q8.c),
// picked at run time by attention_kv.c. `G` query heads of one KV group against one cached row of `D` elements.
#pragma once
#include <stdint.h>

/// BF16 K: s[h·stride] = Σ_d (q[h·D + d] + qlo[h·D + d]) · k[d] for h < G: the query split into two BF16 parts
/// (q = BF16(x), qlo = BF16(x − q): 16 significant bits, so rounding the query costs nothing measurable), every
/// product exact in f32.
typedef void (*ck_kv_scores_bf16_fn)(const uint16_t *q, const uint16_t *qlo, const uint16_t *k, int64_t G, int64_t D, float *s, int64_t stride);
/// BF16 row widened to f32.
typedef void (*ck_kv_widen_bf16_fn)(const uint16_t *src, float *dst, int64_t D);
/// Q8 K: s[h·stride] = Σ_d q[h·D + d] · k[d] in int32 (exact, the same on every ISA); the queries are int16
/// (quantised per head with scale max|q|/32767, so they add almost no error), D ≤ 256 keeps the sums in range.
typedef void (*ck_kv_scores_q8_fn)(const int16_t *q, const int8_t *k, int64_t G, int64_t D, int32_t *s, int64_t stride);
/// Q8 row times `scale`, as f32.
typedef void (*ck_kv_widen_q8_fn)(const int8_t *src, float scale, float *dst, int64_t D);
/// y += w · x over D floats.
typedef void (*ck_kv_axpy_fn)(float w, const float *x, float *y, int64_t D);

/// Tile forms (one call per tile of `m` ≤ 32 positions; rows `row_stride` elements apart): s[h·ldS + j] for h < G,
/// j < m. The AVX-512 ones sum 16 positions at once with one transpose-add tree instead of 16 horizontal sums.
typedef void (*ck_kv_scores_bf16_tile_fn)(const uint16_t *q, const uint16_t *qlo, const uint16_t *k, int64_t row_stride, int64_t m,
                                          int64_t G, int64_t D, float *s, int64_t ldS);
typedef void (*ck_kv_scores_q8_tile_fn)(const int16_t *q, const int8_t *k, int64_t row_stride, int64_t m, int64_t G,
                                        int64_t D, int32_t *s, int64_t ldS);
#if defined(__x86_64__)
void ck_kv_scores_bf16_tile_avx512bf16(const uint16_t *q, const uint16_t *qlo, const uint16_t *k, int64_t row_stride, int64_t m,
                                       int64_t G, int64_t D, float *s, int64_t ldS);
void ck_kv_scores_q8_tile_avx512vnni(const int16_t *q, const int8_t *k, int64_t row_stride, int64_t m, int64_t G,
                                     int64_t D, int32_t *s, int64_t ldS);
#endif

void ck_kv_scores_bf16_plain(const uint16_t *q, const uint16_t *qlo, const uint16_t *k, int64_t G, int64_t D, float *s, int64_t stride);
void ck_kv_widen_bf16_plain(const uint16_t *src, float *dst, int64_t D);
void ck_kv_scores_q8_plain(const int16_t *q, const int8_t *k, int64_t G, int64_t D, int32_t *s, int64_t stride);
void ck_kv_widen_q8_plain(const int8_t *src, float scale, float *dst, int64_t D);
void ck_kv_axpy_plain(float w, const float *x, float *y, int64_t D);
#if defined(__x86_64__)
void ck_kv_scores_bf16_avx2(const uint16_t *q, const uint16_t *qlo, const uint16_t *k, int64_t G, int64_t D, float *s, int64_t stride);
void ck_kv_widen_bf16_avx512(const uint16_t *src, float *dst, int64_t D);
void ck_kv_widen_bf16_avx2(const uint16_t *src, float *dst, int64_t D);
void ck_kv_scores_q8_avx2(const int16_t *q, const int8_t *k, int64_t G, int64_t D, int32_t *s, int64_t stride);
void ck_kv_widen_q8_avx512(const int8_t *src, float scale, float *dst, int64_t D);
void ck_kv_widen_q8_avx2(const int8_t *src, float scale, float *dst, int64_t D);
void ck_kv_axpy_avx512(float w, const float *x, float *y, int64_t D);
void ck_kv_axpy_avx2(float w, const float *x, float *y, int64_t D);
#endif
