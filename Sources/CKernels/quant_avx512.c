// Quantised weights, AVX-512 with VNNI: vpdpbusd multiplies 64 unsigned weight codes by 64 signed int8
// activations per instruction, two 32-weight blocks (one ck_q8_pair / ck_q4_pair) at a time. q8 codes are made unsigned by flipping their top
// bit (code + 128), q4 nibbles are unsigned already (code + 8); the offset times Σ qx of each block is
// subtracted through the accumulator's starting value (ck_qact.init), so every block sum is exact. Each block
// sum is then scaled by (weight scale × activation scale) into 16 f32 lanes.
#if defined(__x86_64__)
#include "quant_kernels.h"
#include <immintrin.h>

#define AVNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,f16c")))
#define A512 __attribute__((target("avx512f")))
#define INLINE static inline __attribute__((always_inline))
/// Bytes ahead of the code stream that the row kernels prefetch (4 KiB: +15–19 % q4 decode on one thread against
/// 1 KiB, alternating runs on the Air-shaped model; about a DRAM latency of stream ahead).
#ifndef QUANT_PREFETCH
#define QUANT_PREFETCH 4096
#endif

/// Codes of blocks b and b+1 of a row as 64 unsigned bytes in column order (q8: code + 128; q4: code).
INLINE AVNNI __m512i load_pair(int32_t dtype, const uint8_t *codes, int64_t b) {
    if (dtype == CK_Q8)
        return _mm512_xor_si512(_mm512_loadu_si512(codes + b * CK_QBLOCK), _mm512_set1_epi8((char)0x80));
    __m256i v = _mm256_loadu_si256((const __m256i *)(codes + (b / 2) * CK_QBLOCK));
    __m256i mask = _mm256_set1_epi8(0x0f);
    __m256i lo = _mm256_and_si256(v, mask), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), mask);
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/// NR rows × NT tokens over all blocks; writes y. (NR = 1 everywhere: streaming four rows at once was measured
/// at 13 GB/s against 21 GB/s for one row at a time on one core, matrices in DRAM.) Blocks go 16 at a time: their 16 weight scales are one
/// (masked) load and one vcvtph2ps, multiplied by the 16 activation scales per token; each pair of blocks then
/// picks its two scales into lanes 0–7 / 8–15 with one vpermps.
INLINE AVNNI void tile(int32_t dtype, const ck_matrix *w, const ck_qact *a, float *y, int64_t ldy, int64_t r,
                       int NR, int64_t t0, int NT) {
    int64_t row_bytes = ck_quant_row_bytes(dtype, w->cols), nbp = a->nbp, nbq = a->nbq;
    const uint16_t *scales[4];
    const uint8_t *codes[4];
    for (int k = 0; k < NR; k++) {
        scales[k] = ck_qrow_scales(w, r + k, row_bytes);
        codes[k] = ck_qrow_codes(w, r + k, row_bytes, nbp);
    }
    __m512 acc[4][8];
    for (int k = 0; k < NR; k++) for (int t = 0; t < NT; t++) acc[k][t] = _mm512_setzero_ps();
    const __m512i first = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    const __m512i two = _mm512_set1_epi32(2);
    for (int64_t g = 0; g < nbp; g += 16) {
        int64_t ng = nbp - g < 16 ? nbp - g : 16;
        __mmask16 m = (__mmask16)((1u << ng) - 1);
        __m512 s[4][8];
        for (int k = 0; k < NR; k++) {
            __m512 ws = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, scales[k] + g));
            for (int t = 0; t < NT; t++) s[k][t] = _mm512_mul_ps(ws, _mm512_load_ps(a->dx + (t0 + t) * nbq + g));
        }
        __m512i idx = first;
        int64_t b = g;
        if (dtype == CK_Q4) {
            // Four blocks per step: one 64-byte load holds pairs (b, b+1) and (b+2, b+3); its low nibbles are the
            // codes of blocks b and b+2, its high nibbles those of b+1 and b+3. ck_qact_prepare stored this
            // group's activations (and init) in the order b, b+2, b+1, b+3 to match.
            const __m512i mask = _mm512_set1_epi8(0x0f);
            const __m512i odd = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2);
            const __m512i four = _mm512_set1_epi32(4);
            __m512i base = _mm512_setzero_si512();
            for (; b + 4 <= g + ng; b += 4) {
                __m512i lo[4], hi[4];
                for (int k = 0; k < NR; k++) {
                    // Rows are short (2 KiB of q4 codes at 4096 columns): the hardware prefetcher barely ramps up
                    // within one, so the stream (rows are stored one after the other) is prefetched explicitly.
                    _mm_prefetch((const char *)(codes[k] + (b / 2) * CK_QBLOCK + QUANT_PREFETCH), _MM_HINT_T0);
                    __m512i v = _mm512_loadu_si512(codes[k] + (b / 2) * CK_QBLOCK);
                    lo[k] = _mm512_and_si512(v, mask);
                    hi[k] = _mm512_and_si512(_mm512_srli_epi16(v, 4), mask);
                }
                __m512i idx_lo = _mm512_add_epi32(base, odd), idx_hi = _mm512_add_epi32(idx_lo, _mm512_set1_epi32(1));
                for (int t = 0; t < NT; t++) {
                    int64_t tt = t0 + t;
                    const int8_t *qx = a->qx + tt * nbp * 32 + b * 32;
                    const int32_t *init = a->init + tt * nbp * 8 + b * 8;
                    __m512i x_lo = _mm512_load_si512(qx), x_hi = _mm512_load_si512(qx + 64);
                    __m512i i_lo = _mm512_load_si512(init), i_hi = _mm512_load_si512(init + 16);
                    for (int k = 0; k < NR; k++) {
                        __m512i d_lo = _mm512_dpbusd_epi32(i_lo, lo[k], x_lo);
                        __m512i d_hi = _mm512_dpbusd_epi32(i_hi, hi[k], x_hi);
                        acc[k][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d_lo), _mm512_permutexvar_ps(idx_lo, s[k][t]), acc[k][t]);
                        acc[k][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d_hi), _mm512_permutexvar_ps(idx_hi, s[k][t]), acc[k][t]);
                    }
                }
                base = _mm512_add_epi32(base, four);
            }
            idx = _mm512_add_epi32(first, base);
        }
        for (; b < g + ng; b += 2) {
            __m512i wv[4];
            for (int k = 0; k < NR; k++) {
                _mm_prefetch((const char *)(codes[k] + (dtype == CK_Q8 ? b : b / 2) * CK_QBLOCK + QUANT_PREFETCH), _MM_HINT_T0);
                wv[k] = load_pair(dtype, codes[k], b);
            }
            for (int t = 0; t < NT; t++) {
                int64_t tt = t0 + t;
                __m512i xv = _mm512_load_si512(a->qx + tt * nbp * 32 + b * 32);
                __m512i init = _mm512_load_si512(a->init + tt * nbp * 8 + b * 8);
                for (int k = 0; k < NR; k++) {
                    __m512i dot = _mm512_dpbusd_epi32(init, wv[k], xv);
                    acc[k][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_permutexvar_ps(idx, s[k][t]), acc[k][t]);
                }
            }
            idx = _mm512_add_epi32(idx, two);
        }
    }
    for (int k = 0; k < NR; k++) for (int t = 0; t < NT; t++) y[(t0 + t) * ldy + r + k] = _mm512_reduce_add_ps(acc[k][t]);
}

