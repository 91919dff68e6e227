// The fast path on CPUs with AVX512_BF16: BF16 and FP8 weights times activations rounded to BF16, with
// `vdpbf16ps` (32 products of BF16 pairs accumulated into 16 f32 lanes per instruction). linear.c rounds the
// activations once per product (`ck_prepare_bf16_rows` / `ck_pack_bf16_panels`) and calls these per pool chunk.
//
// FP8 E4M3 codes become BF16 in registers, exactly: a normal code s.eeee.mmm is the BF16 s.(eeee+120).mmm0000;
// a subnormal (eeee = 0) is m·2⁻⁹, looked up in an 8-entry table. The two NaN codes come out as ±480 here (real
// checkpoints hold none; the exact path keeps them NaN).
//
// Two shapes:
// - rows (1–15 tokens: decode, batched decode, MTP verification): every weight row is read once for all tokens,
//   4 rows × up to 4 tokens per pass, masked loads for the last <32 columns;
// - GEMM (16 or more tokens: prefill): activations packed into panels of 32 tokens × K/2 BF16 pairs; a 12-row ×
//   32-token microkernel broadcasts one weight pair per row and multiplies it into two 16-token vectors, so no
//   horizontal sums are needed and each weight pair is read once per panel. FP8 rows are first converted to
//   BF16 (scale applied, rounded to nearest) 12 at a time.
#if defined(__x86_64__)
#include "rows.h"
#include <immintrin.h>
#include <stdlib.h>

#define ABF __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

static inline ABF __m512 dot(__m512 acc, __m512i a, __m512i b) { return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b); }

/// BF16 bit patterns of the E4M3 subnormals m·2⁻⁹, m = 0…7 (index = the code's low bits; entries 8… unused).
static const uint16_t subnormal_bf16[32] = {0x0000, 0x3b00, 0x3b80, 0x3bc0, 0x3c00, 0x3c20, 0x3c40, 0x3c60};

/// 32 E4M3 codes (those in `mask`, the rest zero) as BF16 bit patterns.
static inline ABF __m512i f8_to_bf16(const uint8_t *p, __mmask32 mask) {
    __m512i v = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(mask, p));
    __m512i mag = _mm512_add_epi16(_mm512_and_si512(_mm512_slli_epi16(v, 4), _mm512_set1_epi16(0x07f0)),
                                   _mm512_set1_epi16(0x3c00));
    __mmask32 sub = _mm512_testn_epi16_mask(v, _mm512_set1_epi16(0x78));            // exponent field zero
    mag = _mm512_mask_permutexvar_epi16(mag, sub, v, _mm512_loadu_si512(subnormal_bf16));
    // mag | (sign bit moved to bit 15)
    return _mm512_ternarylogic_epi32(mag, _mm512_slli_epi16(v, 8), _mm512_set1_epi16((short)0x8000), 0xf8);
}

static inline ABF __m512i bf16_load(const uint16_t *p, __mmask32 mask) { return _mm512_maskz_loadu_epi16(mask, p); }

static inline ABF __mmask32 tail_mask(int64_t n) { return n >= 32 ? 0xffffffffu : (__mmask32)((1u << n) - 1u); }

/// Sums of four vectors: lane i of the result is the sum of v_i's 16 lanes.
static inline ABF __m128 reduce4(__m512 a, __m512 b, __m512 c, __m512 d) {
    // 128-bit lanes: ab = [a0+a2, a1+a3, b0+b2, b1+b3], cd likewise, then lane i of abcd holds 4 partials of v_i.
    __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xee));
    __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x44), _mm512_shuffle_f32x4(c, d, 0xee));
    __m512 abcd = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88), _mm512_shuffle_f32x4(ab, cd, 0xdd));
    __m512 s = _mm512_add_ps(abcd, _mm512_permute_ps(abcd, 0x4e));
    s = _mm512_add_ps(s, _mm512_permute_ps(s, 0xb1));         // every slot of lane i: the total of v_i
    return _mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), s));
}

// ---------------------------------------------------------------- rows (few tokens)

