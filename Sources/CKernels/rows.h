#pragma once
// Private declarations shared by the linear-kernel files: one row-range kernel per instruction set and dtype.
// Each computes y[t, r] = Σ_c W[r, c] · x[t, c] for rows [r0, r1) and tokens t < T, accumulating in f32.
#include "convert.h"

#define TOKENS_PER_PASS 8

#define ROWS_KERNEL(NAME) void NAME(const ck_matrix *w, const float *x, int64_t ldx, int64_t T, float *y, \
                                    int64_t ldy, int64_t r0, int64_t r1)

float ck_load_scalar(const void *data, int32_t dtype, int64_t i);
/// Adds columns [c0, cols) of row r times up to TOKENS_PER_PASS tokens into acc[t] (scalar tails).
void ck_row_tail(const ck_matrix *w, int64_t r, int64_t c0, const float *x, int64_t ldx, int64_t nt, float *acc);
ROWS_KERNEL(ck_rows_plain);
ROWS_KERNEL(ck_rows_fp8_plain);
/// Packs BF16 activations [T][ldb] into 32-token panels of BF16 pairs (the GEMM's input layout).
void ck_pack_bf16_panels(const uint16_t *xb, int64_t ldb, int64_t T, int64_t kpairs, uint32_t *panels);
/// Rounds f32 activations to BF16 (nearest even) and back to f32: the fast path's activations on CPUs without
/// BF16 dot products, so every ISA computes the same products.
void ck_round_bf16_plain(const float *x, int64_t ldx, int64_t T, int64_t cols, float *out);
#if defined(__x86_64__)
ROWS_KERNEL(ck_rows_avx512_bf16);
ROWS_KERNEL(ck_rows_avx512_f16);
ROWS_KERNEL(ck_rows_avx512_f32);
ROWS_KERNEL(ck_rows_avx512_f8);             // F8 with per-row or 128×128 block scales
ROWS_KERNEL(ck_rows_avx512_f8_unscaled);    // F8 codes only; the caller applies per-row scales
void ck_convert_rows_avx512(const ck_matrix *w, int64_t r0, int64_t r1, float *out);
// The fast path with AVX512_BF16 (bf16dot_avx512.c): BF16 activations, vdpbf16ps.
void ck_round_bf16_avx512(const float *x, int64_t ldx, int64_t T, int64_t cols, uint16_t *out, int64_t ldb);
void ck_rows_bf16dot(const ck_matrix *w, const uint16_t *xb, int64_t ldb, int64_t T, float *y, int64_t ldy,
                     int64_t r0, int64_t r1);
void ck_gemm_bf16dot(const ck_matrix *w, const uint32_t *panels, int64_t kpairs, int64_t T, float *y, int64_t ldy,
                     int64_t r0, int64_t r1);
ROWS_KERNEL(ck_rows_avx2_bf16);
ROWS_KERNEL(ck_rows_avx2_f16);
ROWS_KERNEL(ck_rows_avx2_f32);
#endif
