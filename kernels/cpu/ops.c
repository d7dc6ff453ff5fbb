/* CPU reference ops of kernels/kern_ops.inc: dense algebra through OpenBLAS,
 * elementwise and row-wise loops parallel with OpenMP. Dual compiled (float and
 * its float64 twin, see real.h). Every loop that sums over rows runs over
 * columns in parallel with rows in order, so results do not depend on the
 * thread count (a rerun with the same seed is bit-identical). */
/* Type-generic math: the float build calls expf/log1pf, not the double versions. */
#include <tgmath.h>

#include "kernels/kernels.h"
#include "kernels/cpu/real.h"

/* Thread only loops big enough to pay for the fork and join: on a loaded
 * 2-core machine, small parallel regions cost far more than they save. */
#define PAR_WORTH(work) ((work) >= 65536)

void KR(kern_matmul)(int trans_a, int trans_b, int m, int n, int k, REAL alpha, const REAL *a,
                     const REAL *b, REAL beta, REAL *c) {
    cblas_gemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
               m, n, k, alpha, a, trans_a ? m : k, b, trans_b ? k : n, beta, c, n);
}

void KR(kern_add_bias)(int n, int dim, REAL *x, const REAL *bias) {
#pragma omp parallel for schedule(static) if (PAR_WORTH((size_t)n * dim))
    for (int i = 0; i < n; i++)
        for (int j = 0; j < dim; j++) x[(size_t)i * dim + j] += bias[j];
}

/* Column sums: each thread owns a block of columns and walks the rows in order. */
static void KR(column_sums_add)(int n, int dim, const REAL *y, REAL *out) {
    enum { COLS = 16 };
    int blocks = (dim + COLS - 1) / COLS;
#pragma omp parallel for schedule(static) if (PAR_WORTH((size_t)n * dim))
    for (int bk = 0; bk < blocks; bk++) {
        int c0 = bk * COLS, c1 = c0 + COLS < dim ? c0 + COLS : dim;
        REAL acc[COLS] = {0};
        for (int i = 0; i < n; i++)
            for (int c = c0; c < c1; c++) acc[c - c0] += y[(size_t)i * dim + c];
        for (int c = c0; c < c1; c++) out[c] += acc[c - c0];
    }
}

void KR(kern_bias_backward)(int n, int dim, const REAL *dy, REAL *dbias) {
    KR(column_sums_add)(n, dim, dy, dbias);
}

