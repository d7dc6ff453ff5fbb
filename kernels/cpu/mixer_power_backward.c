/* Gated power retention, backward (MATH.md "Backward, in outline"), per
 * (batch, kv head) pair. The states S'_m entering each chunk are recomputed
 * first (forward does not keep them), then chunks run in reverse carrying
 * dS'_{m+1}, the gradient of the state leaving chunk m. Within a chunk:
 *   update   S'_{m+1} = e^Gamma S'_m + phi(U)^T [V|1]:  d[V|1] += phi(U) dS',
 *            dphi(U) = [V|1] dS'^T, dU through phi's Jacobian, dS'_m = e^Gamma dS';
 *   query    N' += phi(Q~) S'_m:  dphi(Q~) = dN' S'_m^T, dS'_m += phi(Q~)^T dN';
 *   intra    N' = A [V|1]:  dA = dN' [V|1]^T, d[V|1] += A^T dN',
 *            d(s q.k) = dA p (s q.k)^(p-1) e^(G'_i - G'_j)  (never A p / (q.k)).
 * Gates: each exponential's derivative is (its term) x (gradient into it); the
 * per-token G' gradients are pushed to log g by a reverse cumulative sum. */
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/cpu/real.h"
#include "kernels/cpu/mixer_impl.h"

static inline REAL dpow(REAL x, int p) { /* d/dx x^p */
    REAL r = (REAL)p;
    for (int t = 1; t < p; t++) r *= x;
    return r;
}

static REAL dot(const REAL *a, const REAL *b, size_t n) {
    REAL acc = 0;
    for (size_t i = 0; i < n; i++) acc += a[i] * b[i];
    return acc;
}