#define TILE_CASES(DT)                                                                                          \
    static AVNNI void tiles_##DT(const ck_matrix *w, const ck_qact *a, float *y, int64_t ldy, int64_t r0, int64_t r1) { \
        int64_t r = r0;                                                                                          \
        for (; r < r1; r++) {                                                                                    \
            for (int64_t t0 = 0; t0 < a->T; t0 += 8) {                                                           \
                int64_t nt = a->T - t0 < 8 ? a->T - t0 : 8;                                                     \
                switch (nt) {                                                                                    \
                case 1: tile(DT, w, a, y, ldy, r, 1, t0, 1); break;                                              \
                case 2: tile(DT, w, a, y, ldy, r, 1, t0, 2); break;                                              \
                case 3: tile(DT, w, a, y, ldy, r, 1, t0, 3); break;                                              \
                case 4: tile(DT, w, a, y, ldy, r, 1, t0, 4); break;                                              \
                case 5: tile(DT, w, a, y, ldy, r, 1, t0, 5); break;                                              \
                case 6: tile(DT, w, a, y, ldy, r, 1, t0, 6); break;                                              \
                case 7: tile(DT, w, a, y, ldy, r, 1, t0, 7); break;                                              \
                default: tile(DT, w, a, y, ldy, r, 1, t0, 8); break;                                             \
                }                                                                                                \
            }                                                                                                    \
        }                                                                                                        \
    }
TILE_CASES(CK_Q8)
TILE_CASES(CK_Q4)

void ck_qrows_avx512(const ck_matrix *w, const ck_qact *a, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    if (w->dtype == CK_Q8) tiles_CK_Q8(w, a, y, ldy, r0, r1);
    else tiles_CK_Q4(w, a, y, ldy, r0, r1);
}

