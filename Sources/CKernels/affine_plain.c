// Group-affine integer weights: input preparation, the ISA dispatch, the plain C row kernel (the reference the
// SIMD paths are tested against) and dequantisation to f32 for the OpenBLAS prefill path. Format: affine.h.
#include "affine.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

void ck_affine_rows_plain(const ck_matrix *w, const ck_affine_input *in, int64_t T, float *y, int64_t ldy,
                          int64_t r0, int64_t r1) {
    int64_t cols = w->cols, group = w->group, groups = cols / group, stride = ck_affine_row_bytes(w);
    const ck_affine_group *blocks = (const ck_affine_group *)w->scale;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = (const uint8_t *)w->data + r * stride;
        for (int64_t t = 0; t < T; t++) {
            const float *xt = in->x + t * in->ldx;
            float total = 0.0f;
            for (int64_t g = 0; g < groups; g++) {
                float part = 0.0f;
                for (int64_t c = g * group; c < (g + 1) * group; c++) part += (float)ck_affine_code(row, w->dtype, c) * xt[c];
                const ck_affine_group b = blocks[r * groups + g];
                total += b.scale * part + b.bias * in->xsum[t * groups + g];
            }
            y[t * ldy + r] = total;
        }
    }
}

static __thread float *gather_buffer = NULL, *sum_buffer = NULL, *scale_buffer = NULL;
static __thread size_t gather_capacity = 0, sum_capacity = 0, scale_capacity = 0;
static __thread int8_t *quant_buffer = NULL, *row_buffer = NULL;
static __thread size_t quant_capacity = 0, row_capacity = 0;

static void *grow(void **buffer, size_t *capacity, size_t need) {
    if (need > *capacity) {
        free(*buffer);
        *buffer = malloc(need);
        *capacity = *buffer ? need : 0;
        if (!*buffer) abort();
    }
    return *buffer;
}

void ck_affine_linear_rows(const ck_matrix *w, const float *x, int64_t ldx, int64_t T, float *y, int64_t ldy,
                           int64_t r0, int64_t r1) {
    int64_t cols = w->cols, group = w->group, groups = cols / group;
    ck_affine_input in = {x, ldx, NULL, NULL, NULL};
    if (w->perm || !w->exact) {
        float *g = grow((void **)&gather_buffer, &gather_capacity, (size_t)(T * cols) * sizeof(float));
        for (int64_t t = 0; t < T; t++)
            for (int64_t c = 0; c < cols; c++) g[t * cols + c] = x[t * ldx + (w->perm ? w->perm[c] : c)];
        in.x = g;
        in.ldx = cols;
    }
#if defined(__x86_64__)
    int vnni = !w->exact && ck_isa() >= 2 && ck_affine_has_vnni() && group % 64 == 0;
#else
    int vnni = 0;
#endif
    if (!w->exact) {
        // Fast mode: round every (token, group) block of activations to int8, x ≈ dx · xq.
        float *gx = (float *)in.x;
        float *dx = grow((void **)&scale_buffer, &scale_capacity, (size_t)(T * groups) * sizeof(float));
        int8_t *xq = vnni ? grow((void **)&quant_buffer, &quant_capacity, (size_t)(T * cols)) : NULL;
        int8_t *row8 = xq ? grow((void **)&row_buffer, &row_capacity, (size_t)cols) : NULL;
        for (int64_t t = 0; t < T; t++) {
            float *xt = gx + t * cols;
            for (int64_t b = 0; b < groups; b++) {
                float *xb = xt + b * group;
                float amax = 0.0f;
                for (int64_t c = 0; c < group; c++) amax = fmaxf(amax, fabsf(xb[c]));
                float d = amax / 127.0f, inv = amax > 0.0f ? 127.0f / amax : 0.0f;
                dx[t * groups + b] = d;
                for (int64_t c = 0; c < group; c++) {   // contiguous, so the compiler vectorises it
                    float v = xb[c] * inv;                // round half away from zero (|v| ≤ 127), no libm call
                    int32_t q = (int32_t)(v + (v >= 0.0f ? 0.5f : -0.5f));
                    if (row8) row8[b * group + c] = (int8_t)q;
                    xb[c] = (float)q * d;
                }
            }
            if (xq) {
                int8_t *out = xq + t * cols;
                if (w->dtype == CK_AFFINE8) memcpy(out, row8, (size_t)cols);
                else
                    for (int64_t u = 0; u < cols; u += 64) {   // the 4-bit layout of affine.h, 16 bytes at a time
                        memcpy(out + u, row8 + u, 16);
                        memcpy(out + u + 16, row8 + u + 32, 16);
                        memcpy(out + u + 32, row8 + u + 16, 16);
                        memcpy(out + u + 48, row8 + u + 48, 16);
                    }
            }
        }
        in.xq = xq;
        in.dx = dx;
    }
    float *s = grow((void **)&sum_buffer, &sum_capacity, (size_t)(T * groups) * sizeof(float));
    for (int64_t t = 0; t < T; t++)
        for (int64_t g = 0; g < groups; g++) {
            float sum = 0.0f;
            for (int64_t c = g * group; c < (g + 1) * group; c++) sum += in.x[t * in.ldx + c];
            s[t * groups + g] = sum;
        }
    in.xsum = s;
#if defined(__x86_64__)
    if (vnni) { ck_affine_rows_vnni(w, &in, T, y, ldy, r0, r1); return; }
    int isa = ck_isa();
    if (isa >= 2) { ck_affine_rows_avx512(w, &in, T, y, ldy, r0, r1); return; }   // level 3 adds nothing here
    if (isa == 1) { ck_affine_rows_avx2(w, &in, T, y, ldy, r0, r1); return; }
#endif
    ck_affine_rows_plain(w, &in, T, y, ldy, r0, r1);
}

