// y = x · Wᵀ for weights kept in their checkpoint dtype, in one of two numeric modes (ck_matrix.exact).
//
// Exact: each weight element is converted to f32 in registers (BF16: shift left by 16; F16: vcvtph2ps; FP8: bit
// moves; all exact) and multiplied with f32 FMAs, so every path computes the same f32 products; only the summation
// order differs between paths. Streaming path (few tokens): every weight row is read once and applied to up to 8
// tokens; with one token, 4 rows are processed per pass. Matrix path (many tokens): a tile of rows is converted to
// f32 and handed to OpenBLAS sgemm (Debian's OpenBLAS has no BF16 GEMM); each tile is one pool chunk, OpenBLAS
// runs one thread.
//
// Fast (BF16 and FP8 weights only): the activations are rounded to BF16 once per product, before the pool job.
// With AVX512_BF16 the products run on vdpbf16ps (bf16dot_avx512.c): rows kernels for few tokens, a packed-panel
// GEMM for many. Elsewhere the rounded activations go through the exact kernels, so every CPU computes the same
// products (BF16 × BF16, f32 sums).
#include "rows.h"
#include "quant_kernels.h"
#include "affine.h"
#include <stdlib.h>

#define GEMM_MIN_TOKENS 16
#define GEMM_TILE_ROWS 128

// ---------------------------------------------------------------- instruction-set dispatch

static int isa_level = -1;

static int detect_isa(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("avx512bf16")) return 3;
    if (__builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) return 1;
#endif
    return 0;
}

int ck_isa(void) {
    if (isa_level < 0) isa_level = detect_isa();
    return isa_level;
}

int ck_set_isa(int level) {
    int best = detect_isa();
    isa_level = level < best ? (level < 0 ? 0 : level) : best;
    return isa_level;
}

void ck_linear_rows(const ck_matrix *w, const float *x, int64_t ldx, int64_t T, float *y, int64_t ldy,
                    int64_t r0, int64_t r1) {
    if (CK_IS_QUANT(w->dtype)) { ck_quant_linear_rows(w, x, ldx, T, y, ldy, r0, r1); return; }
    if (w->dtype == CK_AFFINE4 || w->dtype == CK_AFFINE8) { ck_affine_linear_rows(w, x, ldx, T, y, ldy, r0, r1); return; }
#if defined(__x86_64__)
    int isa = ck_isa();
    if (isa > 2) isa = 2;          // the exact kernels are AVX-512F; level 3 adds only the fast path
    if (w->dtype == CK_F8E4M3) {
        if (isa == 2 && w->scale_kind == CK_SCALE_ROW) {
            ck_prepare_tables();
            ck_rows_avx512_f8_unscaled(w, x, ldx, T, y, ldy, r0, r1);
            for (int64_t t = 0; t < T; t++)
                for (int64_t r = r0; r < r1; r++) y[t * ldy + r] *= w->scale[r];
        } else if (isa == 2) {
            ck_rows_avx512_f8(w, x, ldx, T, y, ldy, r0, r1);
        } else {
            ck_rows_fp8_plain(w, x, ldx, T, y, ldy, r0, r1);
        }
        return;
    }
    if (isa == 2) {
        if (w->dtype == CK_BF16) ck_rows_avx512_bf16(w, x, ldx, T, y, ldy, r0, r1);
        else if (w->dtype == CK_F16) ck_rows_avx512_f16(w, x, ldx, T, y, ldy, r0, r1);
        else ck_rows_avx512_f32(w, x, ldx, T, y, ldy, r0, r1);
        return;
    }
    if (isa == 1) {
        if (w->dtype == CK_BF16) ck_rows_avx2_bf16(w, x, ldx, T, y, ldy, r0, r1);
        else if (w->dtype == CK_F16) ck_rows_avx2_f16(w, x, ldx, T, y, ldy, r0, r1);
        else ck_rows_avx2_f32(w, x, ldx, T, y, ldy, r0, r1);
        return;
    }
#else
    if (w->dtype == CK_F8E4M3) { ck_rows_fp8_plain(w, x, ldx, T, y, ldy, r0, r1); return; }
#endif
    ck_rows_plain(w, x, ldx, T, y, ldy, r0, r1);
}

// ---------------------------------------------------------------- parallel drivers

