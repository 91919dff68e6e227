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
//   BF16 a chunk at a time: exactly with per-row scales (applied to the sums), code × scale rounded to nearest with
//   128×128 block scales.
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

// ---------------------------------------------------------------- rows (few tokens)

/// Rows [r0, r1) of `w` against T tokens of BF16 activations `xb` ([T][ldb], zero beyond `w->cols`, ldb a multiple
/// of 32). One row at a time, read front to back: a single sequential stream per thread is what the hardware
/// prefetcher serves best (measured here: 4 interleaved rows streamed ~15 % slower). Each token keeps four
/// accumulators over consecutive 32-column steps (hiding the dot-product latency); a row's weights are loaded once
/// for up to NT = 4 tokens. Every token's sum is formed in the same order whatever T is, so a sequence decoded in a
/// batch (or in MTP verification) gets bit-identical results to one decoded alone. FP8 partial sums are scaled per
/// 128-column block or per row.
#define DEFINE_ROWS(NAME, ELEM, LOADW)                                                                          \
static inline __attribute__((always_inline)) ABF void NAME##_group(                                          \
        const ck_matrix *w, const ELEM *row, int64_t r, const uint16_t *const xs[4], const int NT, float out[4]) { \
    const int64_t cols = w->cols;                                                                              \
    const int blocked = w->scale_kind == CK_SCALE_BLOCK128;                                                    \
    const int64_t block = blocked ? 128 : cols;                                                                \
    __m512 total[4];                                                                                           \
    for (int k = 0; k < NT; k++) total[k] = _mm512_setzero_ps();                                               \
    for (int64_t b0 = 0; b0 < cols; b0 += block) {                                                             \
        int64_t b1 = b0 + block < cols ? b0 + block : cols, c = b0;                                            \
        __m512 a[4][4];                                                                                        \
        for (int k = 0; k < NT; k++) for (int j = 0; j < 4; j++) a[k][j] = _mm512_setzero_ps();                \
        for (; c + 128 <= b1; c += 128) {                                                                      \
            for (int j = 0; j < 4; j++) {                                                                      \
                __m512i wv = LOADW(row + c + 32 * j, 0xffffffffu);                                             \
                for (int k = 0; k < NT; k++) a[k][j] = dot(a[k][j], wv, _mm512_loadu_si512(xs[k] + c + 32 * j)); \
            }                                                                                                  \
        }                                                                                                      \
        for (; c < b1; c += 32) {                                                                              \
            __m512i wv = LOADW(row + c, tail_mask(b1 - c));                                                    \
            for (int k = 0; k < NT; k++) a[k][0] = dot(a[k][0], wv, _mm512_loadu_si512(xs[k] + c));            \
        }                                                                                                      \
        __m512 sc = _mm512_set1_ps(blocked ? ck_scale_at(w, r, b0) : 1.0f);                                    \
        for (int k = 0; k < NT; k++) {                                                                         \
            __m512 sum = _mm512_add_ps(_mm512_add_ps(a[k][0], a[k][1]), _mm512_add_ps(a[k][2], a[k][3]));      \
            total[k] = blocked ? _mm512_fmadd_ps(sum, sc, total[k]) : sum;                                     \
        }                                                                                                      \
    }                                                                                                          \
    const float row_scale = w->scale_kind == CK_SCALE_ROW ? w->scale[r] : 1.0f;                                \
    for (int k = 0; k < NT; k++) out[k] = _mm512_reduce_add_ps(total[k]) * row_scale;                          \
}                                                                                                              \
ABF static void NAME(const ck_matrix *w, const uint16_t *xb, int64_t ldb, int64_t T, float *y, int64_t ldy,   \
                     int64_t r0, int64_t r1) {                                                                 \
    const ELEM *base = (const ELEM *)w->data;                                                                  \
    for (int64_t r = r0; r < r1; r++) {                                                                        \
        const ELEM *row = base + r * w->cols;                                                                  \
        for (int64_t g = 0; g < T; g += 4) {                                                                   \
            int64_t nt = T - g < 4 ? T - g : 4;                                                                \
            const uint16_t *xs[4];                                                                             \
            for (int k = 0; k < 4; k++) xs[k] = xb + (g + (k < nt ? k : 0)) * ldb;                             \
            float out[4];                                                                                      \
            if (nt == 1) NAME##_group(w, row, r, xs, 1, out);                                                  \
            else NAME##_group(w, row, r, xs, 4, out);     /* a short group repeats its first token */         \
            for (int64_t k = 0; k < nt; k++) y[(g + k) * ldy + r] = out[k];                                    \
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
/// (`nt` ≤ 32) of the result into y[t][ldy] at column `r`, times row_scale[r + i] when given.
#define DEFINE_MICRO(NR)                                                                                       \
ABF static void micro_##NR(const uint16_t *w, int64_t ld, const uint32_t *panel, int64_t kpairs, int64_t nt,   \
                           float *y, int64_t ldy, int64_t r, const float *row_scale) {                         \
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
        float s = row_scale ? row_scale[r + i] : 1.0f;                                                         \
        for (int64_t t = 0; t < nt; t++) y[t * ldy + r + i] = out[t] * s;                                      \
    }                                                                                                          \
}
DEFINE_MICRO(12)
DEFINE_MICRO(4)
DEFINE_MICRO(1)

static __thread uint16_t *convert_buffer = NULL;
static __thread size_t convert_capacity = 0;

/// Rows [r0, r1) of an FP8 matrix as BF16. With per-row scales (the official releases) the codes are converted
/// exactly and the scale is applied to the finished sums; with 128×128 block scales each element is code × scale,
/// rounded to nearest even.
ABF static void f8_rows_to_bf16(const ck_matrix *w, int64_t r0, int64_t r1, uint16_t *out, int64_t ld) {
    int64_t cols = w->cols;
    const int scaled = w->scale_kind == CK_SCALE_BLOCK128;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *src = (const uint8_t *)w->data + r * cols;
        uint16_t *dst = out + (r - r0) * ld;
        for (int64_t c = 0; c < ld; c += 32) {
            __mmask32 m = c < cols ? tail_mask(cols - c) : 0;
            __m512i bits = f8_to_bf16(src + c, m);
            if (!scaled) {
                _mm512_storeu_si512(dst + c, bits);
                continue;
            }
            // widen to f32 (BF16 → f32 is a shift), scale, round back
            __m512 lo = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(bits)), 16));
            __m512 hi = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(bits, 1)), 16));
            __m512 s = _mm512_set1_ps(ck_scale_at(w, r, c < cols ? c : 0));
            __m512bh packed = _mm512_cvtne2ps_pbh(_mm512_mul_ps(hi, s), _mm512_mul_ps(lo, s));
            _mm512_storeu_si512(dst + c, (__m512i)packed);
        }
    }
}

