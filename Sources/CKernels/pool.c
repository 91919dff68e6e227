// Persistent thread pool: the caller publishes a job, every thread (caller included) claims chunks with a
// compare-and-swap on one 64-bit word (generation << 32 | next chunk), so a stale thread can never run a chunk
// of a newer job. Workers spin for a few milliseconds after a job (a decode step issues hundreds of small
// jobs) before parking on a condition variable.
#define _GNU_SOURCE
#include "CKernels.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

#define CK_MAX_THREADS 256
#define SPIN_NANOS 3000000LL

static struct {
    _Atomic uint64_t claim;            // generation << 32 | next chunk
    _Atomic int64_t done;              // chunks finished in the current job
    _Atomic(ck_task_fn) fn;
    _Atomic(void *) ctx;
    _Atomic int64_t chunks;
    _Atomic int sleepers;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_mutex_t submit;            // one job at a time
    int threads;
    _Atomic int started;
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
           .submit = PTHREAD_MUTEX_INITIALIZER, .threads = 1 };

static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t now_nanos(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/// Claims and runs chunks of generation `gen` until none are left.
static void work_on(uint32_t gen, int thread) {
    for (;;) {
        uint64_t cur = atomic_load_explicit(&pool.claim, memory_order_acquire);
        if ((uint32_t)(cur >> 32) != gen) return;
        int64_t next = (int64_t)(uint32_t)cur;
        ck_task_fn fn = atomic_load_explicit(&pool.fn, memory_order_relaxed);
        void *ctx = atomic_load_explicit(&pool.ctx, memory_order_relaxed);
        int64_t chunks = atomic_load_explicit(&pool.chunks, memory_order_relaxed);
        if (next >= chunks) return;
        if (!atomic_compare_exchange_weak_explicit(&pool.claim, &cur, cur + 1, memory_order_acq_rel,
                                                   memory_order_relaxed)) continue;
        fn(ctx, next, thread);
        atomic_fetch_add_explicit(&pool.done, 1, memory_order_acq_rel);
    }
}

static void *worker_main(void *arg) {
    int thread = (int)(intptr_t)arg;
    uint32_t seen = (uint32_t)(atomic_load(&pool.claim) >> 32);
    for (;;) {
        int64_t spin_start = now_nanos();
        unsigned spins = 0;
        uint32_t gen;
        for (;;) {
            gen = (uint32_t)(atomic_load_explicit(&pool.claim, memory_order_acquire) >> 32);
            if (gen != seen) break;
            CPU_RELAX();
            if ((++spins & 1023) == 0) sched_yield();
            if ((spins & 1023) == 0 && now_nanos() - spin_start > SPIN_NANOS) {
                pthread_mutex_lock(&pool.lock);
                atomic_fetch_add(&pool.sleepers, 1);
                while ((uint32_t)(atomic_load(&pool.claim) >> 32) == seen)
                    pthread_cond_wait(&pool.wake, &pool.lock);
                atomic_fetch_sub(&pool.sleepers, 1);
                pthread_mutex_unlock(&pool.lock);
                spin_start = now_nanos();
            }
        }
        seen = gen;
        work_on(gen, thread);
    }
    return NULL;
}

void ck_pool_start(int threads) {
    pthread_mutex_lock(&start_lock);
    if (!atomic_load(&pool.started)) {
        if (threads <= 0) {
            long n = sysconf(_SC_NPROCESSORS_ONLN);
            threads = n > 0 ? (int)n : 1;
        }
        if (threads > CK_MAX_THREADS) threads = CK_MAX_THREADS;
        int created = 1;
        for (int i = 1; i < threads; i++) {
            pthread_t t;
            pthread_attr_t attr;
            pthread_attr_init(&attr);
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            if (pthread_create(&t, &attr, worker_main, (void *)(intptr_t)i) == 0) created++;
            pthread_attr_destroy(&attr);
        }
        pool.threads = created;
        atomic_store(&pool.started, 1);
    }
    pthread_mutex_unlock(&start_lock);
}

int ck_pool_threads(void) { return atomic_load(&pool.started) ? pool.threads : 1; }

void ck_parallel_for(int64_t chunks, ck_task_fn fn, void *ctx) {
    if (chunks <= 0) return;
    if (chunks == 1 || ck_pool_threads() == 1) {
        for (int64_t c = 0; c < chunks; c++) fn(ctx, c, 0);
        return;
    }
    pthread_mutex_lock(&pool.submit);
    uint64_t old = atomic_load(&pool.claim);
    uint32_t gen = (uint32_t)(old >> 32) + 1;
    atomic_store_explicit(&pool.fn, fn, memory_order_relaxed);
    atomic_store_explicit(&pool.ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&pool.chunks, chunks, memory_order_relaxed);
    atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
    atomic_store(&pool.claim, (uint64_t)gen << 32);          // publish (seq_cst)
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.lock);
    }
    work_on(gen, 0);
    // Wait for chunks other threads still run; yield now and then so a preempted worker gets the CPU back
    // quickly when the machine is oversubscribed.
    unsigned spins = 0;
    while (atomic_load_explicit(&pool.done, memory_order_acquire) < chunks) {
        CPU_RELAX();
        if ((++spins & 255) == 0) sched_yield();
    }
    pthread_mutex_unlock(&pool.submit);
}
