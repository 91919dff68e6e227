#pragma once
// GLMServe's quantised weight formats (`--quantize q8|q4`, `glmserve quantize`), version 1.
//
// A quantised matrix [rows, cols] is stored row by row. A row is nb = ceil(cols / 32) blocks of 32 consecutive
// weights, padded to an even count nbp (a padding block has scale 0); the last real block is padded with zero
// weights. Each block has one f16 scale d and 32 codes. The row keeps the scales and the codes apart, so that
// the kernels load 16 scales or 64 codes with one instruction:
//
//     row = ck_scales[nbp] (f16, little-endian) followed by the codes of the nbp blocks
//
// q8 (8.5 bits per weight): 32 int8 codes per block (ck_q8_pair: two blocks), weight i = d · code_i, codes in
//     [−127, 127]; d = max|w| / 127 over the block (rounded to f16), code = round(w / d).
// q4 (4.5 bits per weight): blocks 2p and 2p+1 share 32 bytes (ck_q4_pair): byte j holds code j of block 2p in
//     its low nibble and code j of block 2p+1 in its high nibble; weight = d · (code − 8), codes in [0, 15]. The
//     scale is the one, among a few candidates, with the least squared error (see quant_plain.c).
//
// The products (linear.c dispatches here): in the fast path the activations are quantised per 32-column block
// to int8 (scale = max|x| / 127, round to nearest even) and each block's dot product is an exact integer sum,
// scaled by (weight scale × activation scale) in f32 — for up to 8 tokens per read of a row; prefill (16 tokens
// or more) dequantises tiles of rows to BF16 for the BF16 GEMM where the CPU has AVX512_BF16 (else to f32 for
// sgemm). In the exact path (`ck_matrix.exact`) the weights are dequantised to f32 (exactly, by the rules above)
// and multiplied with the f32 activations.
#include "CKernels.h"

#define CK_QBLOCK 32

/// The codes of two consecutive q8 blocks.
typedef struct {
    int8_t qs[2][CK_QBLOCK];
} ck_q8_pair;

/// The codes of two consecutive q4 blocks, interleaved by nibble: lo[j] = block 0's code j, hi[j] = block 1's.
typedef struct {
    uint8_t qs[CK_QBLOCK];   // qs[j] = code(block 0, j) | code(block 1, j) << 4
} ck_q4_pair;

_Static_assert(sizeof(ck_q8_pair) == 64, "q8 pair is 64 bytes");
_Static_assert(sizeof(ck_q4_pair) == 32, "q4 pair is 32 bytes");

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
