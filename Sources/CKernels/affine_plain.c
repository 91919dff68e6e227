// Group-affine integer weights: input preparation, the ISA dispatch, the plain C row kernel (the reference the
// SIMD paths are tested against) and dequantisation to f32 for the OpenBLAS prefill path. Format: affine.h.
#include "affine.h"
#include <stdlib.h>

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

static __thread float *gather_buffer = NULL, *sum_buffer = NULL;
static __thread size_t gather_capacity = 0, sum_capacity = 0;

static float *grow(float **buffer, size_t *capacity, size_t need) {
    if (need > *capacity) {
        free(*buffer);
        *buffer = malloc(need * sizeof(float));
        *capacity = *buffer ? need : 0;
    }
    return *buffer;
}

void ck_affine_linear_rows(const ck_matrix *w, const float *x, int64_t ldx, int64_t T, float *y, int64_t ldy,
                           int64_t r0, int64_t r1) {
    int64_t cols = w->cols, groups = cols / w->group;
    ck_affine_input in = {x, ldx, NULL};
    if (w->perm) {
        float *g = grow(&gather_buffer, &gather_capacity, (size_t)(T * cols));
        if (!g) abort();
        for (int64_t t = 0; t < T; t++)
            for (int64_t c = 0; c < cols; c++) g[t * cols + c] = x[t * ldx + w->perm[c]];
        in.x = g;
        in.ldx = cols;
    }
    float *s = grow(&sum_buffer, &sum_capacity, (size_t)(T * groups));
    if (!s) abort();
    for (int64_t t = 0; t < T; t++)
        for (int64_t g = 0; g < groups; g++) {
            float sum = 0.0f;
            for (int64_t c = g * w->group; c < (g + 1) * w->group; c++) sum += in.x[t * in.ldx + c];
            s[t * groups + g] = sum;
        }
    in.xsum = s;
#if defined(__x86_64__)
    int isa = ck_isa();
    if (isa >= 2) { ck_affine_rows_avx512(w, &in, T, y, ldy, r0, r1); return; }   // level 3 (AVX512_BF16) adds nothing here
    if (isa == 1) { ck_affine_rows_avx2(w, &in, T, y, ldy, r0, r1); return; }
#endif
    ck_affine_rows_plain(w, &in, T, y, ldy, r0, r1);
}

void ck_affine_convert_rows(const ck_matrix *w, int64_t r0, int64_t r1, float *out) {
    int64_t cols = w->cols, group = w->group, groups = cols / group, stride = ck_affine_row_bytes(w);
    const ck_affine_group *blocks = (const ck_affine_group *)w->scale;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = (const uint8_t *)w->data + r * stride;
        float *o = out + (r - r0) * cols;
        for (int64_t c = 0; c < cols; c++) {
            const ck_affine_group b = blocks[r * groups + c / group];
            float v = b.scale * (float)ck_affine_code(row, w->dtype, c) + b.bias;
            o[w->perm ? w->perm[c] : c] = v;
        }
    }
}
