#pragma once
#include <stddef.h>
#include <stdint.h>

// Hot loops of the GLMServe engine. Weights are read in their checkpoint dtype (straight from the mmap);
// activations and accumulation are f32. Every entry point picks an AVX-512 / AVX2 / plain implementation at
// run time (cpuid), so one binary runs on any x86-64 (and the plain path on anything else).

#ifdef __cplusplus
extern "C" {
#endif

/// Weight element types understood by the kernels.
typedef enum { CK_F32 = 0, CK_BF16 = 1, CK_F16 = 2, CK_F8E4M3 = 3,
               CK_Q8 = 4, CK_Q4 = 5,                          // GLMServe's own block formats: see quant.h
               CK_AFFINE4 = 16, CK_AFFINE8 = 17 } ck_dtype;   // group-affine integer codes: see affine.h
/// True for the block-quantised dtypes of quant.h.
#define CK_IS_QUANT(dtype) ((dtype) == CK_Q8 || (dtype) == CK_Q4)

/// How an F8_E4M3 matrix is scaled: one f32 per output row ([rows, 1]) or one per 128×128 block.
typedef enum { CK_SCALE_NONE = 0, CK_SCALE_ROW = 1, CK_SCALE_BLOCK128 = 2 } ck_scale_kind;

/// A row-major weight matrix [rows, cols] (`y = x · Wᵀ`). `data` points into the mapped checkpoint.
typedef struct {
    const void *data;
    const float *scale;      // f32 scales for CK_F8E4M3; (scale, bias) pairs for CK_AFFINE* (affine.h); else NULL
    int64_t rows, cols;
    int32_t dtype;           // ck_dtype
    int32_t scale_kind;      // ck_scale_kind
    int32_t exact;           // non-zero: f32-exact products (`--exact`); zero: the fast path (see linear.c)
    int32_t group;           // CK_AFFINE*: input columns per (scale, bias) pair; else 0
    const int32_t *perm;     // CK_AFFINE*: optional [cols] column order (act-order): code column c multiplies x[perm[c]]
} ck_matrix;

/// Instruction set picked by the dispatcher: 2 = AVX-512F, 1 = AVX2+FMA, 0 = plain C.
int ck_isa(void);
/// Force a lower instruction set (tests compare the paths); returns the level in force.
int ck_set_isa(int level);

// ---- thread pool (persistent pthreads, the caller participates) ----
/// Starts the pool with `threads` threads in total (the caller counts as one). Idempotent; 0 = one per CPU.
void ck_pool_start(int threads);
int ck_pool_threads(void);
/// Pins pool thread `worker` (1 ..< threads; 0 is the submitting thread, never pinned) to `cpu`, or lets it run
/// on every CPU when `cpu` < 0. Returns 0 or an errno value (EINVAL: no such worker or CPU).
int ck_pool_set_affinity(int worker, int cpu);
typedef void (*ck_task_fn)(void *ctx, int64_t chunk, int thread);
/// Runs fn(ctx, c, thread) for c in 0..<chunks on the pool and returns when all are done.
void ck_parallel_for(int64_t chunks, ck_task_fn fn, void *ctx);

// ---- linear layers ----
/// y[t, r] = Σ_c W[r, c] · x[t, c] (+ bias[r]) for t < T; x is [T, ldx], y is [T, ldy]. Parallel over rows.
/// Small T (≤ 8 per pass) streams every weight row once for all tokens; large T converts row tiles to f32 and
/// calls OpenBLAS sgemm per tile (one tile per pool chunk).
void ck_linear(const ck_matrix *w, const float *x, int64_t ldx, int64_t T, float *y, int64_t ldy,
               const float *bias);
/// One product of a batched call: y = x · Wᵀ (+ bias) for T tokens.
typedef struct {
    const ck_matrix *w;
    const float *x;
    int64_t ldx, T;
    float *y;
    int64_t ldy;
    const float *bias;      // [rows] or NULL
} ck_linear_task;
/// Runs several independent products as one pool job (e.g. gate and up of every active expert), so a decode
/// step pays one fork-join per stage instead of one per matrix.
void ck_linear_many(const ck_linear_task *tasks, int64_t count);
/// Same, single-threaded, rows [r0, r1) only, streaming path (used by tests and by fused callers).
void ck_linear_rows(const ck_matrix *w, const float *x, int64_t ldx, int64_t T, float *y, int64_t ldy,
                    int64_t r0, int64_t r1);
/// Dequantises rows [r0, r1) of W into out ([(r1-r0), cols] f32).
void ck_convert_rows(const ck_matrix *w, int64_t r0, int64_t r1, float *out);
/// Row `r` of W as f32 (embedding lookup).
void ck_row(const ck_matrix *w, int64_t r, float *out);

/// Load-time repacking helpers for group-affine matrices (Sources/CKernels/affine.h): `count` little-endian 32-bit
/// words, each holding 32/bits codes (code j at bits j·bits), become one code per byte in `out`.
void ck_unpack_words(const void *words, int64_t count, int32_t bits, uint8_t *out);
/// One code per byte ([rows, cols], cols % 32 == 0) to CK_AFFINE4 rows (32-column runs, byte j = column j | j+16 << 4).
void ck_pack_nibble_runs(const uint8_t *codes, int64_t rows, int64_t cols, uint8_t *out);

/// Bytes of weight codes per row (without scales), for any dtype.
int64_t ck_row_bytes(const ck_matrix *w);

// ---- memory ----
/// Serves allocations below `mmap_threshold` bytes from the heap and keeps up to `trim_threshold` bytes of freed
/// heap (glibc mallopt), so large activation arrays reuse pages instead of faulting fresh ones in. No-op elsewhere.
void ck_keep_heap_memory(int64_t mmap_threshold, int64_t trim_threshold);

// ---- measurement ----
/// Reads a fresh `bytes`-byte buffer `repeats` times on the pool (after one warm-up pass) and writes each pass's
/// read bandwidth in GB/s (1e9 bytes/s) to gb_per_s[0 ..< repeats]. Returns 0, or -1 if the buffer cannot be had.
int ck_measure_read_bandwidth(int64_t bytes, int repeats, double *gb_per_s);

// ---- attention ----
/// Causal GQA attention for T new queries at positions start..start+T-1 over a cache holding
/// positions 0..start+T-1. q: [T, nH*D]; kc, vc: [capacity, nKV*D]; ctx: [T, nH*D]. Softmax in f32.
void ck_attention(const float *q, int64_t T, int64_t start, int64_t nH, int64_t nKV, int64_t D,
                  const float *kc, const float *vc, float *ctx, float scale);

// ---- KV cache storage types (attention_kv.c; row routines per ISA in attention_bf16.c, attention_q8.c) ----
/// Element types of a KV cache.
typedef enum { CK_KV_F32 = 0, CK_KV_BF16 = 1, CK_KV_Q8 = 2 } ck_kv_type;

/// One layer of a KV cache: K and V rows of nKV·D elements per position. F32: float; BF16: uint16 (BF16 bits);
/// Q8: int8, with one f32 scale per (position, KV head) in k_scale / v_scale ([capacity, nKV]; NULL otherwise).
typedef struct {
    int32_t type;            // ck_kv_type
    void *k, *v;
    float *k_scale, *v_scale;
} ck_kv_layer;

/// Stores `rows` positions of f32 K and V ([rows, nKV·D]) at `position`, converted to the layer's type
/// (BF16: round to nearest even; Q8: scale = max|x|/127 per head row, values rounded).
void ck_kv_store(const ck_kv_layer *layer, int64_t position, int64_t rows, int64_t nKV, int64_t D, const float *k,
                 const float *v);
/// Positions first ..< first+rows of K and V as f32.
void ck_kv_widen(const ck_kv_layer *layer, int64_t first, int64_t rows, int64_t nKV, int64_t D, float *k, float *v);
/// `ck_attention` over a layer of any type. BF16/Q8 decode (T < 16) reads K once per GQA group, splits long
/// contexts into spans across threads, and uses vdpbf16ps (BF16 K, queries rounded to BF16) / VNNI (Q8 K,
/// queries quantised to int8 per head) where the CPU has them; prefill widens the rows to f32.
void ck_attention_kv(const float *q, int64_t T, int64_t start, int64_t nH, int64_t nKV, int64_t D,
                     const ck_kv_layer *layer, float *ctx, float scale);
/// The routine `ck_attention_kv` uses for decode on this CPU at the current ISA level ("avx512bf16", "avx2", ...).
const char *ck_kv_kernel_name(int32_t type);

#ifdef __cplusplus
}
#endif

// The quantised formats (CK_Q8, CK_Q4): block structs and quantisation.
#include "quant.h"
