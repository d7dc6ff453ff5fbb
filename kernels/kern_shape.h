/* kernels: the token-mixer shape and the facts every user of a shape derives from it,
 * each written once here:
 *   - the power embedding's dimension D = C(d+p-1, p) (kern_power_dim, kern_mx_phi_dim),
 *   - its features: the multisets i_1 <= ... <= i_p in lexicographic order (kern_mx_phi_next
 *     walks them, kern_mx_phi_unrank finds the f-th) and their multinomial coefficients
 *     p! / prod_r c_r! (kern_mx_phi_multinomial; a feature is sqrt of it times x_i1...x_ip),
 *   - the size of what forward saves for backward (kern_mx_saved_size),
 *   - the shape check and its messages (kern_mixer_shape_check, kern_power_check).
 * The CPU kernels (kernels/cpu/mixer*.c), the CUDA kernels (kernels/cuda/power*.cu,
 * backend.cu), the FLOP accounting (model/flops.c, kernels/cpu/mixer_flops.c) and the config
 * check (model/config.c) call these instead of computing them again, so the GPU refuses an
 * out-of-range shape with the CPU's words instead of assuming one (its tables hold p <= 4).
 *
 * Part of the kernels interface: kernels/kernels.h includes it; model/flops.h includes only
 * this (the shape types are all it needs), so sweep/ does not see the whole backend table.
 * Compiles as C17 and under nvcc: what device code calls is __host__ __device__ (KERN_HD);
 * the checks, which format messages, are host only. Depends on the C library alone. */
#ifndef SCALELAB_KERN_SHAPE_H
#define SCALELAB_KERN_SHAPE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __CUDACC__
#define KERN_HD __host__ __device__
#else
#define KERN_HD
#endif

typedef enum kern_mixer_kind { KERN_MIXER_SOFTMAX = 0, KERN_MIXER_WINDOW, KERN_MIXER_POWER } kern_mixer_kind;

/* Shape of one token-mixer call. Tensors are row-major:
 *   q, y: [batch, seq, n_head, head_dim]     k, v: [batch, seq, n_kv_head, head_dim]
 *   log_g: [batch, seq, n_kv_head] (power with gating; NULL otherwise)
 * Query head h reads kv head h / (n_head / n_kv_head). RoPE, when used, is applied
 * to q and k by the caller before the mixer. */
typedef struct kern_mixer_shape {
    int batch, seq, n_head, n_kv_head, head_dim;
    kern_mixer_kind kind;
    int p;             /* power: degree (1..KERN_POWER_P_MAX) */
    int chunk;         /* power: chunk size; seq % chunk == 0 */
    int window;        /* window: width (>= seq means full causal attention) */
    int gating;        /* power: log_g is used */
    int normalize_rms; /* power: divide by RMS instead of the weight sum */
    double scale;      /* score scale s (default 1/sqrt(head_dim)) */
    double eps;        /* denominator epsilon */
    int threads;       /* CPU: OpenMP threads the work buffer has slices for, and the most a call
                        * uses; 0 = omp_get_max_threads() when called (size and calls must agree) */
} kern_mixer_shape;

/* FLOPs a mixer call performs, counted from the CPU kernels' own loop bounds
 * (2 per multiply-add), for the FLOP-accounting test. `model` is the DESIGN
 * section 4 quantity; `implementation` adds what the kernel does beyond it. */
typedef struct kern_flop_count {
    double model, implementation;
} kern_flop_count;

/* FLOPs of one mixer call as a backend issues it (kern_backend.mixer_count_flops): the forward
 * alone, and a training step's forward + backward. model is DESIGN section 4's (training: 3 x
 * forward); implementation the matrix products the backend's kernels issue (2 per multiply-add),
 * padded extents, masked work and the backward's recomputation included. */
typedef struct kern_flop_count_train {
    kern_flop_count forward, training;
} kern_flop_count_train;

/* The largest degree: a feature's index tuple and the factorial tables have this many
 * entries (the CPU's odometer, the GPU's feature table pw_feat). */