void KR(kern_add)(size_t n, const REAL *x, REAL *y) {
#pragma omp parallel for schedule(static) if (PAR_WORTH(n))
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

void KR(kern_zero)(size_t n, REAL *x) {
#pragma omp parallel for schedule(static) if (PAR_WORTH(n))
    for (size_t i = 0; i < n; i++) x[i] = 0;
}

void KR(kern_layernorm_forward)(int n, int dim, const REAL *x, const REAL *w, const REAL *b, REAL eps,
                                REAL *y, REAL *mean, REAL *rstd) {
#pragma omp parallel for schedule(static) if (PAR_WORTH((size_t)n * dim))
    for (int i = 0; i < n; i++) {
        const REAL *xi = x + (size_t)i * dim;
        REAL *yi = y + (size_t)i * dim;
        double mu = 0, var = 0;
        for (int j = 0; j < dim; j++) mu += xi[j];
        mu /= dim;
        for (int j = 0; j < dim; j++) var += (xi[j] - mu) * (xi[j] - mu);
        var /= dim;
        REAL r = (REAL)(1.0 / sqrt(var + eps));
        for (int j = 0; j < dim; j++) yi[j] = (REAL)((xi[j] - mu) * r) * w[j] + (b ? b[j] : 0);
        mean[i] = (REAL)mu;
        rstd[i] = r;
    }
}

/* dw[j] += sum_i dy[i,j] xhat[i,j] (and db), columns in parallel, rows in order. */
static void KR(norm_param_grads)(int n, int dim, const REAL *x, const REAL *mean, const REAL *rstd,
                                 const REAL *dy, REAL *dw, REAL *db) {
    enum { COLS = 16 };
    int blocks = (dim + COLS - 1) / COLS;
#pragma omp parallel for schedule(static) if (PAR_WORTH((size_t)n * dim))
    for (int bk = 0; bk < blocks; bk++) {
        int c0 = bk * COLS, c1 = c0 + COLS < dim ? c0 + COLS : dim;
        REAL aw[COLS] = {0}, ab[COLS] = {0};
        for (int i = 0; i < n; i++) {
            REAL mu = mean ? mean[i] : 0, r = rstd[i];
            for (int c = c0; c < c1; c++) {
                REAL g = dy[(size_t)i * dim + c];
                aw[c - c0] += g * (x[(size_t)i * dim + c] - mu) * r;
                ab[c - c0] += g;
            }
        }
        for (int c = c0; c < c1; c++) {
            dw[c] += aw[c - c0];
            if (db) db[c] += ab[c - c0];
        }
    }
}

void KR(kern_layernorm_backward)(int n, int dim, const REAL *x, const REAL *w, const REAL *mean,
                                 const REAL *rstd, const REAL *dy, REAL *dx, REAL *dw, REAL *db) {
#pragma omp parallel for schedule(static) if (PAR_WORTH((size_t)n * dim))
    for (int i = 0; i < n; i++) {
        const REAL *xi = x + (size_t)i * dim, *gi = dy + (size_t)i * dim;
        REAL *dxi = dx + (size_t)i * dim;
        REAL mu = mean[i], r = rstd[i];
        double s1 = 0, s2 = 0; /* mean(dxhat), mean(dxhat * xhat) */
        for (int j = 0; j < dim; j++) {
            double dxh = (double)gi[j] * w[j];
            s1 += dxh;
            s2 += dxh * (xi[j] - mu) * r;
        }
        s1 /= dim;
        s2 /= dim;
        for (int j = 0; j < dim; j++) {
            REAL xh = (xi[j] - mu) * r;
            dxi[j] += (REAL)(r * ((double)gi[j] * w[j] - s1 - xh * s2));
        }
    }
    KR(norm_param_grads)(n, dim, x, mean, rstd, dy, dw, db);
}

void KR(kern_rmsnorm_forward)(int n, int dim, const REAL *x, const REAL *w, REAL eps, REAL *y,
                              REAL *rstd) {
#pragma omp parallel for schedule(static) if (PAR_WORTH((size_t)n * dim))
    for (int i = 0; i < n; i++) {
        const REAL *xi = x + (size_t)i * dim;
        REAL *yi = y + (size_t)i * dim;
        double ms = 0;
        for (int j = 0; j < dim; j++) ms += (double)xi[j] * xi[j];
        REAL r = (REAL)(1.0 / sqrt(ms / dim + eps));
        for (int j = 0; j < dim; j++) yi[j] = xi[j] * r * w[j];
        rstd[i] = r;
    }
}

void KR(kern_rmsnorm_backward)(int n, int dim, const REAL *x, const REAL *w, const REAL *rstd,
                               const REAL *dy, REAL *dx, REAL *dw) {
#pragma omp parallel for schedule(static) if (PAR_WORTH((size_t)n * dim))
    for (int i = 0; i < n; i++) {
        const REAL *xi = x + (size_t)i * dim, *gi = dy + (size_t)i * dim;
        REAL *dxi = dx + (size_t)i * dim;
        REAL r = rstd[i];
        double s2 = 0;
        for (int j = 0; j < dim; j++) s2 += (double)gi[j] * w[j] * xi[j] * r;
        s2 /= dim;
        for (int j = 0; j < dim; j++) dxi[j] += (REAL)(r * ((double)gi[j] * w[j] - xi[j] * r * s2));
    }
    KR(norm_param_grads)(n, dim, x, NULL, rstd, dy, dw, NULL);
}

#define GELU_C 0.7978845608028654 /* sqrt(2/pi) */
#define GELU_A 0.044715

/* tanh(u) = 1 - 2 / (exp(2u) + 1): one exp, several times cheaper than libm's
 * tanh, exact to rounding, and it saturates correctly (exp -> inf gives 1). */
static inline REAL KR(tanh_via_exp)(REAL u) { return (REAL)1 - (REAL)2 / (exp((REAL)2 * u) + (REAL)1); }

void KR(kern_gelu_forward)(size_t n, const REAL *x, REAL *y) {
#pragma omp parallel for schedule(static) if (PAR_WORTH(n))
    for (size_t i = 0; i < n; i++) {
        REAL v = x[i];
        y[i] = (REAL)0.5 * v * ((REAL)1 + KR(tanh_via_exp)((REAL)GELU_C * (v + (REAL)GELU_A * v * v * v)));
    }
}

void KR(kern_gelu_backward)(size_t n, const REAL *x, const REAL *dy, REAL *dx) {
#pragma omp parallel for schedule(static) if (PAR_WORTH(n))
    for (size_t i = 0; i < n; i++) {
        REAL v = x[i];
        REAL t = KR(tanh_via_exp)((REAL)GELU_C * (v + (REAL)GELU_A * v * v * v));
        REAL du = (REAL)GELU_C * ((REAL)1 + (REAL)(3 * GELU_A) * v * v);
        dx[i] = dy[i] * ((REAL)0.5 * ((REAL)1 + t) + (REAL)0.5 * v * ((REAL)1 - t * t) * du);
    }
}

void KR(kern_matmul_bias)(int trans_a, int trans_b, int m, int n, int k, const REAL *a, const REAL *b,
                          const REAL *bias, REAL *c) {
    KR(kern_matmul)(trans_a, trans_b, m, n, k, 1, a, b, 0, c);
    KR(kern_add_bias)(m, n, c, bias);
}

void KR(kern_matmul_bias_gelu)(int trans_a, int trans_b, int m, int n, int k, const REAL *a, const REAL *b,
                               const REAL *bias, REAL *pre, REAL *c) {
    KR(kern_matmul_bias)(trans_a, trans_b, m, n, k, a, b, bias, pre);
    KR(kern_gelu_forward)((size_t)m * n, pre, c);
}

void KR(kern_matmul_dgelu)(int trans_a, int trans_b, int m, int n, int k, const REAL *a, const REAL *b,
                           const REAL *pre, REAL *c, REAL *dbias) {
    KR(kern_matmul)(trans_a, trans_b, m, n, k, 1, a, b, 0, c);
    KR(kern_gelu_backward)((size_t)m * n, pre, c, c);
    if (dbias) KR(kern_bias_backward)(m, n, c, dbias);
}

void KR(kern_matmul_add)(int trans_a, int trans_b, int m, int n, int k, const REAL *a, const REAL *b,
                         const REAL *bias, const REAL *r, REAL *c) {
    if (bias) KR(kern_matmul_bias)(trans_a, trans_b, m, n, k, a, b, bias, c);
    else KR(kern_matmul)(trans_a, trans_b, m, n, k, 1, a, b, 0, c);
    KR(kern_add)((size_t)m * n, r, c);
}

void KR(kern_rope_table)(int seq, int head_dim, double base, REAL *cos_t, REAL *sin_t) {
    int half = head_dim / 2;
    for (int t = 0; t < seq; t++)
        for (int i = 0; i < half; i++) {
            double ang = t * pow(base, -2.0 * i / head_dim);
            cos_t[(size_t)t * half + i] = (REAL)cos(ang);
            sin_t[(size_t)t * half + i] = (REAL)sin(ang);
        }
}

/* sign = +1 rotates by the position's angles, -1 by their negatives (the transpose). */
static void KR(rope_apply)(int n_rows, int seq, int n_head, int head_dim, const REAL *cos_t,
                           const REAL *sin_t, REAL *x, REAL sign) {
    int half = head_dim / 2;
#pragma omp parallel for schedule(static) if (PAR_WORTH((size_t)n_rows * n_head * head_dim))
    for (int r = 0; r < n_rows; r++) {
        const REAL *c = cos_t + (size_t)(r % seq) * half, *s = sin_t + (size_t)(r % seq) * half;
        for (int h = 0; h < n_head; h++) {
            REAL *xh = x + ((size_t)r * n_head + h) * head_dim;
            for (int i = 0; i < half; i++) {
                REAL x0 = xh[i], x1 = xh[i + half], sn = sign * s[i];
                xh[i] = x0 * c[i] - x1 * sn;
                xh[i + half] = x0 * sn + x1 * c[i];
            }
        }
    }
}

void KR(kern_rope_forward)(int n_rows, int seq, int n_head, int head_dim, const REAL *cos_t,
                           const REAL *sin_t, REAL *x) {
    KR(rope_apply)(n_rows, seq, n_head, head_dim, cos_t, sin_t, x, 1);
}

void KR(kern_rope_backward)(int n_rows, int seq, int n_head, int head_dim, const REAL *cos_t,
                            const REAL *sin_t, REAL *dx) {
    KR(rope_apply)(n_rows, seq, n_head, head_dim, cos_t, sin_t, dx, -1);
}

void KR(kern_embedding_forward)(int n, int dim, const int32_t *tokens, const REAL *table, REAL *out) {
#pragma omp parallel for schedule(static) if (PAR_WORTH((size_t)n * dim))
    for (int i = 0; i < n; i++)
        for (int j = 0; j < dim; j++) out[(size_t)i * dim + j] = table[(size_t)tokens[i] * dim + j];
}

/* Two rows may hold the same token, so threads split the columns, not the rows. */
void KR(kern_embedding_backward)(int n, int dim, const int32_t *tokens, const REAL *dout,
                                 REAL *dtable) {
    enum { COLS = 16 };
    int blocks = (dim + COLS - 1) / COLS;
#pragma omp parallel for schedule(static) if (PAR_WORTH((size_t)n * dim))
    for (int bk = 0; bk < blocks; bk++) {
        int c0 = bk * COLS, c1 = c0 + COLS < dim ? c0 + COLS : dim;
        for (int i = 0; i < n; i++)
            for (int c = c0; c < c1; c++) dtable[(size_t)tokens[i] * dim + c] += dout[(size_t)i * dim + c];
    }
}

void KR(kern_logsigmoid_forward)(size_t n, REAL *x) {
#pragma omp parallel for schedule(static) if (PAR_WORTH(n))
    for (size_t i = 0; i < n; i++) {
        REAL z = x[i];
        x[i] = (z < 0 ? z : 0) - log1p(exp(-fabs(z)));
    }
}

void KR(kern_logsigmoid_backward)(size_t n, const REAL *log_g, const REAL *dlog_g, REAL *dz) {
#pragma omp parallel for schedule(static) if (PAR_WORTH(n))
    for (size_t i = 0; i < n; i++) dz[i] = -dlog_g[i] * expm1(log_g[i]);
}

void KR(kern_xent_forward)(int n, int vocab, const REAL *logits, const int32_t *targets, REAL *loss) {
#pragma omp parallel for schedule(static) if (PAR_WORTH((size_t)n * vocab))
    for (int i = 0; i < n; i++) {
        const REAL *li = logits + (size_t)i * vocab;
        REAL mx = li[0];
        for (int j = 1; j < vocab; j++) mx = li[j] > mx ? li[j] : mx;
        double s = 0;
        for (int j = 0; j < vocab; j++) s += exp((double)(li[j] - mx));
        loss[i] = (REAL)(log(s) + mx - li[targets[i]]);
    }
}

void KR(kern_xent_backward)(int n, int vocab, const REAL *logits, const int32_t *targets, REAL scale,
                            REAL *dlogits) {
#pragma omp parallel for schedule(static) if (PAR_WORTH((size_t)n * vocab))
    for (int i = 0; i < n; i++) {
        const REAL *li = logits + (size_t)i * vocab;
        REAL *di = dlogits + (size_t)i * vocab;
        REAL mx = li[0];
        for (int j = 1; j < vocab; j++) mx = li[j] > mx ? li[j] : mx;
        double s = 0;
        for (int j = 0; j < vocab; j++) s += exp((double)(li[j] - mx));
        REAL inv = (REAL)(1.0 / s);
        REAL lt = li[targets[i]];
        for (int j = 0; j < vocab; j++) di[j] = scale * exp(li[j] - mx) * inv;
        di[targets[i]] = scale * (exp(lt - mx) * inv - 1);
    }
}
