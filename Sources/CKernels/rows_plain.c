// Plain C row kernels (any CPU): the reference every SIMD path is tested against, and the FP8 path for CPUs
// without AVX-512.
#include "rows.h"

float ck_load_scalar(const void *data, int32_t dtype, int64_t i) {
    switch (dtype) {
    case CK_F32: return ((const float *)data)[i];
    case CK_BF16: return ck_bf16_to_f32(((const uint16_t *)data)[i]);
    case CK_F16: return ck_f16_to_f32(((const uint16_t *)data)[i]);
    default: return ck_f8e4m3_table[((const uint8_t *)data)[i]];
    }
}

/// One row against up to TOKENS_PER_PASS tokens, columns [c0, cols), scalar. Adds into acc[t].
void ck_row_tail(const ck_matrix *w, int64_t r, int64_t c0, const float *x, int64_t ldx, int64_t nt,
                 float *acc) {
    int64_t cols = w->cols;
    for (int64_t c = c0; c < cols; c++) {
        float wv = ck_load_scalar(w->data, w->dtype, r * cols + c);
        for (int64_t t = 0; t < nt; t++) acc[t] += wv * x[t * ldx + c];
    }
}

/// FP8 rows: partial sums per 128-column block, each multiplied by its scale (per-row or per-block).
void ck_rows_fp8_plain(const ck_matrix *w, const float *x, int64_t ldx, int64_t T, float *y, int64_t ldy,
                     int64_t r0, int64_t r1) {
    ck_prepare_tables();
    int64_t cols = w->cols;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = (const uint8_t *)w->data + r * cols;
        for (int64_t t = 0; t < T; t++) {
            const float *xt = x + t * ldx;
            float total = 0.0f;
            for (int64_t c0 = 0; c0 < cols; c0 += 128) {
                int64_t c1 = c0 + 128 < cols ? c0 + 128 : cols;
                float part = 0.0f;
                for (int64_t c = c0; c < c1; c++) part += ck_f8e4m3_table[row[c]] * xt[c];
                total += part * ck_scale_at(w, r, c0);
            }
            y[t * ldy + r] = total;
        }
    }
}

void ck_rows_plain(const ck_matrix *w, const float *x, int64_t ldx, int64_t T, float *y, int64_t ldy,
                       int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
        for (int64_t t0 = 0; t0 < T; t0 += TOKENS_PER_PASS) {
            int64_t nt = T - t0 < TOKENS_PER_PASS ? T - t0 : TOKENS_PER_PASS;
            float acc[TOKENS_PER_PASS] = {0};
            ck_row_tail(w, r, 0, x + t0 * ldx, ldx, nt, acc);
            for (int64_t t = 0; t < nt; t++) y[(t0 + t) * ldy + r] = acc[t];
        }
    }
}