#define KERN_POWER_P_MAX 4
/* The most values of one head's power state, D x (head_dim + 1): the kernels index it with int. */
#define KERN_POWER_STATE_MAX ((uint64_t)INT_MAX)
/* The largest power head_dim: the GPU's feature table holds indices as int16. */
#define KERN_POWER_HEAD_DIM_MAX 32768

/* C(n, k), exactly, or UINT64_MAX when it does not fit (0 when k < 0 or k > n). One
 * step at a time: step i turns r = C(n - k + i - 1, i - 1) into C(n - k + i, i) =
 * r m / i with m = n - k + i. i divides r m, so with g = gcd(r, i), i / g divides m and
 * the step is (r / g) (m / (i / g)): exact, and it overflows only when the result does. */
static inline KERN_HD uint64_t kern_binomial(int n, int k) {
    if (k < 0 || k > n) return 0;
    if (k > n - k) k = n - k;
    uint64_t r = 1;
    for (int i = 1; i <= k; i++) {
        uint64_t m = (uint64_t)(n - k + i), g = r, b = (uint64_t)i;
        if (r < ((uint64_t)1 << 32) && m < ((uint64_t)1 << 32)) { /* r m fits: one division, as */
            r = r * m / (uint64_t)i;                                /* the GPU's table wants it */
            continue;
        }
        while (b) {
            uint64_t t = g % b;
            g = b, b = t;
        }
        uint64_t a = r / g, c = m / ((uint64_t)i / g);
        if (a > UINT64_MAX / c) return UINT64_MAX;
        r = a * c;
    }
    return r;
}

/* D = C(d+p-1, p): the number of multisets of p indices below d, the dimension of the
 * symmetric power embedding phi_p (MATH.md); UINT64_MAX when it does not fit. */
static inline KERN_HD uint64_t kern_power_dim(int d, int p) { return kern_binomial(d + p - 1, p); }
/* The same as int, for a shape kern_mixer_shape_check accepted (D (d + 1) fits int). */
static inline KERN_HD int kern_mx_phi_dim(int d, int p) { return (int)kern_power_dim(d, p); }

/* p = 2 in closed form (the GPU kernels index phi and dphi rows without the table): feature
 * (a, b), a <= b, is the (a d - a (a - 1) / 2 + b - a)-th of kern_mx_phi_next's order (rows
 * a' < a hold d - a' features each), with coefficient 1 when a = b and sqrt 2 otherwise
 * (the square root of kern_mx_phi_multinomial). */
static inline KERN_HD int kern_mx_phi2_index(int d, int a, int b) { return a * d - a * (a - 1) / 2 + b - a; }
static inline KERN_HD float kern_mx_phi2_coef(int a, int b) { return a == b ? 1.f : 1.41421356237309515f; }

/* p! / prod_r c_r! for a sorted index tuple idx[0..p) (c_r: how often index r occurs):
 * how many orderings the multiset has, the square of its feature's coefficient. */
static inline KERN_HD double kern_mx_phi_multinomial(const int *idx, int p) {
    double num = 1, den = 1;
    int run = 1;
    for (int r = 1; r <= p; r++) {
        num *= r;
        if (r < p && idx[r] == idx[r - 1]) {
            run++;
        } else {
            for (int t = 2; t <= run; t++) den *= t;
            run = 1;
        }
    }
    return num / den;
}

/* The multiset after idx (non-decreasing, length p, entries < d) in lexicographic order,
 * written into idx; 0 when idx was the last. Start from all zeros: feature 0. */
static inline KERN_HD int kern_mx_phi_next(int *idx, int p, int d) {
    int r = p - 1;
    while (r >= 0 && idx[r] == d - 1) r--;
    if (r < 0) return 0;
    idx[r]++;
    for (int t = r + 1; t < p; t++) idx[t] = idx[r];
    return 1;
}

