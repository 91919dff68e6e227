#pragma once
// GLMServe's quantised weight formats (`--quantize q8|q4`, `glmserve quantize`), version 1.
//
// A quantised matrix [rows, cols] is stored row by row; each row is ceil(cols / 32) blocks of 32 consecutive
// weights, the last block of a row padded with zero weights. Blocks are packed back to back (no padding between
// them, so a row of a q8 matrix is 34 · ceil(cols/32) bytes). All fields are little-endian.
//
// The products (linear.c dispatches here): in the fast path the activations are quantised per 32-column block
// to int8 (scale = max|x| / 127, round to nearest even) and each block's dot product is an exact integer sum,
// scaled by (weight scale × activation scale) in f32; in the exact path (`ck_matrix.exact`) the weights are
// dequantised to f32 (exactly, by the rule below) and multiplied with the f32 activations.
#include "CKernels.h"

#define CK_QBLOCK 32

/// `q8`: 8.5 bits per weight. Weight i of the block = f16(d) · qs[i], qs in [-127, 127].
/// d = max|w| / 127 of the block (rounded to f16), qs = round(w / d).
typedef struct {
    uint16_t d;             // f16 scale
    int8_t qs[CK_QBLOCK];
} ck_block_q8;

/// `q4`: 4.5 bits per weight. Byte j of qs holds weight j in its low nibble and weight j + 16 in its high nibble;
/// weight i of the block = f16(d) · (nibble_i − 8), nibbles in [0, 15]. The scale is chosen per block to minimise
/// the squared error over a small set of candidates (see quant_plain.c), not just max|w| / 8.
typedef struct {
    uint16_t d;             // f16 scale
    uint8_t qs[CK_QBLOCK / 2];
} ck_block_q4;

_Static_assert(sizeof(ck_block_q8) == 34, "q8 block is 34 bytes");
_Static_assert(sizeof(ck_block_q4) == 18, "q4 block is 18 bytes");

#ifdef __cplusplus
extern "C" {
#endif

/// Bytes of one row of `cols` weights in a quantised dtype (CK_Q8 / CK_Q4); 0 for any other dtype.
int64_t ck_quant_row_bytes(int32_t dtype, int64_t cols);
/// Quantises rows [r0, r1) of `src` (F32, BF16, F16 or F8_E4M3) into `out` (rows r0 … r1−1 of a `dtype` matrix,
/// i.e. out points at row r0's first block). Deterministic: the same input gives the same bytes on every ISA.
void ck_quantize_rows(int32_t dtype, const ck_matrix *src, int64_t r0, int64_t r1, void *out);
/// Quantises the whole of `src` into `out` on the thread pool.
void ck_quantize(int32_t dtype, const ck_matrix *src, void *out);

#ifdef __cplusplus
}
#endif