// OpenBLAS's CBLAS entry point (linked through the COpenBLAS system library).
extern void cblas_sgemm(int layout, int transA, int transB, int M, int N, int K, float alpha, const float *A,
                        int lda, const float *B, int ldb, float beta, float *C, int ldc);
enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };

/// One chunk of a batched call: rows [r0, r1) of task `task`.
typedef struct { int32_t task; int64_t r0, r1; } linear_chunk;

/// A task's activations as the fast path needs them (all NULL: use the task's f32 x as it is).
typedef struct {
    const uint16_t *xb;        // BF16 rows [T][ldb] for the rows kernels (AVX512_BF16)
    int64_t ldb;
    const uint32_t *panels;    // 32-token panels for the GEMM (AVX512_BF16), kpairs BF16 pairs per token
    int64_t kpairs;
    const float *xr;           // activations rounded to BF16, as f32 [T][cols] (CPUs without BF16 dot products)
    void *affine_memory;       // CK_AFFINE* streaming products: scratch of `affine`, filled once per product
    ck_affine_input affine;
} prepared_input;

typedef struct {
    const ck_linear_task *tasks;
    const linear_chunk *chunks;
    const prepared_input *inputs;
    const ck_qact *acts;     // per task: activations quantised once for the fast path of CK_Q8/CK_Q4 weights
} linear_job;

#define FAST_GEMM_MIN_TOKENS 16
#define FAST_GEMM_TILE_ROWS 48

/// BF16 and FP8 weights in the fast mode: rounded activations for every token count.
static int uses_fast_path(const ck_matrix *w) {
    return !w->exact && (w->dtype == CK_BF16 || w->dtype == CK_F8E4M3);
}

/// The BF16 GEMM (AVX512_BF16, many tokens): BF16 and FP8 weights, and any other compressed dtype that
/// ck_convert_rows can widen (converted to BF16 rows per chunk); F32 and F16 weights stay exact.
static int uses_fast_gemm(const ck_linear_task *t) {
    const ck_matrix *w = t->w;
    return !w->exact && w->dtype != CK_F32 && w->dtype != CK_F16 && ck_isa() >= 3
        && t->T >= FAST_GEMM_MIN_TOKENS && w->cols % 2 == 0;
}

static __thread float *tile_buffer = NULL;
static __thread size_t tile_capacity = 0;

/// Matrix path for one tile: convert rows [r0, r1) to f32 (unless already F32) and run sgemm.
static void gemm_tile(const ck_linear_task *t, int64_t r0, int64_t r1) {
    const ck_matrix *w = t->w;
    const float *tile;
    if (w->dtype == CK_F32) {
        tile = (const float *)w->data + r0 * w->cols;
    } else {
        size_t need = (size_t)(r1 - r0) * (size_t)w->cols;
        if (need > tile_capacity) {
            free(tile_buffer);
            tile_buffer = malloc(need * sizeof(float));
            tile_capacity = tile_buffer ? need : 0;
            if (!tile_buffer) {   // out of memory: the streaming path needs no buffer
                ck_linear_rows(w, t->x, t->ldx, t->T, t->y, t->ldy, r0, r1);
                return;
            }
        }
        if (w->dtype == CK_AFFINE4 || w->dtype == CK_AFFINE8) ck_affine_convert_rows(w, r0, r1, tile_buffer);
        else
#if defined(__x86_64__)
        if (ck_isa() == 2 && !CK_IS_QUANT(w->dtype)) ck_convert_rows_avx512(w, r0, r1, tile_buffer);
        else
#endif
        ck_convert_rows(w, r0, r1, tile_buffer);
        tile = tile_buffer;
    }
    cblas_sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS, (int)t->T, (int)(r1 - r0), (int)w->cols, 1.0f,
                t->x, (int)t->ldx, tile, (int)w->cols, 0.0f, t->y + r0, (int)t->ldy);
}