void ck_affine_convert_rows(const ck_matrix *w, int64_t r0, int64_t r1, float *out) {
    int64_t cols = w->cols, group = w->group, groups = cols / group, stride = ck_affine_row_bytes(w);
    const ck_affine_group *blocks = (const ck_affine_group *)w->scale;
    float run[32];
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = (const uint8_t *)w->data + r * stride;
        float *o = out + (r - r0) * cols;
        for (int64_t c = 0; c < cols; c += 32) {     // one 32-column run (group is a multiple of 32)
            const ck_affine_group b = blocks[r * groups + c / group];
            if (w->dtype == CK_AFFINE4) {
                const uint8_t *p = row + c / 2;
                for (int j = 0; j < 16; j++) {
                    run[j] = b.scale * (float)(p[j] & 15) + b.bias;
                    run[j + 16] = b.scale * (float)(p[j] >> 4) + b.bias;
                }
            } else {
                for (int j = 0; j < 32; j++) run[j] = b.scale * (float)row[c + j] + b.bias;
            }
            if (w->perm) for (int j = 0; j < 32; j++) o[w->perm[c + j]] = run[j];
            else memcpy(o + c, run, sizeof(run));
        }
    }
}

void ck_unpack_words(const void *words, int64_t count, int32_t bits, uint8_t *out) {
    const unsigned char *p = words;
    int per = 32 / bits;
    uint32_t mask = (1u << bits) - 1;
    for (int64_t i = 0; i < count; i++) {
        uint32_t w;
        memcpy(&w, p + 4 * i, 4);
        for (int j = 0; j < per; j++) out[i * per + j] = (uint8_t)((w >> (bits * j)) & mask);
    }
}

void ck_pack_nibble_runs(const uint8_t *codes, int64_t rows, int64_t cols, uint8_t *out) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c += 32) {
            const uint8_t *run = codes + r * cols + c;
            uint8_t *o = out + r * (cols / 2) + c / 2;
            for (int j = 0; j < 16; j++) o[j] = (uint8_t)(run[j] | (run[j + 16] << 4));
        }
}