void KR(kern_mx_power_backward_unit)(const kern_mixer_shape *s, int b, int g, const REAL *q, const REAL *k,
                                const REAL *v, const REAL *log_g, const REAL *y, const REAL *saved,
                                const REAL *dy, REAL *dq, REAL *dk, REAL *dv, REAL *dlog_g, REAL *work) {
    int T = s->seq, d = s->head_dim, nh = s->n_head, nkv = s->n_kv_head, group = nh / nkv;
    int c = s->chunk, p = s->p, D = kern_mx_phi_dim(d, p), d1 = d + 1, nc = kern_mx_power_chunks(s);
    int ldq = nh * d, ldk = nkv * d, gated = log_g != NULL;
    size_t SZ = (size_t)D * d1;
    double *gcum = (double *)work;
    REAL *states = work + MX_DOUBLES(c), *dst = states + nc * SZ, *vp = dst + SZ;
    REAL *dg = vp + (size_t)c * d1, *qt = dg + c, *pq = qt + (size_t)c * d, *a = pq + (size_t)c * D;
    REAL *raw = a + (size_t)c * c, *da = raw + (size_t)c * c, *dnp = da + (size_t)c * c;
    REAL *dphi = dnp + (size_t)c * d1, *dqt = dphi + (size_t)c * D, *u = dqt + (size_t)c * d;
    REAL *pu = u + (size_t)c * d, *du = pu + (size_t)c * D, *dvp = du + (size_t)c * d;
    REAL scale = (REAL)s->scale;
    double gamma;

    memset(states, 0, sizeof(REAL) * SZ);
    for (int m = 0; m + 1 < nc; m++) {
        KR(kern_mx_power_load_chunk)(s, b, g, m * c, k, v, log_g, vp, gcum, &gamma, u, pu);
        memcpy(states + (m + 1) * SZ, states + m * SZ, sizeof(REAL) * SZ);
        cblas_gemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, d1, c, 1, pu, D, vp, d1, (REAL)exp(gamma),
                   states + (m + 1) * SZ, d1);
    }
    for (int t = 0; t < T; t++) {
        size_t row = (size_t)(b * T + t);
        memset(dk + (row * nkv + g) * d, 0, sizeof(REAL) * d);
        memset(dv + (row * nkv + g) * d, 0, sizeof(REAL) * d);
        memset(dq + (row * nh + (size_t)g * group) * d, 0, sizeof(REAL) * d * group);
    }
    memset(dst, 0, sizeof(REAL) * SZ);

    for (int m = nc - 1; m >= 0; m--) {
        int t0 = m * c;
        const REAL *st = states + m * SZ;
        KR(kern_mx_power_load_chunk)(s, b, g, t0, k, v, log_g, vp, gcum, &gamma, u, pu);
        REAL *kb = dk + ((size_t)(b * T + t0) * nkv + g) * d;
        const REAL *kin = k + ((size_t)(b * T + t0) * nkv + g) * d;
        memset(dg, 0, sizeof(REAL) * c);
        REAL dgamma = 0;

        /* state update, backward */
        cblas_gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c, d1, D, 1, pu, D, dst, d1, 0, dvp, d1);
        cblas_gemm(CblasRowMajor, CblasNoTrans, CblasTrans, c, D, d1, 1, vp, d1, dst, d1, 0, dphi, D);
        KR(kern_mx_phi_rows_backward)(p, d, c, u, d, dphi, du, d);
        for (int j = 0; j < c; j++) {
            REAL e = gated ? (REAL)exp((gamma - gcum[j]) / p) : 1;
            for (int f = 0; f < d; f++) kb[(size_t)j * ldk + f] += e * du[(size_t)j * d + f];
            if (gated) {
                REAL t = dot(du + (size_t)j * d, u + (size_t)j * d, d) / p;
                dgamma += t;
                dg[j] -= t;
            }
        }
        if (gated) {
            REAL eg = (REAL)exp(gamma);
            dgamma += eg * dot(dst, st, SZ);
            for (size_t i = 0; i < SZ; i++) dst[i] *= eg;
        }

        for (int h = g * group; h < (g + 1) * group; h++) {
            const REAL *qin = q + ((size_t)(b * T + t0) * nh + h) * d;
            REAL *qb = dq + ((size_t)(b * T + t0) * nh + h) * d;
            const REAL *sv = saved + ((size_t)b * nh + h) * T + t0;
            KR(kern_mx_power_load_queries)(s, b, h, t0, q, k, gcum, qt, pq, a, raw);
            /* dN' from the normalisation */
            for (int i = 0; i < c; i++) {
                const REAL *dyr = dy + (size_t)i * ldq + (qin - q), *yr = y + (size_t)i * ldq + (qin - q);
                REAL *dn = dnp + (size_t)i * d1, yy = dot(dyr, yr, d), div = sv[i];
                if (s->normalize_rms) {
                    for (int f = 0; f < d; f++) dn[f] = (dyr[f] - yr[f] * yy / d) / div;
                    dn[d] = 0;
                } else {
                    for (int f = 0; f < d; f++) dn[f] = dyr[f] / div;
                    dn[d] = -yy / div;
                }
            }
            /* state query, backward */
            cblas_gemm(CblasRowMajor, CblasNoTrans, CblasTrans, c, D, d1, 1, dnp, d1, st, d1, 0, dphi, D);
            KR(kern_mx_phi_rows_backward)(p, d, c, qt, d, dphi, dqt, d);
            for (int i = 0; i < c; i++) {
                REAL e = scale * (gated ? (REAL)exp(gcum[i] / p) : 1);
                for (int f = 0; f < d; f++) qb[(size_t)i * ldq + f] += e * dqt[(size_t)i * d + f];
                if (gated) dg[i] += dot(dqt + (size_t)i * d, qt + (size_t)i * d, d) / p;
            }
            cblas_gemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, d1, c, 1, pq, D, dnp, d1, 1, dst, d1);
            /* intra-chunk attention, backward */
            cblas_gemm(CblasRowMajor, CblasNoTrans, CblasTrans, c, c, d1, 1, dnp, d1, vp, d1, 0, da, c);
            cblas_gemm(CblasRowMajor, CblasTrans, CblasNoTrans, c, d1, c, 1, a, c, dnp, d1, 1, dvp, d1);
            for (int i = 0; i < c; i++) {
                REAL *dar = da + (size_t)i * c;
                const REAL *ar = a + (size_t)i * c, *rr = raw + (size_t)i * c;
                int nkeys = kern_mx_power_intra_keys(i);
                for (int j = 0; j < nkeys; j++) {
                    if (gated) {
                        REAL t = dar[j] * ar[j];
                        dg[i] += t;
                        dg[j] -= t;
                    }
                    dar[j] *= dpow(rr[j], p) * (gated ? MX_EXP((REAL)(gcum[i] - gcum[j])) : 1);
                }
                for (int j = nkeys; j < c; j++) dar[j] = 0;
            }
            cblas_gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c, d, c, scale, da, c, kin, ldk, 1, qb, ldq);
            cblas_gemm(CblasRowMajor, CblasTrans, CblasNoTrans, c, d, c, scale, da, c, qin, ldq, 1, kb, ldk);
        }
        for (int j = 0; j < c; j++) {
            REAL *vr = dv + ((size_t)(b * T + t0 + j) * nkv + g) * d;
            for (int f = 0; f < d; f++) vr[f] += dvp[(size_t)j * d1 + f];
        }
        if (gated) {
            dg[c - 1] += dgamma;
            REAL acc = 0;
            for (int i = c - 1; i >= 0; i--) {
                acc += dg[i];
                dlog_g[(size_t)(b * T + t0 + i) * nkv + g] = acc;
            }
        }
    }
}