/// Same results as qact_quantize_plain (quant_plain.c): max|x| per block, q = round-to-nearest-even(x · 127/max).
A512 void ck_qact_quantize_avx512(const float *x, int64_t cols, int64_t nbp, int32_t offset, int8_t *qx, float *dx,
                                  int32_t *init) {
    const __m512 limit = _mm512_set1_ps(127.0f), low = _mm512_set1_ps(-127.0f);
    for (int64_t b = 0; b < nbp; b++) {
        int64_t c0 = b * CK_QBLOCK, n = cols - c0 < CK_QBLOCK ? cols - c0 : CK_QBLOCK;
        if (n < 0) n = 0;
        __mmask16 m0 = n >= 16 ? 0xffff : (__mmask16)((1u << n) - 1);
        __mmask16 m1 = n >= 32 ? 0xffff : n <= 16 ? 0 : (__mmask16)((1u << (n - 16)) - 1);
        __m512 v0 = _mm512_maskz_loadu_ps(m0, x + c0), v1 = _mm512_maskz_loadu_ps(m1, x + c0 + 16);
        __m512 mag = _mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1));
        float amax = _mm512_reduce_max_ps(mag);
        float id = amax > 0.0f ? 127.0f / amax : 0.0f;
        __m512 idv = _mm512_set1_ps(id);
        __m512 q0 = _mm512_roundscale_ps(_mm512_mul_ps(v0, idv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m512 q1 = _mm512_roundscale_ps(_mm512_mul_ps(v1, idv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        q0 = _mm512_max_ps(_mm512_min_ps(q0, limit), low);
        q1 = _mm512_max_ps(_mm512_min_ps(q1, limit), low);
        __m512i i0 = _mm512_cvttps_epi32(q0), i1 = _mm512_cvttps_epi32(q1);
        _mm_storeu_si128((__m128i *)(qx + c0), _mm512_cvtsepi32_epi8(i0));
        _mm_storeu_si128((__m128i *)(qx + c0 + 16), _mm512_cvtsepi32_epi8(i1));
        int32_t sum = _mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
        dx[b] = amax / 127.0f;
        _mm256_storeu_si256((__m256i *)(init + b * 8), _mm256_setr_epi32(-offset * sum, 0, 0, 0, 0, 0, 0, 0));
    }
}
#endif

// ---------------------------------------------------------------- prefill with the BF16 GEMM

#if defined(__x86_64__)
#define ABF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,f16c")))

/// Dequantises rows [r0, r1) to BF16 (weights rounded to nearest even), `ld` = cols apart. Writes whole blocks, so
/// `out` needs 32 values of slack after the last row; rows are written in order, each over the previous one's
/// padding.
static ABF16 void dequantize_rows_bf16(const ck_matrix *w, int64_t r0, int64_t r1, uint16_t *out) {
    int64_t cols = w->cols, nbp = ck_qblocks_padded(cols), row_bytes = ck_quant_row_bytes(w->dtype, cols);
    int64_t nb = (cols + CK_QBLOCK - 1) / CK_QBLOCK;
    for (int64_t r = r0; r < r1; r++) {
        const uint16_t *scales = ck_qrow_scales(w, r, row_bytes);
        const uint8_t *codes = ck_qrow_codes(w, r, row_bytes, nbp);
        uint16_t *o = out + (r - r0) * cols;
        for (int64_t b = 0; b < nb; b++) {
            __m512 d = _mm512_set1_ps(_cvtsh_ss(scales[b]));
            __m512i lo, hi;
            if (w->dtype == CK_Q8) {
                const int8_t *q = (const int8_t *)codes + b * CK_QBLOCK;
                lo = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)q));
                hi = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(q + 16)));
            } else {
                __m256i v = _mm256_loadu_si256((const __m256i *)(codes + (b / 2) * CK_QBLOCK));
                if (b & 1) v = _mm256_srli_epi16(v, 4);
                v = _mm256_sub_epi8(_mm256_and_si256(v, _mm256_set1_epi8(0x0f)), _mm256_set1_epi8(8));
                lo = _mm512_cvtepi8_epi32(_mm256_castsi256_si128(v));
                hi = _mm512_cvtepi8_epi32(_mm256_extracti128_si256(v, 1));
            }
            __m512 flo = _mm512_mul_ps(_mm512_cvtepi32_ps(lo), d), fhi = _mm512_mul_ps(_mm512_cvtepi32_ps(hi), d);
            _mm512_storeu_si512(o + b * CK_QBLOCK, (__m512i)_mm512_cvtne2ps_pbh(fhi, flo));
        }
    }
}

static __thread uint16_t *bf16_tile = NULL;
static __thread size_t bf16_tile_capacity = 0;

void ck_quant_gemm_bf16(const ck_matrix *w, const uint32_t *panels, int64_t kpairs, int64_t T, float *y, int64_t ldy,
                        int64_t r0, int64_t r1) {
    size_t need = (size_t)((r1 - r0) * w->cols + CK_QBLOCK);
    if (need > bf16_tile_capacity) {
        free(bf16_tile);
        bf16_tile = aligned_alloc(64, (need * 2 + 63) & ~(size_t)63);
        bf16_tile_capacity = bf16_tile ? need : 0;
        if (!bf16_tile) abort();
    }
    dequantize_rows_bf16(w, r0, r1, bf16_tile);
    ck_matrix tile = {bf16_tile, NULL, r1 - r0, w->cols, CK_BF16, CK_SCALE_NONE, 0};
    ck_gemm_bf16dot(&tile, panels, kpairs, T, y + r0, ldy, 0, r1 - r0);
}
#endif
