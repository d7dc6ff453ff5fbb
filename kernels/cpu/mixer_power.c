/* Gated power retention, forward: the chunked algorithm of MATH.md per
 * (batch, kv head) pair, and the plain attention form for tests.
 *
 * Chunk m of kv head g carries S' = [S | z] (D x (d+1)): the value column block
 * and the normaliser column are one matrix because V is extended by a column of
 * ones, so every state product is one gemm: N' = A [V|1] + phi(Q~) S' and
 * S' <- exp(Gamma) S' + phi(U)^T [V|1]. Scales and gates are folded into the
 * vectors before phi (phi is homogeneous of degree p):
 *   Q~_i = s exp(G'_i/p) q_i,  U_j = exp((Gamma - G'_j)/p) k_j,
 * so every exponent is <= 0 and nothing overflows for any gate. */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/cpu/real.h"
#include "kernels/cpu/mixer_impl.h"

static inline REAL ipow(REAL x, int p) {
    REAL r = x;
    for (int t = 1; t < p; t++) r *= x;
    return r;
}

void KR(kern_mx_power_load_chunk)(const kern_mixer_shape *s, int b, int g, int t0, const REAL *k,
                             const REAL *v, const REAL *log_g, REAL *vp, double *gcum, double *gamma,
                             REAL *u, REAL *pu) {
    int T = s->seq, d = s->head_dim, nkv = s->n_kv_head, c = s->chunk, p = s->p;
    double acc = 0;
    for (int i = 0; i < c; i++) {
        if (log_g) acc += log_g[(size_t)(b * T + t0 + i) * nkv + g];
        gcum[i] = acc;
    }
    *gamma = acc;
    for (int j = 0; j < c; j++) {
        size_t row = ((size_t)(b * T + t0 + j) * nkv + g) * d;
        memcpy(vp + (size_t)j * (d + 1), v + row, sizeof(REAL) * d);
        vp[(size_t)j * (d + 1) + d] = 1;
        REAL e = log_g ? (REAL)exp((acc - gcum[j]) / p) : 1;
        for (int f = 0; f < d; f++) u[(size_t)j * d + f] = e * k[row + f];
    }
    KR(kern_mx_phi_rows)(p, d, c, u, d, pu);
}

void KR(kern_mx_power_load_queries)(const kern_mixer_shape *s, int b, int h, int t0, const REAL *q,
                               const REAL *k, const double *gcum, REAL *qt, REAL *pq, REAL *a, REAL *raw) {
    int T = s->seq, d = s->head_dim, nh = s->n_head, nkv = s->n_kv_head, c = s->chunk, p = s->p;
    int g = h / (nh / nkv);
    const REAL *qb = q + ((size_t)(b * T + t0) * nh + h) * d;
    const REAL *kb = k + ((size_t)(b * T + t0) * nkv + g) * d;
    REAL scale = (REAL)s->scale;
    for (int i = 0; i < c; i++) {
        REAL e = scale * (REAL)exp(gcum[i] / p);
        for (int f = 0; f < d; f++) qt[(size_t)i * d + f] = e * qb[(size_t)i * nh * d + f];
    }
    KR(kern_mx_phi_rows)(p, d, c, qt, d, pq);
    cblas_gemm(CblasRowMajor, CblasNoTrans, CblasTrans, c, c, d, scale, qb, nh * d, kb, nkv * d, 0, a, c);
    for (int i = 0; i < c; i++) {
        REAL *ar = a + (size_t)i * c;
        int nkeys = kern_mx_power_intra_keys(i);
        if (raw) memcpy(raw + (size_t)i * c, ar, sizeof(REAL) * c);
        for (int j = 0; j < nkeys; j++) ar[j] = ipow(ar[j], p) * MX_EXP((REAL)(gcum[i] - gcum[j]));
        for (int j = nkeys; j < c; j++) ar[j] = 0;
    }
}

