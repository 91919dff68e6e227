// Quantised weights (quant.h), plain C: quantisation of weights and activations, dequantisation, the reference
// integer dot product every SIMD path is tested against, the exact path, and the dispatch between ISAs.
#include "quant_kernels.h"
#include <math.h>
#include <stdlib.h>

// Quantisation must give the same bytes on every machine: no fused multiply-adds in this file.
#pragma STDC FP_CONTRACT OFF

uint16_t ck_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7bffu);        // ≥ 65520: saturate to the largest finite
    if (ax < 0x38800000u) {                                            // f16 subnormal (or zero): units of 2^-24
        float v;
        memcpy(&v, &ax, 4);
        return (uint16_t)(sign | (uint32_t)nearbyintf(v * 16777216.0f));
    }
    uint32_t h = ((((ax >> 23) - 127 + 15) << 10) | ((ax & 0x7fffffu) >> 13));
    uint32_t rest = ax & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

int64_t ck_quant_row_bytes(int32_t dtype, int64_t cols) {
    int64_t nbp = ck_qblocks_padded(cols);
    if (dtype == CK_Q8) return nbp * (2 + CK_QBLOCK);
    if (dtype == CK_Q4) return nbp * (2 + CK_QBLOCK / 2);
    return 0;
}

// ---------------------------------------------------------------- weight quantisation

/// One q8 block: its f16 scale and 32 codes.
static uint16_t quantize_block_q8(const float *w, int8_t *codes) {
    float amax = 0.0f;
    for (int i = 0; i < CK_QBLOCK; i++) amax = fmaxf(amax, fabsf(w[i]));
    uint16_t dh = ck_f32_to_f16(amax / 127.0f);
    float d = ck_f16_to_f32(dh), id = d > 0.0f ? 1.0f / d : 0.0f;
    for (int i = 0; i < CK_QBLOCK; i++) {
        float q = ck_round_even(fminf(fmaxf(w[i] * id, -127.0f), 127.0f));
        codes[i] = (int8_t)q;
    }
    return dh;
}

/// Codes q_i = clamp(round(w_i / d), −8, 7) with scale d (reciprocal `id`).
static void q4_codes(const float *w, float id, float *q) {
    for (int i = 0; i < CK_QBLOCK; i++) q[i] = ck_round_even(fminf(fmaxf(w[i] * id, -8.0f), 7.0f));
}

