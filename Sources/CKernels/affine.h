#pragma once
// Group-affine integer weights (CK_AFFINE4, CK_AFFINE8): the one execution format every third-party
// integer layout (compressed-tensors pack-quantized / naive-quantized, AutoAWQ GEMM, GPTQ, MLX affine) is
// repacked into at load time.
//
// A weight matrix W [rows = out, cols = in] is cut into blocks of one row × `group` input columns. Each block is
//
//     W[r, c] = scale · q[r, c] + bias        (q an unsigned 4- or 8-bit code, c in the block's columns)
//
// with one ck_affine_group {scale, bias} per block, f32. Formats written as (q − zero) · scale store
// bias = −zero · scale (one f32 rounding); MLX's own biases are copied as they are.
//
// Memory layout (ck_matrix fields):
//   data   codes, row-major. CK_AFFINE8: one byte per column, row stride `cols` bytes.
//          CK_AFFINE4: row stride cols/2 bytes; the row is split into 32-column runs, and byte j (0 ≤ j < 16)
//          of a run holds column j in its low nibble and column j + 16 in its high nibble (so one 16-byte load
//          gives 32 columns with one mask and one shift).
//   scale  (const float *) to ck_affine_group [rows][cols / group], row-major.
//   group  columns per block; a multiple of 32 that divides cols (32/64/128 group, or cols for per-channel).
//   perm   NULL, or [cols]: code column c multiplies x[perm[c]] (GPTQ / compressed-tensors act-order: the
//          loader sorts the columns by g_idx so each group is contiguous, and the kernels gather x once
//          per call instead of looking a group up per column).
//
// Exact mode (ck_matrix.exact): y = x · Wᵀ is computed per block as scale · Σ q·x + bias · Σ x with f32 code sums
// and f32 input sums, so the result equals the product with the dequantised f32 weights up to summation order.
//
// Fast mode (the default, as llama.cpp does for its integer formats): each token's activations are rounded to
// int8 per block of the matrix's groups, x ≈ dx · xq with dx = max|x| / 127, before the product. With AVX-512 VNNI
// (and group a multiple of 64) the code × xq products are integer dot products (vpdpbusd: unsigned codes × signed
// activations, exact int32 sums) scaled by scale · dx per group; elsewhere the rounded activations dx · xq go
// through the exact kernels, so every CPU computes the same products.
//
// Activation layout for the VNNI kernel (per token, per 64 columns): for 4-bit codes 32 bytes pairing the low
// nibbles (columns c+j and c+32+j, j < 16) then 32 bytes pairing the high nibbles (c+16+j, c+48+j); for 8-bit
// codes the natural column order.
#include "rows.h"

typedef struct { float scale, bias; } ck_affine_group;

/// Code of column c of row `row` (pointer to the row's first byte).
static inline int ck_affine_code(const uint8_t *row, int32_t dtype, int64_t c) {
    if (dtype == CK_AFFINE8) return row[c];
    uint8_t b = row[(c & ~(int64_t)31) / 2 + (c & 15)];
    return (c & 16) ? b >> 4 : b & 15;
}

static inline int64_t ck_affine_row_bytes(const ck_matrix *w) {
    return w->dtype == CK_AFFINE8 ? w->cols : w->cols / 2;
}

/// Per-call input prepared for the row kernels: x gathered through perm (if any) and Σx per (token, group).
typedef struct {
    const float *x;       // [T, ldx] (gathered copy when perm is set; rounded to the int8 grid in fast mode)
    int64_t ldx;
    const float *xsum;    // [T, groups]
    const int8_t *xq;     // fast mode with VNNI: [T, cols] int8 activations in the kernel's layout, else NULL
    const float *dx;      // fast mode: [T, groups] activation scales
} ck_affine_input;

void ck_affine_rows_plain(const ck_matrix *w, const ck_affine_input *in, int64_t T, float *y, int64_t ldy,
                          int64_t r0, int64_t r1);
#if defined(__x86_64__)
void ck_affine_rows_avx512(const ck_matrix *w, const ck_affine_input *in, int64_t T, float *y, int64_t ldy,
                           int64_t r0, int64_t r1);
void ck_affine_rows_avx2(const ck_matrix *w, const ck_affine_input *in, int64_t T, float *y, int64_t ldy,
                         int64_t r0, int64_t r1);
#endif
#if defined(__x86_64__)
int ck_affine_has_vnni(void);
void ck_affine_rows_vnni(const ck_matrix *w, const ck_affine_input *in, int64_t T, float *y, int64_t ldy,
                         int64_t r0, int64_t r1);
#endif
/// Entry used by ck_linear_rows for CK_AFFINE*: prepares the input and picks the ISA.
void ck_affine_linear_rows(const ck_matrix *w, const float *x, int64_t ldx, int64_t T, float *y, int64_t ldy,
                           int64_t r0, int64_t r1);
/// Dequantises rows [r0, r1) to f32 in code-column order permuted back to input order.
void ck_affine_convert_rows(const ck_matrix *w, int64_t r0, int64_t r1, float *out);