static void run_chunk(void *ctx, int64_t index, int thread) {
    (void)thread;
    linear_job *job = ctx;
    const linear_chunk *c = &job->chunks[index];
    const ck_linear_task *t = &job->tasks[c->task];
    const prepared_input *in = job->inputs ? &job->inputs[c->task] : NULL;
    if (t->T < GEMM_MIN_TOKENS && job->acts && job->acts[c->task].T > 0)
        ck_qrows(t->w, &job->acts[c->task], t->y, t->ldy, c->r0, c->r1);
    else
#if defined(__x86_64__)
    if (in && in->panels && CK_IS_QUANT(t->w->dtype))
        ck_quant_gemm_bf16(t->w, in->panels, in->kpairs, t->T, t->y, t->ldy, c->r0, c->r1);
    else if (in && in->panels) ck_gemm_bf16dot(t->w, in->panels, in->kpairs, t->T, t->y, t->ldy, c->r0, c->r1);
    else if (in && in->xb) ck_rows_bf16dot(t->w, in->xb, in->ldb, t->T, t->y, t->ldy, c->r0, c->r1);
    else
#endif
    if (in && in->affine_memory) {
        ck_affine_run(t->w, &in->affine, t->T, t->y, t->ldy, c->r0, c->r1);
    } else if (in && in->xr) {
        ck_linear_task rounded = *t;
        rounded.x = in->xr;
        rounded.ldx = t->w->cols;
        if (t->T >= GEMM_MIN_TOKENS) gemm_tile(&rounded, c->r0, c->r1);
        else ck_linear_rows(t->w, in->xr, t->w->cols, t->T, t->y, t->ldy, c->r0, c->r1);
    } else if (t->T >= GEMM_MIN_TOKENS) gemm_tile(t, c->r0, c->r1);
    else ck_linear_rows(t->w, t->x, t->ldx, t->T, t->y, t->ldy, c->r0, c->r1);
    if (t->bias) {
        for (int64_t tok = 0; tok < t->T; tok++)
            for (int64_t r = c->r0; r < c->r1; r++) t->y[tok * t->ldy + r] += t->bias[r];
    }
}

/// Rows per chunk: GEMM tiles for many tokens; for few tokens about `target` chunks over all tasks, never
/// tiny ones (a chunk should stream at least ~64 KiB of weights).
static int64_t rows_per_chunk(const ck_linear_task *t, int64_t total_bytes, int threads) {
    if (uses_fast_gemm(t)) return FAST_GEMM_TILE_ROWS;
    if (t->T >= GEMM_MIN_TOKENS) return GEMM_TILE_ROWS;
    int64_t row_bytes = ck_row_bytes(t->w);
    if (row_bytes < 1) row_bytes = 1;
    int64_t chunk_bytes = total_bytes / ((int64_t)threads * 32);   // small enough that the last chunk leaves little idle
    if (chunk_bytes < 65536) chunk_bytes = 65536;
    int64_t rows = (chunk_bytes / row_bytes + 3) & ~(int64_t)3;
    return rows < 4 ? 4 : rows;
}

static __thread ck_qact *act_list = NULL;
static __thread int64_t act_list_capacity = 0;
static __thread void *act_memory = NULL;
static __thread size_t act_memory_capacity = 0;

/// Quantises the activations of every fast-path CK_Q8/CK_Q4 streaming task once, before the rows are split
/// into chunks (entries of other tasks have T = 0). NULL when there are none, or when out of memory (the chunks
/// then quantise for themselves through ck_linear_rows).
static const ck_qact *quantized_activations(const ck_linear_task *tasks, int64_t count) {
    size_t need = 0;
    for (int64_t i = 0; i < count; i++) {
        const ck_linear_task *t = &tasks[i];
        if (CK_IS_QUANT(t->w->dtype) && !t->w->exact && t->T > 0 && t->T < GEMM_MIN_TOKENS)
            need += (ck_qact_bytes(t->w->cols, t->T) + 63) & ~(size_t)63;
    }
    if (need == 0) return NULL;
    if (count > act_list_capacity) {
        free(act_list);
        act_list = malloc((size_t)count * sizeof(ck_qact));
        act_list_capacity = act_list ? count : 0;
        if (!act_list) return NULL;
    }
    if (need > act_memory_capacity) {
        free(act_memory);
        act_memory = aligned_alloc(64, need);
        act_memory_capacity = act_memory ? need : 0;
        if (!act_memory) return NULL;
    }
    uint8_t *mem = act_memory;
    for (int64_t i = 0; i < count; i++) {
        const ck_linear_task *t = &tasks[i];
        act_list[i].T = 0;
        if (CK_IS_QUANT(t->w->dtype) && !t->w->exact && t->T > 0 && t->T < GEMM_MIN_TOKENS) {
            ck_qact_prepare(t->w->dtype, t->x, t->ldx, t->T, t->w->cols, mem, &act_list[i]);
            mem += (ck_qact_bytes(t->w->cols, t->T) + 63) & ~(size_t)63;
        }
    }
    return act_list;
}