/// Rows [r0, r1) of `w` against T tokens of BF16 activations `xb` ([T][ldb], zero beyond `w->cols`, ldb a multiple
/// of 32). FP8 partial sums are scaled per 128-column block or per row.
#define DEFINE_ROWS(NAME, ELEM, LOADW)                                                                          \
ABF static void NAME(const ck_matrix *w, const uint16_t *xb, int64_t ldb, int64_t T, float *y, int64_t ldy,   \
                     int64_t r0, int64_t r1) {                                                                 \
    const ELEM *base = (const ELEM *)w->data;                                                                  \
    const int64_t cols = w->cols;                                                                              \
    const int blocked = w->scale_kind == CK_SCALE_BLOCK128;                                                    \
    const int64_t block = blocked ? 128 : cols;                                                                \
    int64_t r = r0;                                                                                            \
    if (T == 1) {                                                                                              \
        for (; r + 4 <= r1; r += 4) {                                                                          \
            const ELEM *w0 = base + r * cols, *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols;               \
            __m512 t0 = _mm512_setzero_ps(), t1 = t0, t2 = t0, t3 = t0;                                        \
            for (int64_t b0 = 0; b0 < cols; b0 += block) {                                                     \
                int64_t b1 = b0 + block < cols ? b0 + block : cols;                                            \
                __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                    \
                for (int64_t c = b0; c < b1; c += 32) {                                                        \
                    __mmask32 m = tail_mask(b1 - c);                                                           \
                    __m512i xv = _mm512_loadu_si512(xb + c);                                                   \
                    a0 = dot(a0, LOADW(w0 + c, m), xv);                                                        \
                    a1 = dot(a1, LOADW(w1 + c, m), xv);                                                        \
                    a2 = dot(a2, LOADW(w2 + c, m), xv);                                                        \
                    a3 = dot(a3, LOADW(w3 + c, m), xv);                                                        \
                }                                                                                              \
                if (blocked) {                                                                                 \
                    t0 = _mm512_fmadd_ps(a0, _mm512_set1_ps(ck_scale_at(w, r, b0)), t0);                      \
                    t1 = _mm512_fmadd_ps(a1, _mm512_set1_ps(ck_scale_at(w, r + 1, b0)), t1);                  \
                    t2 = _mm512_fmadd_ps(a2, _mm512_set1_ps(ck_scale_at(w, r + 2, b0)), t2);                  \
                    t3 = _mm512_fmadd_ps(a3, _mm512_set1_ps(ck_scale_at(w, r + 3, b0)), t3);                  \
                } else {                                                                                       \
                    t0 = a0; t1 = a1; t2 = a2; t3 = a3;                                                        \
                }                                                                                              \
            }                                                                                                  \
            __m128 sums = reduce4(t0, t1, t2, t3);                                                             \
            if (w->scale_kind == CK_SCALE_ROW) sums = _mm_mul_ps(sums, _mm_loadu_ps(w->scale + r));            \
            _mm_storeu_ps(y + r, sums);                                                                        \
        }                                                                                                      \
    } else {                                                                                                   \
        /* 4 rows × 4 tokens per pass; a short last group repeats its first token (computed, not stored). */  \
        for (; r + 4 <= r1; r += 4) {                                                                          \
            const ELEM *w0 = base + r * cols, *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols;               \
            for (int64_t g = 0; g < T; g += 4) {                                                               \
                int64_t nt = T - g < 4 ? T - g : 4;                                                            \
                const uint16_t *x0 = xb + g * ldb;                                                             \
                const uint16_t *x1 = nt > 1 ? x0 + ldb : x0, *x2 = nt > 2 ? x0 + 2 * ldb : x0;                 \
                const uint16_t *x3 = nt > 3 ? x0 + 3 * ldb : x0;                                               \
                __m512 t[4][4];                                                                                \
                for (int i = 0; i < 4; i++) for (int k = 0; k < 4; k++) t[i][k] = _mm512_setzero_ps();         \
                for (int64_t b0 = 0; b0 < cols; b0 += block) {                                                 \
                    int64_t b1 = b0 + block < cols ? b0 + block : cols;                                        \
                    __m512 a[4][4];                                                                            \
                    for (int i = 0; i < 4; i++) for (int k = 0; k < 4; k++) a[i][k] = _mm512_setzero_ps();     \
                    for (int64_t c = b0; c < b1; c += 32) {                                                    \
                        __mmask32 m = tail_mask(b1 - c);                                                       \
                        __m512i wv[4] = {LOADW(w0 + c, m), LOADW(w1 + c, m), LOADW(w2 + c, m), LOADW(w3 + c, m)}; \
                        __m512i xv[4] = {_mm512_loadu_si512(x0 + c), _mm512_loadu_si512(x1 + c),               \
                                         _mm512_loadu_si512(x2 + c), _mm512_loadu_si512(x3 + c)};              \
                        for (int i = 0; i < 4; i++)                                                            \
                            for (int k = 0; k < 4; k++) a[i][k] = dot(a[i][k], wv[i], xv[k]);                  \
                    }                                                                                          \
                    for (int i = 0; i < 4; i++) {                                                              \
                        __m512 sc = _mm512_set1_ps(blocked ? ck_scale_at(w, r + i, b0) : 1.0f);                \
                        for (int k = 0; k < 4; k++) t[i][k] = _mm512_fmadd_ps(a[i][k], sc, t[i][k]);           \
                    }                                                                                          \
                }                                                                                              \
                for (int k = 0; k < 4; k++) {                                                                  \
                    if (k >= nt) break;                                                                        \
                    __m128 sums = reduce4(t[0][k], t[1][k], t[2][k], t[3][k]);                                 \
                    if (w->scale_kind == CK_SCALE_ROW) sums = _mm_mul_ps(sums, _mm_loadu_ps(w->scale + r));    \
                    _mm_storeu_ps(y + (g + k) * ldy + r, sums);                                                \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
    }                                                                                                          \
    for (; r < r1; r++) {                                                                                      \
        const ELEM *row = base + r * cols;                                                                     \
        for (int64_t t = 0; t < T; t++) {                                                                      \
            const uint16_t *xt = xb + t * ldb;                                                                 \
            float total = 0;                                                                                   \
            for (int64_t b0 = 0; b0 < cols; b0 += block) {                                                     \
                int64_t b1 = b0 + block < cols ? b0 + block : cols;                                            \
                __m512 acc = _mm512_setzero_ps();                                                              \
                for (int64_t c = b0; c < b1; c += 32)                                                          \
                    acc = dot(acc, LOADW(row + c, tail_mask(b1 - c)), _mm512_loadu_si512(xt + c));             \
                total += _mm512_reduce_add_ps(acc) * (blocked ? ck_scale_at(w, r, b0) : 1.0f);                 \
            }                                                                                                  \
            y[t * ldy + r] = w->scale_kind == CK_SCALE_ROW ? total * w->scale[r] : total;                      \
        }                                                                                                      \
    }                                                                                                          \
}

DEFINE_ROWS(rows_bf16, uint16_t, bf16_load)
DEFINE_ROWS(rows_f8, uint8_t, f8_to_bf16)

void ck_rows_bf16dot(const ck_matrix *w, const uint16_t *xb, int64_t ldb, int64_t T, float *y, int64_t ldy,
                     int64_t r0, int64_t r1) {
    if (w->dtype == CK_BF16) rows_bf16(w, xb, ldb, T, y, ldy, r0, r1);
    else rows_f8(w, xb, ldb, T, y, ldy, r0, r1);
}

// ---------------------------------------------------------------- activations

/// Rounds T rows of f32 activations to BF16 (nearest even): out [T][ldb], zero-padded to ldb (multiple of 32).
ABF void ck_round_bf16_avx512(const float *x, int64_t ldx, int64_t T, int64_t cols, uint16_t *out, int64_t ldb) {
    for (int64_t t = 0; t < T; t++) {
        const float *src = x + t * ldx;
        uint16_t *dst = out + t * ldb;
        for (int64_t c = 0; c < ldb; c += 16) {
            int64_t n = cols - c;
            __mmask16 m = n >= 16 ? 0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1u);
            __m512 v = _mm512_maskz_loadu_ps(m, src + c);
            _mm256_storeu_si256((__m256i *)(dst + c), (__m256i)_mm512_cvtneps_pbh(v));
        }
    }
}

/// Packs T tokens of BF16 activations ([T][ldb]) into panels of 32 tokens: panel p holds, for each pair index
/// kp < kpairs, tokens p·32 … p·32+31 as 32-bit BF16 pairs (x[t][2kp], x[t][2kp+1]); missing tokens are zero.
void ck_pack_bf16_panels(const uint16_t *xb, int64_t ldb, int64_t T, int64_t kpairs, uint32_t *panels) {
    int64_t P = (T + 31) / 32;
    for (int64_t p = 0; p < P; p++) {
        uint32_t *panel = panels + p * kpairs * 32;
        for (int64_t t = 0; t < 32; t++) {
            int64_t tok = p * 32 + t;
            if (tok < T) {
                const uint32_t *src = (const uint32_t *)(xb + tok * ldb);
                for (int64_t kp = 0; kp < kpairs; kp++) panel[kp * 32 + t] = src[kp];
            } else {
                for (int64_t kp = 0; kp < kpairs; kp++) panel[kp * 32 + t] = 0;
            }
        }
    }
}

// ---------------------------------------------------------------- GEMM (many tokens)

/// NR weight rows (BF16, row stride `ld` elements) × one 32-token panel over kpairs pairs; writes the valid tokens
/// (`nt` ≤ 32) of the result into y[t][ldy] at column `r`.
#define DEFINE_MICRO(NR)                                                                                       \
ABF static void micro_##NR(const uint16_t *w, int64_t ld, const uint32_t *panel, int64_t kpairs, int64_t nt,   \
                           float *y, int64_t ldy, int64_t r) {                                                 \
    __m512 a0[NR], a1[NR];                                                                                     \
    for (int i = 0; i < NR; i++) { a0[i] = _mm512_setzero_ps(); a1[i] = _mm512_setzero_ps(); }                 \
    const uint32_t *wp[NR];                                                                                    \
    for (int i = 0; i < NR; i++) wp[i] = (const uint32_t *)(w + i * ld);                                       \
    for (int64_t kp = 0; kp < kpairs; kp++) {                                                                  \
        __m512i x0 = _mm512_loadu_si512(panel + kp * 32), x1 = _mm512_loadu_si512(panel + kp * 32 + 16);       \
        for (int i = 0; i < NR; i++) {                                                                         \
            __m512i b = _mm512_set1_epi32((int)wp[i][kp]);                                                     \
            a0[i] = dot(a0[i], x0, b);                                                                         \
            a1[i] = dot(a1[i], x1, b);                                                                         \
        }                                                                                                      \
    }                                                                                                          \
    float out[32];                                                                                             \
    for (int i = 0; i < NR; i++) {                                                                             \
        _mm512_storeu_ps(out, a0[i]);                                                                          \
        _mm512_storeu_ps(out + 16, a1[i]);                                                                     \
        for (int64_t t = 0; t < nt; t++) y[t * ldy + r + i] = out[t];                                          \
    }                                                                                                          \
}
DEFINE_MICRO(12)
DEFINE_MICRO(4)
DEFINE_MICRO(1)

static __thread uint16_t *convert_buffer = NULL;
static __thread size_t convert_capacity = 0;

/// Rows [r0, r1) of an FP8 matrix as BF16 (code × scale, rounded to nearest even); row stride kpairs·2.
ABF static void f8_rows_to_bf16(const ck_matrix *w, int64_t r0, int64_t r1, uint16_t *out, int64_t ld) {
    int64_t cols = w->cols;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *src = (const uint8_t *)w->data + r * cols;
        uint16_t *dst = out + (r - r0) * ld;
        for (int64_t c = 0; c < ld; c += 32) {
            __mmask32 m = c < cols ? tail_mask(cols - c) : 0;
            __m512i bits = f8_to_bf16(src + c, m);
            // widen to f32 (BF16 → f32 is a shift), scale, round back
            __m512 lo = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(bits)), 16));
            __m512 hi = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(bits, 1)), 16));
            __m512 s = _mm512_set1_ps(ck_scale_at(w, r, c < cols ? c : 0));
            __m512bh packed = _mm512_cvtne2ps_pbh(_mm512_mul_ps(hi, s), _mm512_mul_ps(lo, s));
            _mm512_storeu_si512(dst + c, (__m512i)packed);
        }
    }
}