/// Σ a_i · b_i in a fixed order (four interleaved partial sums, then combined), so the compiler may vectorise it
/// and every build gives the same bits.
static float dot32(const float *a, const float *b) {
    float s[4] = {0, 0, 0, 0};
    for (int i = 0; i < CK_QBLOCK; i += 4)
        for (int k = 0; k < 4; k++) s[k] += a[i + k] * b[i + k];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

/// The weight of largest magnitude m is mapped to each candidate code v (d = m / v); for each, the codes are
/// fitted by least squares (d = Σ w q / Σ q²), the scale rounded to f16, the codes recomputed with it, and the
/// candidate with the smallest squared error wins. v = −8 alone would be ggml's Q4_0.
static const float q4_candidates[] = {-8.0f, -7.5f, -7.0f, -6.5f, 7.0f, 7.5f};

/// One q4 block: its f16 scale and 32 codes in [0, 15].
static uint16_t quantize_block_q4(const float *w, uint8_t *codes) {
    float m = 0.0f;
    for (int i = 0; i < CK_QBLOCK; i++) if (fabsf(w[i]) > fabsf(m)) m = w[i];
    float q[CK_QBLOCK], best_q[CK_QBLOCK] = {0}, e[CK_QBLOCK];
    uint16_t best_d = 0;
    float best_err = INFINITY;
    if (m != 0.0f) {
        for (size_t k = 0; k < sizeof(q4_candidates) / sizeof(q4_candidates[0]); k++) {
            q4_codes(w, q4_candidates[k] / m, q);
            float qq = dot32(q, q);
            if (qq == 0.0f) continue;
            uint16_t dh = ck_f32_to_f16(dot32(w, q) / qq);
            float d = ck_f16_to_f32(dh);
            q4_codes(w, d != 0.0f ? 1.0f / d : 0.0f, q);
            for (int i = 0; i < CK_QBLOCK; i++) { float p = d * q[i]; e[i] = w[i] - p; }
            float err = dot32(e, e);
            if (err < best_err) { best_err = err; best_d = dh; memcpy(best_q, q, sizeof q); }
        }
    }
    for (int i = 0; i < CK_QBLOCK; i++) codes[i] = (uint8_t)((int)best_q[i] + 8);
    return best_d;
}

static __thread float *row_buffer = NULL;
static __thread int64_t row_capacity = 0;

/// A thread-local f32 buffer of at least n values (NULL when out of memory).
static float *scratch(int64_t n) {
    if (n > row_capacity) {
        free(row_buffer);
        row_buffer = malloc((size_t)n * sizeof(float));
        row_capacity = row_buffer ? n : 0;
    }
    return row_buffer;
}

void ck_quantize_rows(int32_t dtype, const ck_matrix *src, int64_t r0, int64_t r1, void *out) {
    int64_t cols = src->cols, nbp = ck_qblocks_padded(cols), row_bytes = ck_quant_row_bytes(dtype, cols);
    float *buf = scratch(nbp * CK_QBLOCK);
    if (!buf || row_bytes == 0) abort();     // out of memory for one row, or a caller bug: nothing sensible to do
    for (int64_t r = r0; r < r1; r++) {
#if defined(__x86_64__)
        if (ck_isa() >= 2) ck_convert_rows_avx512(src, r, r + 1, buf);
        else
#endif
        ck_convert_rows(src, r, r + 1, buf);
        for (int64_t c = cols; c < nbp * CK_QBLOCK; c++) buf[c] = 0.0f;
        uint8_t *o = (uint8_t *)out + (r - r0) * row_bytes;
        uint16_t *scales = (uint16_t *)o;        // row_bytes is even, so every row's scales are 2-byte aligned
        uint8_t *codes = o + nbp * 2;
        for (int64_t b = 0; b < nbp; b += 2) {
            if (dtype == CK_Q8) {
                scales[b] = quantize_block_q8(buf + b * CK_QBLOCK, (int8_t *)codes + b * CK_QBLOCK);
                scales[b + 1] = quantize_block_q8(buf + (b + 1) * CK_QBLOCK, (int8_t *)codes + (b + 1) * CK_QBLOCK);
            } else {
                uint8_t c0[CK_QBLOCK], c1[CK_QBLOCK];
                scales[b] = quantize_block_q4(buf + b * CK_QBLOCK, c0);
                scales[b + 1] = quantize_block_q4(buf + (b + 1) * CK_QBLOCK, c1);
                uint8_t *pair = codes + (b / 2) * CK_QBLOCK;
                for (int j = 0; j < CK_QBLOCK; j++) pair[j] = (uint8_t)(c0[j] | (c1[j] << 4));
            }
        }
    }
}

typedef struct { int32_t dtype; const ck_matrix *src; void *out; int64_t per; } quantize_job;

static void quantize_chunk(void *ctx, int64_t chunk, int thread) {
    (void)thread;
    const quantize_job *j = ctx;
    int64_t r0 = chunk * j->per, r1 = r0 + j->per < j->src->rows ? r0 + j->per : j->src->rows;
    ck_quantize_rows(j->dtype, j->src, r0, r1, (uint8_t *)j->out + r0 * ck_quant_row_bytes(j->dtype, j->src->cols));
}

void ck_quantize(int32_t dtype, const ck_matrix *src, void *out) {
    quantize_job job = {dtype, src, out, 16};
    ck_parallel_for((src->rows + job.per - 1) / job.per, quantize_chunk, &job);
}

void ck_dequantize_rows(const ck_matrix *w, int64_t r0, int64_t r1, float *out) {
    int64_t cols = w->cols, nbp = ck_qblocks_padded(cols), row_bytes = ck_quant_row_bytes(w->dtype, cols);
    for (int64_t r = r0; r < r1; r++) {
        const uint16_t *scales = ck_qrow_scales(w, r, row_bytes);
        const uint8_t *codes = ck_qrow_codes(w, r, row_bytes, nbp);
        float *o = out + (r - r0) * cols;
        for (int64_t b = 0; b * CK_QBLOCK < cols; b++) {
            float d = ck_f16_to_f32(scales[b]);
            int64_t c0 = b * CK_QBLOCK, n = cols - c0 < CK_QBLOCK ? cols - c0 : CK_QBLOCK;
            if (w->dtype == CK_Q8) {
                const int8_t *q = (const int8_t *)codes + c0;
                for (int64_t i = 0; i < n; i++) o[c0 + i] = d * (float)q[i];
            } else {
                const uint8_t *pair = codes + (b / 2) * CK_QBLOCK;
                int shift = (b & 1) * 4;
                for (int64_t i = 0; i < n; i++) o[c0 + i] = d * (float)(((pair[i] >> shift) & 15) - 8);
            }
        }
    }
}

// ---------------------------------------------------------------- activation quantisation

static int64_t align64(int64_t n) { return (n + 63) & ~(int64_t)63; }
static int64_t padded16(int64_t n) { return (n + 15) & ~(int64_t)15; }

size_t ck_qact_bytes(int64_t cols, int64_t T) {
    int64_t nbp = ck_qblocks_padded(cols);
    return (size_t)(align64(T * nbp * 32) + align64(T * padded16(nbp) * 4) + align64(T * nbp * 8 * 4));
}

static void qact_quantize_plain(const float *x, int64_t cols, int64_t nbp, int32_t offset, int8_t *qx, float *dx,
                                int32_t *init) {
    for (int64_t b = 0; b < nbp; b++) {
        int64_t c0 = b * CK_QBLOCK, n = cols - c0 < CK_QBLOCK ? cols - c0 : CK_QBLOCK;
        float amax = 0.0f;
        for (int64_t i = 0; i < n; i++) amax = fmaxf(amax, fabsf(x[c0 + i]));
        float id = amax > 0.0f ? 127.0f / amax : 0.0f;
        int32_t sum = 0;
        for (int64_t i = 0; i < CK_QBLOCK; i++) {
            float q = i < n ? ck_round_even(fminf(fmaxf(x[c0 + i] * id, -127.0f), 127.0f)) : 0.0f;
            qx[c0 + i] = (int8_t)q;
            sum += (int32_t)q;
        }
        dx[b] = amax / 127.0f;
        for (int i = 0; i < 8; i++) init[b * 8 + i] = 0;
        init[b * 8] = -offset * sum;
    }
}

#if defined(__x86_64__)
static int has_vnni(void);
#endif

/// Whether ck_qrows will run the AVX-512 VNNI kernel (which wants q4 activations regrouped, see below).
static int uses_vnni(void) {
#if defined(__x86_64__)
    return ck_isa() >= 2 && has_vnni();
#else
    return 0;
#endif
}

/// For the VNNI q4 kernel: in every full group of four blocks (b ≡ 0 mod 4), blocks b+1 and b+2 change places
/// (their values and init vectors), so that one 64-byte load of codes meets its activations in order.
static void regroup_q4(int8_t *qx, int32_t *init, int64_t nbp) {
    for (int64_t b = 0; b + 4 <= nbp; b += 4) {
        int8_t tq[32];
        int32_t ti[8];
        memcpy(tq, qx + (b + 1) * 32, 32); memcpy(qx + (b + 1) * 32, qx + (b + 2) * 32, 32); memcpy(qx + (b + 2) * 32, tq, 32);
        memcpy(ti, init + (b + 1) * 8, 32); memcpy(init + (b + 1) * 8, init + (b + 2) * 8, 32); memcpy(init + (b + 2) * 8, ti, 32);
    }
}

void ck_qact_prepare(int32_t dtype, const float *x, int64_t ldx, int64_t T, int64_t cols, void *mem, ck_qact *a) {
    int64_t nbp = ck_qblocks_padded(cols), nbq = padded16(nbp);
    a->T = T; a->nb = (cols + CK_QBLOCK - 1) / CK_QBLOCK; a->nbp = nbp; a->nbq = nbq;
    a->qx = mem;
    a->dx = (float *)((uint8_t *)mem + align64(T * nbp * 32));
    a->init = (int32_t *)((uint8_t *)a->dx + align64(T * nbq * 4));
    int32_t offset = dtype == CK_Q8 ? 128 : 8;
    int regroup = dtype == CK_Q4 && uses_vnni();
    for (int64_t t = 0; t < T; t++) {
        float *dx = a->dx + t * nbq;
        for (int64_t b = nbp; b < nbq; b++) dx[b] = 0.0f;
#if defined(__x86_64__)
        if (ck_isa() >= 2) ck_qact_quantize_avx512(x + t * ldx, cols, nbp, offset, a->qx + t * nbp * 32, dx,
                                                   a->init + t * nbp * 8);
        else
#endif
        qact_quantize_plain(x + t * ldx, cols, nbp, offset, a->qx + t * nbp * 32, dx, a->init + t * nbp * 8);
        if (regroup) regroup_q4(a->qx + t * nbp * 32, a->init + t * nbp * 8, nbp);
    }
}

// ---------------------------------------------------------------- products

void ck_qrows_plain(const ck_matrix *w, const ck_qact *a, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    int64_t row_bytes = ck_quant_row_bytes(w->dtype, w->cols), nbp = a->nbp;
    for (int64_t r = r0; r < r1; r++) {
        const uint16_t *scales = ck_qrow_scales(w, r, row_bytes);
        const uint8_t *codes = ck_qrow_codes(w, r, row_bytes, nbp);
        for (int64_t t = 0; t < a->T; t++) {
            const int8_t *qx = a->qx + t * nbp * 32;
            const float *dx = a->dx + t * a->nbq;
            const int32_t *init = a->init + t * nbp * 8;
            float acc = 0.0f;
            for (int64_t b = 0; b < a->nb; b++) {
                int32_t isum = init[b * 8];
                if (w->dtype == CK_Q8) {
                    const int8_t *q = (const int8_t *)codes + b * CK_QBLOCK;
                    for (int i = 0; i < CK_QBLOCK; i++) isum += ((int32_t)q[i] + 128) * qx[b * 32 + i];
                } else {
                    const uint8_t *pair = codes + (b / 2) * CK_QBLOCK;
                    int shift = (b & 1) * 4;
                    for (int i = 0; i < CK_QBLOCK; i++) isum += ((pair[i] >> shift) & 15) * qx[b * 32 + i];
                }
                acc += ck_f16_to_f32(scales[b]) * dx[b] * (float)isum;
            }
            y[t * ldy + r] = acc;
        }
    }
}

#if defined(__x86_64__)
static int has_vnni(void) {
    static int known = -1;
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw")
             && __builtin_cpu_supports("avx512vl");
    }
    return known;
}
#endif

