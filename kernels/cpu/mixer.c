/* Token mixers: sizes and the scheduling of (batch, kv head) pairs over OpenMP
 * threads. The per-pair work lives in mixer_softmax.c, mixer_power.c and
 * mixer_power_backward.c. */
#include <assert.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernels/kernels.h"
#include "kernels/cpu/real.h"
#include "kernels/cpu/mixer_impl.h"

/* kern_mixer_shape_check, the GPU's check too; these calls return no error, so a shape
 * they cannot run stops the program with its reason (like a failed assert). */
static void check_shape(const kern_mixer_shape *s) {
    char why[512];
    if (kern_mixer_shape_check(s, why, sizeof why)) {
        fprintf(stderr, "scalelab: kernels: mixer shape: %s\n", why);
        abort();
    }
}

/* One thread's slice, plus room to start it on an 8-byte boundary (the power
 * kernels keep doubles at the start of their slice; callers may hand us a REAL
 * pointer at any offset of a larger buffer). */
static size_t work_per_thread(const kern_mixer_shape *s) {
    size_t n = s->kind == KERN_MIXER_POWER ? kern_mx_power_work_per_thread(s) : kern_mx_softmax_work_per_thread(s);
    return n + MX_DOUBLES(1);
}

static REAL *slice_at(REAL *work, size_t slice, int thread) {
    uintptr_t p = (uintptr_t)(work + (size_t)thread * slice);
    return (REAL *)((p + sizeof(double) - 1) / sizeof(double) * sizeof(double));
}

size_t KR(kern_mixer_saved_size)(const kern_mixer_shape *s) {
    check_shape(s);
    return kern_mx_saved_size(s);
}

/* Slices in the work buffer: the most threads a call may use. */
static int thread_slices(const kern_mixer_shape *s) { return s->threads > 0 ? s->threads : omp_get_max_threads(); }

/* Threads a call uses: no more than the slices, nor than OpenMP would start. */
static int call_threads(const kern_mixer_shape *s) {
    int slices = thread_slices(s), max = omp_get_max_threads();
    return slices < max ? slices : max;
}

size_t KR(kern_mixer_work_size)(const kern_mixer_shape *s) {
    check_shape(s);
    return (size_t)thread_slices(s) * work_per_thread(s);
}

/* Below this many query elements (batch*seq*n_head*head_dim) a call runs serially:
 * on a loaded 2-core machine a parallel region's barrier can cost milliseconds,
 * far more than a small call's work (finite-difference tests make thousands). */
#define MX_PARALLEL_MIN_ELEMENTS (1 << 15)

static int run_parallel(const kern_mixer_shape *s) {
    double elements = (double)s->batch * s->seq * s->n_head * s->head_dim;
    return s->batch * s->n_kv_head > 1 && call_threads(s) > 1 && elements >= MX_PARALLEL_MIN_ELEMENTS;
}

/* Runs CALL for every (batch, kv head) pair. In parallel, pairs go to OpenMP
 * threads and OpenBLAS is held to one thread meanwhile: its pthread pool would
 * otherwise add threads to every gemm issued from inside the region. */
#define FOR_EACH_PAIR(s, work, CALL)                                                               \
    do {                                                                                           \
        int n_pairs_ = (s)->batch * (s)->n_kv_head;                                                \
        size_t slice_ = work_per_thread(s);                                                        \
        if (!run_parallel(s)) {                                                                    \
            for (int pair_ = 0; pair_ < n_pairs_; pair_++) {                                       \
                int b = pair_ / (s)->n_kv_head, g = pair_ % (s)->n_kv_head;                        \
                REAL *w_ = slice_at((work), slice_, 0);                                            \
                CALL;                                                                              \
            }                                                                                      \
        } else {                                                                                   \
            int blas_threads_ = openblas_get_num_threads(), threads_ = call_threads(s);            \
            openblas_set_num_threads(1);                                                           \
            _Pragma("omp parallel for schedule(dynamic, 1) num_threads(threads_)")                 \
            for (int pair_ = 0; pair_ < n_pairs_; pair_++) {                                       \
                int b = pair_ / (s)->n_kv_head, g = pair_ % (s)->n_kv_head;                        \
                REAL *w_ = slice_at((work), slice_, omp_get_thread_num());                         \
                CALL;                                                                              \
            }                                                                                      \
            openblas_set_num_threads(blas_threads_);                                               \
        }                                                                                          \
    } while (0)

void KR(kern_mixer_forward)(const kern_mixer_shape *s, const REAL *q, const REAL *k, const REAL *v,
                            const REAL *log_g, REAL *y, REAL *saved, REAL *work) {
    check_shape(s);
    if (s->kind == KERN_MIXER_POWER) {
        assert((log_g != NULL) == (s->gating != 0));
        FOR_EACH_PAIR(s, work, KR(kern_mx_power_forward_unit)(s, b, g, q, k, v, log_g, y, saved, w_));
    } else {
        FOR_EACH_PAIR(s, work, KR(kern_mx_softmax_forward_unit)(s, b, g, q, k, v, y, saved, w_));
    }
}

void KR(kern_mixer_backward)(const kern_mixer_shape *s, const REAL *q, const REAL *k, const REAL *v,
                             const REAL *log_g, const REAL *y, const REAL *saved, const REAL *dy,
                             REAL *dq, REAL *dk, REAL *dv, REAL *dlog_g, REAL *work) {
    check_shape(s);
    if (s->kind == KERN_MIXER_POWER) {
        assert((log_g != NULL) == (s->gating != 0) && (dlog_g != NULL) == (s->gating != 0));
        FOR_EACH_PAIR(s, work,
                      KR(kern_mx_power_backward_unit)(s, b, g, q, k, v, log_g, y, saved, dy, dq, dk, dv,
                                                 dlog_g, w_));
    } else {
        FOR_EACH_PAIR(s, work,
                      KR(kern_mx_softmax_backward_unit)(s, b, g, q, k, v, y, saved, dy, dq, dk, dv, w_));
    }
}