void KR(kern_mx_power_forward_unit)(const kern_mixer_shape *s, int b, int g, const REAL *q, const REAL *k,
                               const REAL *v, const REAL *log_g, REAL *y, REAL *saved, REAL *work) {
    int T = s->seq, d = s->head_dim, nh = s->n_head, nkv = s->n_kv_head, group = nh / nkv;
    int c = s->chunk, p = s->p, D = kern_mx_phi_dim(d, p), d1 = d + 1;
    double *gcum = (double *)work;
    REAL *st = work + MX_DOUBLES(c), *vp = st + (size_t)D * d1, *qt = vp + (size_t)c * d1;
    REAL *pq = qt + (size_t)c * d, *a = pq + (size_t)c * D, *np = a + (size_t)c * c;
    REAL *u = np + (size_t)c * d1, *pu = u + (size_t)c * d;
    REAL eps = (REAL)s->eps;
    memset(st, 0, sizeof(REAL) * D * d1);
    for (int m = 0; m < kern_mx_power_chunks(s); m++) {
        int t0 = m * c;
        double gamma;
        KR(kern_mx_power_load_chunk)(s, b, g, t0, k, v, log_g, vp, gcum, &gamma, u, pu);
        for (int h = g * group; h < (g + 1) * group; h++) {
            KR(kern_mx_power_load_queries)(s, b, h, t0, q, k, gcum, qt, pq, a, NULL);
            cblas_gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c, d1, c, 1, a, c, vp, d1, 0, np, d1);
            cblas_gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c, d1, D, 1, pq, D, st, d1, 1, np, d1);
            REAL *sv = saved + ((size_t)b * nh + h) * T + t0;
            for (int i = 0; i < c; i++) {
                const REAL *nr = np + (size_t)i * d1;
                REAL *yr = y + ((size_t)(b * T + t0 + i) * nh + h) * d;
                REAL div;
                if (s->normalize_rms) {
                    REAL ms = 0;
                    for (int f = 0; f < d; f++) ms += nr[f] * nr[f];
                    div = MX_SQRT(ms / d + eps);
                } else {
                    div = eps + nr[d];
                }
                sv[i] = div;
                for (int f = 0; f < d; f++) yr[f] = nr[f] / div;
            }
        }
        cblas_gemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, d1, c, 1, pu, D, vp, d1, (REAL)exp(gamma), st,
                   d1);
    }
}

void KR(kern_power_attention_forward)(const kern_mixer_shape *s, const REAL *q, const REAL *k,
                                      const REAL *v, const REAL *log_g, REAL *y) {
    int T = s->seq, d = s->head_dim, nh = s->n_head, nkv = s->n_kv_head, group = nh / nkv, p = s->p;
    assert(s->kind == KERN_MIXER_POWER && (log_g != NULL) == (s->gating != 0));
    for (int b = 0; b < s->batch; b++)
        for (int h = 0; h < nh; h++)
            for (int i = 0; i < T; i++) {
                int g = h / group;
                const REAL *qi = q + ((size_t)(b * T + i) * nh + h) * d;
                REAL *yi = y + ((size_t)(b * T + i) * nh + h) * d;
                double den = 0, decay = 0; /* decay = G_i - G_j, summed from j = i down */
                memset(yi, 0, sizeof(REAL) * d);
                for (int j = i; j >= 0; j--) {
                    if (j < i && log_g) decay += log_g[(size_t)(b * T + j + 1) * nkv + g];
                    const REAL *kj = k + ((size_t)(b * T + j) * nkv + g) * d;
                    const REAL *vj = v + ((size_t)(b * T + j) * nkv + g) * d;
                    double dot = 0;
                    for (int f = 0; f < d; f++) dot += (double)qi[f] * kj[f];
                    double w = pow(s->scale * dot, p) * exp(decay);
                    den += w;
                    for (int f = 0; f < d; f++) yi[f] += (REAL)(w * vj[f]);
                }
                double div;
                if (s->normalize_rms) {
                    double ms = 0;
                    for (int f = 0; f < d; f++) ms += (double)yi[f] * yi[f];
                    div = sqrt(ms / d + s->eps);
                } else {
                    div = s->eps + den;
                }
                for (int f = 0; f < d; f++) yi[f] = (REAL)(yi[f] / div);
            }
}