/// Rows [r0, r1) of any other dtype (widened by ck_convert_rows) as BF16, rounded to nearest even.
static __thread float *wide_row = NULL;
static __thread size_t wide_capacity = 0;

ABF static void any_rows_to_bf16(const ck_matrix *w, int64_t r0, int64_t r1, uint16_t *out, int64_t ld) {
    int64_t cols = w->cols;
    if ((size_t)cols > wide_capacity) {              // one row of f32, kept per thread across chunks
        free(wide_row);
        wide_row = malloc((size_t)cols * sizeof(float));
        wide_capacity = wide_row ? (size_t)cols : 0;
        if (!wide_row) abort();
    }
    for (int64_t r = r0; r < r1; r++) {
        ck_convert_rows(w, r, r + 1, wide_row);
        ck_round_bf16_avx512(wide_row, cols, 1, cols, out + (r - r0) * ld, ld);
    }
}

/// Rows [r0, r1) of y = x·Wᵀ for T tokens packed by `ck_pack_bf16_panels` (kpairs = ceil(cols / 2)).
/// BF16 weights are read in place (cols must be even); FP8 rows (and those of any other compressed dtype) are
/// converted to BF16 first, all of the chunk's rows at once. Panels are the outer loop: one 32-token panel (kpairs × 128 bytes) and the chunk's rows both stay
/// in L2 while every row group runs against the panel.
void ck_gemm_bf16dot(const ck_matrix *w, const uint32_t *panels, int64_t kpairs, int64_t T, float *y, int64_t ldy,
                     int64_t r0, int64_t r1) {
    const int64_t P = (T + 31) / 32;
    const int converted = w->dtype != CK_BF16;
    const int64_t ld = converted ? ((kpairs * 2 + 31) & ~(int64_t)31) : w->cols;
    const uint16_t *rows = (const uint16_t *)w->data + r0 * w->cols;
    if (converted) {
        size_t need = (size_t)(r1 - r0) * (size_t)ld;
        if (need > convert_capacity) {
            free(convert_buffer);
            convert_buffer = aligned_alloc(64, need * sizeof(uint16_t));
            convert_capacity = convert_buffer ? need : 0;
            if (!convert_buffer) abort();
        }
        if (w->dtype == CK_F8E4M3) f8_rows_to_bf16(w, r0, r1, convert_buffer, ld);
        else any_rows_to_bf16(w, r0, r1, convert_buffer, ld);
        rows = convert_buffer;
    }
    const float *row_scale = w->dtype == CK_F8E4M3 && w->scale_kind == CK_SCALE_ROW ? w->scale : NULL;
    for (int64_t p = 0; p < P; p++) {
        int64_t nt = T - p * 32 < 32 ? T - p * 32 : 32;
        const uint32_t *panel = panels + p * kpairs * 32;
        float *yp = y + p * 32 * ldy;
        for (int64_t r = r0; r < r1;) {
            const uint16_t *group = rows + (r - r0) * ld;
            if (r1 - r >= 12) { micro_12(group, ld, panel, kpairs, nt, yp, ldy, r, row_scale); r += 12; }
            else if (r1 - r >= 4) { micro_4(group, ld, panel, kpairs, nt, yp, ldy, r, row_scale); r += 4; }
            else { micro_1(group, ld, panel, kpairs, nt, yp, ldy, r, row_scale); r += 1; }
        }
    }
}
#endif
