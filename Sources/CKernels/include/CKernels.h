#pragma once
#include <stddef.h>
#include <stdint.h>
// Placeholder: the engine's hot loops (BF16/F32 matrix-vector, ...) live here.
int ck_version(void);
