/* Shared by tests/unit/test_mixer*.c: deterministic inputs for a mixer shape
 * and one-call wrappers around the float64 and float32 kernels. */
#ifndef SCALELAB_TEST_MIXER_COMMON_H
#define SCALELAB_TEST_MIXER_COMMON_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

typedef struct mixer_inputs {
    kern_mixer_shape s;
    size_t nq, nk, ng;         /* elements of q (and y), k (and v), log_g */
    double *q, *k, *v, *log_g; /* log_g NULL unless gating */
} mixer_inputs;

static inline double test_uniform(uint64_t *state) { /* splitmix64 -> [0, 1) */
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

static inline kern_mixer_shape test_shape(kern_mixer_kind kind, int batch, int seq, int nh, int nkv, int d) {
    kern_mixer_shape s = {.batch = batch, .seq = seq, .n_head = nh, .n_kv_head = nkv, .head_dim = d,
                          .kind = kind, .p = 2, .chunk = seq, .window = seq, .gating = 0,
                          .normalize_rms = 0, .scale = 1.0 / sqrt(d), .eps = 1e-6};
    return s;
}

/* q, k, v uniform in [-1, 1); log gates in [gmin, gmax] (both <= 0). */
static inline void inputs_init(mixer_inputs *in, const kern_mixer_shape *s, uint64_t seed, double gmin, double gmax) {
    in->s = *s;
    in->nq = (size_t)s->batch * s->seq * s->n_head * s->head_dim;
    in->nk = (size_t)s->batch * s->seq * s->n_kv_head * s->head_dim;
    in->ng = (size_t)s->batch * s->seq * s->n_kv_head;
    in->q = malloc(sizeof(double) * in->nq);
    in->k = malloc(sizeof(double) * in->nk);
    in->v = malloc(sizeof(double) * in->nk);
    in->log_g = s->gating ? malloc(sizeof(double) * in->ng) : NULL;
    for (size_t i = 0; i < in->nq; i++) in->q[i] = 2 * test_uniform(&seed) - 1;
    for (size_t i = 0; i < in->nk; i++) in->k[i] = 2 * test_uniform(&seed) - 1;
    for (size_t i = 0; i < in->nk; i++) in->v[i] = 2 * test_uniform(&seed) - 1;
    if (in->log_g)
        for (size_t i = 0; i < in->ng; i++) in->log_g[i] = gmin + (gmax - gmin) * test_uniform(&seed);
}

static inline void inputs_free(mixer_inputs *in) {
    free(in->q);
    free(in->k);
    free(in->v);
    free(in->log_g);
}

/* Forward in float64 through the chunked/blocked kernel; y has nq elements. */
static inline void forward_f64(const mixer_inputs *in, double *y) {
    double *saved = malloc(sizeof(double) * kern_mixer_saved_size_f64(&in->s));
    double *work = malloc(sizeof(double) * kern_mixer_work_size_f64(&in->s));
    kern_mixer_forward_f64(&in->s, in->q, in->k, in->v, in->log_g, y, saved, work);
    free(saved);
    free(work);
}

static inline float *to_f32(const double *x, size_t n) {
    if (!x) return NULL;
    float *r = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) r[i] = (float)x[i];
    return r;
}

/* Rounds the inputs to float32 values, so float32 and float64 runs see the same numbers. */
static inline void round_to_f32(mixer_inputs *in) {
    for (size_t i = 0; i < in->nq; i++) in->q[i] = (float)in->q[i];
    for (size_t i = 0; i < in->nk; i++) in->k[i] = (float)in->k[i], in->v[i] = (float)in->v[i];
    for (size_t i = 0; in->log_g && i < in->ng; i++) in->log_g[i] = (float)in->log_g[i];
}

/* ||a - b|| / ||b|| (b the reference); 0 when both are 0. */
static inline double rel_err(const double *a, const double *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static inline double rel_err_f32(const float *a, const double *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

#endif
