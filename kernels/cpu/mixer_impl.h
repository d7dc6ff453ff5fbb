/* Private to kernels/cpu/mixer*.c: the loop descriptions the kernels and the
 * FLOP counter share, the per-thread work layouts, and the per-(batch, kv head)
 * workers that kernels/cpu/mixer.c schedules. Include after kernels/kernels.h
 * and kernels/cpu/real.h. */
#ifndef SCALELAB_KERNELS_CPU_MIXER_IMPL_H
#define SCALELAB_KERNELS_CPU_MIXER_IMPL_H

#include <stddef.h>

/* ---- loop descriptions (used by the kernels to drive their loops and by
 * kern_mixer_count_flops to count them; change them here, both follow) ---- */

/* Softmax and window process queries in blocks of this many rows. */
#define MX_ATTN_QBLOCK 64

static inline int kern_mx_attn_qblock(const kern_mixer_shape *s) {
    return s->seq < MX_ATTN_QBLOCK ? s->seq : MX_ATTN_QBLOCK;
}
/* The window in effect: window >= seq (or <= 0 for softmax) means full causal. */
static inline int kern_mx_attn_window(const kern_mixer_shape *s) {
    return (s->kind == KERN_MIXER_WINDOW && s->window > 0 && s->window < s->seq) ? s->window : s->seq;
}
/* Row i attends to keys first..i. */
static inline int kern_mx_attn_first_key(const kern_mixer_shape *s, int i) {
    int f = i - kern_mx_attn_window(s) + 1;
    return f > 0 ? f : 0;
}
/* Keys [*k0, *k1) that a query block [q0, q1) reads: one score block of
 * (q1 - q0) x (*k1 - *k0), masked row by row with kern_mx_attn_first_key. */
static inline void kern_mx_attn_key_range(const kern_mixer_shape *s, int q0, int q1, int *k0, int *k1) {
    *k0 = kern_mx_attn_first_key(s, q0);
    *k1 = q1;
}

/* Power: D = C(d+p-1, p) is kern_mx_phi_dim (kernels/kern_shape.h). */
static inline int kern_mx_power_chunks(const kern_mixer_shape *s) { return s->seq / s->chunk; }
/* Inside a chunk, row i (0-based in the chunk) reads keys 0..i of the chunk. */
static inline int kern_mx_power_intra_keys(int i) { return i + 1; }

/* Scalar math of the REAL in effect (this header is read once per translation unit). */
#ifdef SCALELAB_F64
#define MX_EXP exp
#define MX_LOG log
#define MX_SQRT sqrt
#else
#define MX_EXP expf
#define MX_LOG logf
#define MX_SQRT sqrtf
#endif

/* ---- per-thread work (in REALs) ---- */
/* REALs that hold n doubles. Power slices start with doubles; mixer.c starts every
 * slice on an 8-byte boundary (and sizes the work so it can). */
#define MX_DOUBLES(n) ((size_t)(n) * sizeof(double) / sizeof(REAL))
/* Header-inline because both twins' libraries need them and neither links the other. */
static inline size_t kern_mx_softmax_work_per_thread(const kern_mixer_shape *s) {
    /* scores and their gradient, one query block against at most seq keys */
    return 2 * (size_t)kern_mx_attn_qblock(s) * s->seq;
}
static inline size_t kern_mx_power_forward_work_per_thread(const kern_mixer_shape *s) {
    size_t c = s->chunk, d = s->head_dim, D = kern_mx_phi_dim(s->head_dim, s->p);
    /* G', S', [V|1], Q~, phi(Q~), A, N', U, phi(U) */
    return MX_DOUBLES(c) + D * (d + 1) + c * (d + 1) + c * d + c * D + c * c + c * (d + 1) + c * d + c * D;
}
static inline size_t kern_mx_power_backward_work_per_thread(const kern_mixer_shape *s) {
    size_t c = s->chunk, d = s->head_dim, D = kern_mx_phi_dim(s->head_dim, s->p), d1 = d + 1;
    size_t nc = kern_mx_power_chunks(s);
    /* states S'_0..S'_{nc-1}, dS', [V|1], G', dG', Q~, phi(Q~), A, raw, dA, dN', dphi, dQ~, U,
     * phi(U), dU, d[V|1] */
    return MX_DOUBLES(c) + nc * D * d1 + D * d1 + c * d1 + c + c * d + c * D + 3 * c * c + c * d1 + c * D + c * d +
           c * d + c * D + c * d + c * d1;
}
static inline size_t kern_mx_power_work_per_thread(const kern_mixer_shape *s) {
    size_t f = kern_mx_power_forward_work_per_thread(s), b = kern_mx_power_backward_work_per_thread(s);
    return f > b ? f : b;
}

