// Element conversions shared by the kernels: BF16, F16 and F8_E4M3 to f32, all exact.
#include "convert.h"
#include "quant_kernels.h"
#include "affine.h"
#include <math.h>

float ck_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    int exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    union { uint32_t u; float f; } v;
    if (exp == 0) {
        float m = ldexpf((float)mant, -24);
        return sign ? -m : m;
    } else if (exp == 31) {
        v.u = sign | 0x7f800000u | (mant << 13);
    } else {
        v.u = sign | ((uint32_t)(exp - 15 + 127) << 23) | (mant << 13);
    }
    return v.f;
}

float ck_f8e4m3_table[256];
static int table_ready = 0;

static float f8e4m3_decode(uint8_t b) {
    int s = b >> 7, e = (b >> 3) & 0xf, m = b & 7;
    float v;
    if (e == 0) v = ldexpf((float)m / 8.0f, -6);
    else if (e == 15 && m == 7) v = NAN;
    else v = ldexpf(1.0f + (float)m / 8.0f, e - 7);
    return s ? -v : v;
}

void ck_prepare_tables(void) {
    if (table_ready) return;
    for (int i = 0; i < 256; i++) ck_f8e4m3_table[i] = f8e4m3_decode((uint8_t)i);
    __atomic_store_n(&table_ready, 1, __ATOMIC_RELEASE);
}

float ck_scale_at(const ck_matrix *w, int64_t r, int64_t c) {
    switch (w->scale_kind) {
    case CK_SCALE_ROW: return w->scale[r];
    case CK_SCALE_BLOCK128: return w->scale[(r / 128) * ((w->cols + 127) / 128) + c / 128];
    default: return 1.0f;
    }
}

int64_t ck_row_bytes(const ck_matrix *w) {
    switch (w->dtype) {
    case CK_F32: return w->cols * 4;
    case CK_BF16: case CK_F16: return w->cols * 2;
    case CK_AFFINE4: case CK_AFFINE8: return ck_affine_row_bytes(w);
    case CK_Q8: case CK_Q4: return ck_quant_row_bytes(w->dtype, w->cols);
    default: return w->cols;
    }
}

void ck_convert_rows(const ck_matrix *w, int64_t r0, int64_t r1, float *out) {
    if (CK_IS_QUANT(w->dtype)) { ck_dequantize_rows(w, r0, r1, out); return; }
    if (w->dtype == CK_AFFINE4 || w->dtype == CK_AFFINE8) { ck_affine_convert_rows(w, r0, r1, out); return; }
    int64_t cols = w->cols;
    for (int64_t r = r0; r < r1; r++) {
        float *o = out + (r - r0) * cols;
        switch (w->dtype) {
        case CK_F32: {
            const float *src = (const float *)w->data + r * cols;
            for (int64_t c = 0; c < cols; c++) o[c] = src[c];
            break;
        }
        case CK_BF16: {
            const uint16_t *src = (const uint16_t *)w->data + r * cols;
            for (int64_t c = 0; c < cols; c++) o[c] = ck_bf16_to_f32(src[c]);
            break;
        }
        case CK_F16: {
            const uint16_t *src = (const uint16_t *)w->data + r * cols;
            for (int64_t c = 0; c < cols; c++) o[c] = ck_f16_to_f32(src[c]);
            break;
        }
        case CK_F8E4M3: {
            ck_prepare_tables();
            const uint8_t *src = (const uint8_t *)w->data + r * cols;
            for (int64_t c = 0; c < cols; c++) o[c] = ck_f8e4m3_table[src[c]] * ck_scale_at(w, r, c);
            break;
        }
        }
    }
}

void ck_row(const ck_matrix *w, int64_t r, float *out) { ck_convert_rows(w, r, r + 1, out); }

static inline uint32_t round_to_bf16_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u | 0x00400000u) & 0xffff0000u;      // NaN stays NaN
    return (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
}

void ck_round_bf16_plain(const float *x, int64_t ldx, int64_t T, int64_t cols, float *out) {
    for (int64_t t = 0; t < T; t++)
        for (int64_t c = 0; c < cols; c++) {
            uint32_t u = round_to_bf16_bits(x[t * ldx + c]);
            memcpy(&out[t * cols + c], &u, 4);
        }
}