/// Rows [r0, r1) of y = x·Wᵀ for T tokens packed by `ck_pack_bf16_panels` (kpairs = ceil(cols / 2)).
/// BF16 weights are read in place (cols must be even); FP8 weights are converted 12 rows at a time.
void ck_gemm_bf16dot(const ck_matrix *w, const uint32_t *panels, int64_t kpairs, int64_t T, float *y, int64_t ldy,
                     int64_t r0, int64_t r1) {
    const int64_t P = (T + 31) / 32;
    const int f8 = w->dtype == CK_F8E4M3;
    const int64_t ld = f8 ? ((kpairs * 2 + 31) & ~(int64_t)31) : w->cols;
    if (f8) {
        size_t need = (size_t)12 * (size_t)ld;
        if (need > convert_capacity) {
            free(convert_buffer);
            convert_buffer = aligned_alloc(64, need * sizeof(uint16_t));
            convert_capacity = convert_buffer ? need : 0;
            if (!convert_buffer) abort();
        }
    }
    for (int64_t r = r0; r < r1;) {
        int64_t nr = r1 - r >= 12 ? 12 : r1 - r >= 4 ? 4 : 1;
        const uint16_t *rows;
        if (f8) {
            f8_rows_to_bf16(w, r, r + nr, convert_buffer, ld);
            rows = convert_buffer;
        } else {
            rows = (const uint16_t *)w->data + r * w->cols;
        }
        for (int64_t p = 0; p < P; p++) {
            int64_t nt = T - p * 32 < 32 ? T - p * 32 : 32;
            const uint32_t *panel = panels + p * kpairs * 32;
            float *yp = y + p * 32 * ldy;
            if (nr == 12) micro_12(rows, ld, panel, kpairs, nt, yp, ldy, r);
            else if (nr == 4) micro_4(rows, ld, panel, kpairs, nt, yp, ldy, r);
            else micro_1(rows, ld, panel, kpairs, nt, yp, ldy, r);
        }
        r += nr;
    }
}
#endif