// Scratch for prepared activations, owned by the submitting thread and reused across calls (a decode step
// makes hundreds of products; none of them allocates once the arena has grown).
static __thread unsigned char *arena = NULL;
static __thread size_t arena_capacity = 0;

static int is_affine(const ck_matrix *w) { return w->dtype == CK_AFFINE4 || w->dtype == CK_AFFINE8; }

/// Group-affine streaming products (both modes): their input is prepared once per product, not per chunk.
static int uses_affine_input(const ck_linear_task *t) {
    return is_affine(t->w) && t->T < GEMM_MIN_TOKENS && !uses_fast_gemm(t);
}

static size_t prepared_bytes(const ck_linear_task *t) {
    if (t->T <= 0) return 0;
    if (uses_affine_input(t)) return (ck_affine_prepared_bytes(t->w, t->T) + 63) & ~(size_t)63;
    if (!(uses_fast_path(t->w) || uses_fast_gemm(t))) return 0;
    int64_t cols = t->w->cols;
    if (ck_isa() >= 3) {
        int64_t ldb = (cols + 31) & ~(int64_t)31;
        size_t bytes = (size_t)(t->T * ldb) * 2;
        if (uses_fast_gemm(t)) bytes += (size_t)(((t->T + 31) / 32) * 32 * ((cols + 1) / 2)) * 4;
        return (bytes + 63) & ~(size_t)63;
    }
    return ((size_t)(t->T * cols) * 4 + 63) & ~(size_t)63;
}

static void fill_input(const ck_linear_task *t, prepared_input *in) {
    if (in->affine_memory) {
        ck_affine_prepare(t->w, t->x, t->ldx, t->T, in->affine_memory, &in->affine);
        return;
    }
#if defined(__x86_64__)
    if (in->xb) {
        ck_round_bf16_avx512(t->x, t->ldx, t->T, t->w->cols, (uint16_t *)in->xb, in->ldb);
        if (in->panels) ck_pack_bf16_panels(in->xb, in->ldb, t->T, in->kpairs, (uint32_t *)in->panels);
        return;
    }
#endif
    if (in->xr) ck_round_bf16_plain(t->x, t->ldx, t->T, t->w->cols, (float *)in->xr);
}

typedef struct {
    const ck_linear_task *tasks;
    prepared_input *inputs;
    const int64_t *owners;         // tasks whose inputs are filled (the others share an owner's)
} fill_job;

static void fill_chunk(void *ctx, int64_t index, int thread) {
    (void)thread;
    fill_job *job = ctx;
    int64_t i = job->owners[index];
    fill_input(&job->tasks[i], &job->inputs[i]);
}

