#pragma once
#include "CKernels.h"
#include <string.h>

static inline float ck_bf16_to_f32(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
float ck_f16_to_f32(uint16_t h);
extern float ck_f8e4m3_table[256];
void ck_prepare_tables(void);
float ck_scale_at(const ck_matrix *w, int64_t r, int64_t c);