#endif

/* The workers, declared once per REAL (this part has no include guard on purpose:
 * real.h fixes REAL/KR for this translation unit, so it is seen once). */
#ifndef SCALELAB_KERNELS_CPU_MIXER_IMPL_WORKERS
#define SCALELAB_KERNELS_CPU_MIXER_IMPL_WORKERS
#include "kernels/cpu/mixer_count.h"
/* Every gemm of the mixers: the counting hook (tests only; see mixer_count.h), then BLAS. */
static inline void KR(kern_mx_gemm)(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int m, int n,
                               int k, REAL alpha, const REAL *a, int lda, const REAL *b, int ldb, REAL beta, REAL *c,
                               int ldc) {
    if (KR(kern_cpu_gemm_hook))
        KR(kern_cpu_gemm_hook)(KR(kern_cpu_gemm_hook_ctx), ta == CblasTrans, tb == CblasTrans, m, n, k);
    cblas_gemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
#undef cblas_gemm
#define cblas_gemm KR(kern_mx_gemm)
/* One (batch b, kv head g) pair: every query head of g's group. `work` is this thread's slice. */
void KR(kern_mx_softmax_forward_unit)(const kern_mixer_shape *s, int b, int g, const REAL *q, const REAL *k,
                                 const REAL *v, REAL *y, REAL *saved, REAL *work);
void KR(kern_mx_softmax_backward_unit)(const kern_mixer_shape *s, int b, int g, const REAL *q, const REAL *k,
                                  const REAL *v, const REAL *y, const REAL *saved, const REAL *dy,
                                  REAL *dq, REAL *dk, REAL *dv, REAL *work);
void KR(kern_mx_power_forward_unit)(const kern_mixer_shape *s, int b, int g, const REAL *q, const REAL *k,
                               const REAL *v, const REAL *log_g, REAL *y, REAL *saved, REAL *work);
void KR(kern_mx_power_backward_unit)(const kern_mixer_shape *s, int b, int g, const REAL *q, const REAL *k,
                                const REAL *v, const REAL *log_g, const REAL *y, const REAL *saved,
                                const REAL *dy, REAL *dq, REAL *dk, REAL *dv, REAL *dlog_g, REAL *work);

/* Power, one chunk of kv head g starting at token t0 (shared by forward and
 * backward so both see the same numbers): vp = [v | 1] (c x (d+1)); gcum = G'
 * (c, zeros without gating; double even in the float build, because differences
 * G'_i - G'_j of large cumulative sums cancel: one gate of -1e4 leaves float32
 * a resolution of 1e-3 in every later exponent); *gamma = G' at the chunk's last token;
 * u = exp((gamma - G'_j)/p) k_j (c x d); pu = phi(u) (c x D). */
void KR(kern_mx_power_load_chunk)(const kern_mixer_shape *s, int b, int g, int t0, const REAL *k,
                             const REAL *v, const REAL *log_g, REAL *vp, double *gcum, double *gamma,
                             REAL *u, REAL *pu);
/* Query head h's chunk: qt = s exp(G'_i/p) q_i (c x d), pq = phi(qt) (c x D), and the
 * intra-chunk weights a_ij = (s q_i.k_j)^p exp(G'_i - G'_j) for j <= i, 0 above the
 * diagonal (c x c); raw (when not NULL) receives s q_i.k_j. */
void KR(kern_mx_power_load_queries)(const kern_mixer_shape *s, int b, int h, int t0, const REAL *q,
                               const REAL *k, const double *gcum, REAL *qt, REAL *pq, REAL *a, REAL *raw);

/* phi for `rows` vectors of length d (row stride ldx) into rows of length D;
 * and its transposed Jacobian: dx = J(x)^T dphi (overwrites dx, row stride ldd). */
void KR(kern_mx_phi_rows)(int p, int d, int rows, const REAL *x, int ldx, REAL *out);
void KR(kern_mx_phi_rows_backward)(int p, int d, int rows, const REAL *x, int ldx, const REAL *dphi,
                              REAL *dx, int ldd);
#endif