/* Feature f's multiset (0 <= f < D), the f-th in kern_mx_phi_next's order: the first
 * index is the smallest i such that the tuples starting below i (C(d - i' + len - 1, len)
 * of them for each i' < i, len = p - 1) number more than f, and so on. */
static inline KERN_HD void kern_mx_phi_unrank(long long f, int d, int p, int *idx) {
    int lo = 0;
    for (int r = 0; r < p; r++)
        for (int i = lo; i < d; i++) {
            long long n = (long long)kern_power_dim(d - i, p - r - 1);
            if (f < n) {
                idx[r] = lo = i;
                break;
            }
            f -= n;
        }
}

/* REALs that forward saves for backward: one per (batch, query head, token) (kern_mixer.inc). */
static inline KERN_HD size_t kern_mx_saved_size(const kern_mixer_shape *s) {
    return (size_t)s->batch * s->n_head * s->seq;
}

/* The power state the kernels can hold: p in 1..KERN_POWER_P_MAX, D (d + 1) within
 * KERN_POWER_STATE_MAX, head_dim within KERN_POWER_HEAD_DIM_MAX. 0 when it fits; else -1
 * with a message naming the keys as `prefix`head_dim and `prefix`p ("model." for a config,
 * "" for a kernel shape) and the size asked for. */
static inline int kern_power_check(int head_dim, int p, const char *prefix, char *err, size_t errlen) {
    if (p < 1 || p > KERN_POWER_P_MAX) {
        if (err && errlen) snprintf(err, errlen, "%sp %d is outside 1..%d", prefix, p, KERN_POWER_P_MAX);
        return -1;
    }
    uint64_t D = kern_power_dim(head_dim, p);
    if (D > KERN_POWER_STATE_MAX / (uint64_t)(head_dim + 1)) { /* head_dim >= 0: resolved or checked */
        double Dd = 1; /* for the message only: the exact size, however large */
        for (int r = 1; r <= p; r++) Dd = Dd * (head_dim + r - 1) / r;
        if (err && errlen)
            snprintf(err, errlen,
                     "%shead_dim %d with %sp %d gives a power state of D = C(d+p-1, p) = %.3g values per head "
                     "(times d + 1 = %.3g), more than the kernels index (2^31); use a smaller head_dim or p",
                     prefix, head_dim, prefix, p, Dd, Dd * (head_dim + 1));
        return -1;
    }
    if (head_dim > KERN_POWER_HEAD_DIM_MAX) {
        if (err && errlen)
            snprintf(err, errlen, "%shead_dim %d is more than the power kernels index (%d)", prefix, head_dim,
                     KERN_POWER_HEAD_DIM_MAX);
        return -1;
    }
    return 0;
}

/* The one check of a mixer shape, on CPU and GPU alike: positive sizes, query heads a
 * multiple of kv heads, and for power a chunk that divides seq and kern_power_check.
 * 0 when valid; else -1 with err saying which rule the shape breaks. */
static inline int kern_mixer_shape_check(const kern_mixer_shape *s, char *err, size_t errlen) {
    if (s->batch <= 0 || s->seq <= 0 || s->n_head <= 0 || s->n_kv_head <= 0 || s->head_dim <= 0) {
        if (err && errlen)
            snprintf(err, errlen, "batch %d, seq %d, n_head %d, n_kv_head %d and head_dim %d must all be positive",
                     s->batch, s->seq, s->n_head, s->n_kv_head, s->head_dim);
        return -1;
    }
    if (s->n_head % s->n_kv_head) {
        if (err && errlen)
            snprintf(err, errlen, "n_head (%d) must be a multiple of n_kv_head (%d)", s->n_head, s->n_kv_head);
        return -1;
    }
    if (s->kind != KERN_MIXER_POWER) return 0;
    if (s->chunk <= 0 || s->seq % s->chunk) {
        if (err && errlen)
            snprintf(err, errlen, "seq (%d) must be a multiple of a positive chunk (%d) for the power mixer", s->seq,
                     s->chunk);
        return -1;
    }
    return kern_power_check(s->head_dim, s->p, "", err, errlen);
}

#endif