void ck_qrows(const ck_matrix *w, const ck_qact *a, float *y, int64_t ldy, int64_t r0, int64_t r1) {
#if defined(__x86_64__)
    int isa = ck_isa();
    if (isa >= 2 && has_vnni()) { ck_qrows_avx512(w, a, y, ldy, r0, r1); return; }
    if (isa >= 1) { ck_qrows_avx2(w, a, y, ldy, r0, r1); return; }
#endif
    ck_qrows_plain(w, a, y, ldy, r0, r1);
}

static __thread void *act_buffer = NULL;
static __thread size_t act_capacity = 0;

void ck_quant_linear_rows(const ck_matrix *w, const float *x, int64_t ldx, int64_t T, float *y, int64_t ldy,
                          int64_t r0, int64_t r1) {
    if (w->exact) {
        // Dequantise a few rows at a time and multiply them exactly with the f32 row kernels.
        int64_t per = 8;
        float *buf = scratch(per * w->cols);
        if (!buf) abort();
        for (int64_t r = r0; r < r1; r += per) {
            int64_t n = r1 - r < per ? r1 - r : per;
            ck_dequantize_rows(w, r, r + n, buf);
            ck_matrix f = {buf, NULL, n, w->cols, CK_F32, CK_SCALE_NONE, 1};
            ck_linear_rows(&f, x, ldx, T, y + r, ldy, 0, n);
        }
        return;
    }
    size_t need = ck_qact_bytes(w->cols, T);
    if (need > act_capacity) {
        free(act_buffer);
        act_buffer = aligned_alloc(64, (need + 63) & ~(size_t)63);
        act_capacity = act_buffer ? need : 0;
        if (!act_buffer) abort();
    }
    ck_qact a;
    ck_qact_prepare(w->dtype, x, ldx, T, w->cols, act_buffer, &a);
    ck_qrows(w, &a, y, ldy, r0, r1);
}