/// Rounds (and, for the GEMM, packs) the activations of every fast-path task into the arena; NULL when no task
/// needs it. Tasks that read the same activations (e.g. an expert's gate and up products) share one copy. Large
/// preparations (prefill) are split over the pool, one task per chunk.
static prepared_input *prepare_inputs(const ck_linear_task *tasks, int64_t count) {
    size_t header = (((size_t)count * (sizeof(prepared_input) + sizeof(int64_t))) + 63) & ~(size_t)63;
    size_t total = header;
    int any = 0;
    for (int64_t i = 0; i < count; i++) {
        size_t b = prepared_bytes(&tasks[i]);
        any |= b > 0;
        total += b;
    }
    if (!any) return NULL;
    if (total > arena_capacity) {
        free(arena);
        size_t grown = ((total + total / 2) + 63) & ~(size_t)63;
        arena = aligned_alloc(64, grown);
        arena_capacity = arena ? grown : 0;
        if (!arena) return NULL;      // out of memory: the exact path needs no scratch
    }
    prepared_input *inputs = (prepared_input *)arena;
    int64_t *owners = (int64_t *)(inputs + count);
    int64_t owner_count = 0;
    size_t filled_bytes = 0;
    unsigned char *next = arena + header;
    for (int64_t i = 0; i < count; i++) {
        const ck_linear_task *t = &tasks[i];
        prepared_input in = {0};
        size_t bytes = prepared_bytes(t);
        int shared = 0;
        for (int64_t j = 0; bytes > 0 && j < i; j++) {
            const ck_linear_task *o = &tasks[j];
            if (o->x == t->x && o->ldx == t->ldx && o->T == t->T && o->w->cols == t->w->cols
                && prepared_bytes(o) == bytes && uses_fast_gemm(o) == uses_fast_gemm(t)
                && uses_affine_input(o) == uses_affine_input(t)
                && (!uses_affine_input(t) || (o->w->dtype == t->w->dtype && o->w->group == t->w->group
                                              && o->w->perm == t->w->perm && o->w->exact == t->w->exact))) {
                in = inputs[j];
                shared = 1;
                break;
            }
        }
        if (bytes > 0 && !shared) {
            int64_t cols = t->w->cols;
            if (uses_affine_input(t)) {
                in.affine_memory = next;
            } else
#if defined(__x86_64__)
            if (ck_isa() >= 3) {
                in.ldb = (cols + 31) & ~(int64_t)31;
                in.xb = (const uint16_t *)next;
                if (uses_fast_gemm(t)) {
                    in.kpairs = (cols + 1) / 2;
                    in.panels = (const uint32_t *)(next + (size_t)(t->T * in.ldb) * 2);
                }
            } else
#endif
            in.xr = (const float *)next;
            next += bytes;
            owners[owner_count++] = i;
            filled_bytes += bytes;
        }
        inputs[i] = in;
    }
    fill_job job = {tasks, inputs, owners};
    if (filled_bytes >= ((size_t)1 << 20) && owner_count > 1 && ck_pool_threads() > 1) {
        ck_parallel_for(owner_count, fill_chunk, &job);
    } else {
        for (int64_t k = 0; k < owner_count; k++) fill_chunk(&job, k, 0);
    }
    // Group-affine inputs are described by the fill itself: tasks sharing an owner's scratch copy its result.
    for (int64_t i = 0; i < count; i++) {
        if (!inputs[i].affine_memory || inputs[i].affine.xsum) continue;
        for (int64_t j = 0; j < i; j++)
            if (inputs[j].affine_memory == inputs[i].affine_memory) { inputs[i].affine = inputs[j].affine; break; }
    }
    return inputs;
}

void ck_linear_many(const ck_linear_task *tasks, int64_t count) {
    int threads = ck_pool_threads();
    int64_t total_bytes = 0, nchunks = 0;
    for (int64_t i = 0; i < count; i++) {
        const ck_matrix *w = tasks[i].w;
        if (tasks[i].T <= 0) continue;
        total_bytes += w->rows * ck_row_bytes(w);
    }
    for (int64_t i = 0; i < count; i++) {
        if (tasks[i].T <= 0) continue;
        int64_t per = rows_per_chunk(&tasks[i], total_bytes, threads);
        nchunks += (tasks[i].w->rows + per - 1) / per;
    }
    if (nchunks == 0) return;
    linear_chunk small[256];
    linear_chunk *chunks = nchunks <= 256 ? small : malloc((size_t)nchunks * sizeof(linear_chunk));
    if (!chunks) {  // out of memory: run everything on this thread
        for (int64_t i = 0; i < count; i++) {
            linear_chunk one = {0, 0, tasks[i].w->rows};
            linear_job job = {tasks + i, &one, prepare_inputs(tasks + i, 1), NULL};
            if (tasks[i].T > 0) run_chunk(&job, 0, 0);
        }
        return;
    }
    int64_t n = 0;
    for (int64_t i = 0; i < count; i++) {
        if (tasks[i].T <= 0) continue;
        int64_t per = rows_per_chunk(&tasks[i], total_bytes, threads);
        for (int64_t r = 0; r < tasks[i].w->rows; r += per)
            chunks[n++] = (linear_chunk){(int32_t)i, r, r + per < tasks[i].w->rows ? r + per : tasks[i].w->rows};
    }
    linear_job job = {tasks, chunks, prepare_inputs(tasks, count), quantized_activations(tasks, count)};
    ck_parallel_for(n, run_chunk, &job);
    if (chunks != small) free(chunks);
}

void ck_linear(const ck_matrix *w, const float *x, int64_t ldx, int64_t T, float *y, int64_t ldy,
               const float *bias) {
    ck_linear_task task = {w, x, ldx, T, y, ldy, bias};
    ck_linear_many(&task, 1);
}
