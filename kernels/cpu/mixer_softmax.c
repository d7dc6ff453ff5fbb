/* Softmax and sliding-window causal attention with GQA, per (batch, kv head)
 * pair. Queries go in blocks of kern_mx_attn_qblock rows; each block's scores against
 * its key range (kern_mx_attn_key_range) are one gemm, masked row by row, softmaxed
 * with the row maximum subtracted, and multiplied by V in a second gemm.
 * Forward saves each row's log-sum-exp; backward recomputes the probabilities
 * from it (no T x T matrix is kept). */
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/cpu/real.h"
#include "kernels/cpu/mixer_impl.h"

/* Row pointers into the [batch, seq, heads, head_dim] tensors. */
#define QROW(base, t) ((base) + ((size_t)(b * T + (t)) * nh + h) * d)
#define KROW(base, t) ((base) + ((size_t)(b * T + (t)) * nkv + g) * d)

/* Scores of query block [q0, q0+rows) against keys [k0, k0+nk) into sc, then
 * for each row the masked probabilities exp(score - lse); lse is computed
 * (and stored) when `lse_out` is set, else read from lse_in. */
static void block_probs(const kern_mixer_shape *s, int q0, int rows, int k0, int nk, const REAL *qb,
                        int ldq, const REAL *kb, int ldk, REAL *sc, const REAL *lse_in, REAL *lse_out) {
    int d = s->head_dim;
    cblas_gemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, nk, d, (REAL)s->scale, qb, ldq, kb, ldk,
               0, sc, nk);
    for (int r = 0; r < rows; r++) {
        int i = q0 + r;
        int lo = kern_mx_attn_first_key(s, i) - k0, hi = i - k0; /* valid: lo..hi inclusive */
        REAL *row = sc + (size_t)r * nk;
        for (int j = 0; j < lo; j++) row[j] = 0;
        for (int j = hi + 1; j < nk; j++) row[j] = 0;
        if (lse_out) {
            REAL mx = row[lo], sum = 0;
            for (int j = lo + 1; j <= hi; j++) mx = row[j] > mx ? row[j] : mx;
            for (int j = lo; j <= hi; j++) sum += (row[j] = MX_EXP(row[j] - mx));
            lse_out[i] = mx + MX_LOG(sum);
            REAL inv = 1 / sum;
            for (int j = lo; j <= hi; j++) row[j] *= inv;
        } else {
            REAL lse = lse_in[i];
            for (int j = lo; j <= hi; j++) row[j] = MX_EXP(row[j] - lse);
        }
    }
}

void KR(kern_mx_softmax_forward_unit)(const kern_mixer_shape *s, int b, int g, const REAL *q, const REAL *k,
                                 const REAL *v, REAL *y, REAL *saved, REAL *work) {
    int T = s->seq, d = s->head_dim, nh = s->n_head, nkv = s->n_kv_head, group = nh / nkv;
    int qblock = kern_mx_attn_qblock(s), ldq = nh * d, ldk = nkv * d;
    REAL *sc = work;
    for (int h = g * group; h < (g + 1) * group; h++) {
        REAL *lse = saved + ((size_t)b * nh + h) * T;
        for (int q0 = 0; q0 < T; q0 += qblock) {
            int q1 = q0 + qblock < T ? q0 + qblock : T, k0, k1;
            kern_mx_attn_key_range(s, q0, q1, &k0, &k1);
            block_probs(s, q0, q1 - q0, k0, k1 - k0, QROW(q, q0), ldq, KROW(k, k0), ldk, sc, NULL, lse);
            cblas_gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, q1 - q0, d, k1 - k0, 1, sc, k1 - k0,
                       KROW(v, k0), ldk, 0, QROW(y, q0), ldq);
        }
    }
}

void KR(kern_mx_softmax_backward_unit)(const kern_mixer_shape *s, int b, int g, const REAL *q, const REAL *k,
                                  const REAL *v, const REAL *y, const REAL *saved, const REAL *dy,
                                  REAL *dq, REAL *dk, REAL *dv, REAL *work) {
    int T = s->seq, d = s->head_dim, nh = s->n_head, nkv = s->n_kv_head, group = nh / nkv;
    int qblock = kern_mx_attn_qblock(s), ldq = nh * d, ldk = nkv * d;
    REAL *sc = work, *dsc = work + (size_t)qblock * T;
    for (int t = 0; t < T; t++) {
        memset(KROW(dk, t), 0, sizeof(REAL) * d);
        memset(KROW(dv, t), 0, sizeof(REAL) * d);
    }
    for (int h = g * group; h < (g + 1) * group; h++) {
        const REAL *lse = saved + ((size_t)b * nh + h) * T;
        for (int q0 = 0; q0 < T; q0 += qblock) {
            int q1 = q0 + qblock < T ? q0 + qblock : T, k0, k1;
            kern_mx_attn_key_range(s, q0, q1, &k0, &k1);
            int rows = q1 - q0, nk = k1 - k0;
            block_probs(s, q0, rows, k0, nk, QROW(q, q0), ldq, KROW(k, k0), ldk, sc, lse, NULL);
            /* dP = dY V^T; dS = P (dP - dy.y) row by row */
            cblas_gemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, nk, d, 1, QROW(dy, q0), ldq,
                       KROW(v, k0), ldk, 0, dsc, nk);
            for (int r = 0; r < rows; r++) {
                const REAL *dyr = QROW(dy, q0 + r), *yr = QROW(y, q0 + r);
                REAL dot = 0;
                for (int f = 0; f < d; f++) dot += dyr[f] * yr[f];
                REAL *pr = sc + (size_t)r * nk, *dr = dsc + (size_t)r * nk;
                for (int j = 0; j < nk; j++) dr[j] = pr[j] * (dr[j] - dot);
            }
            REAL sc_ = (REAL)s->scale;
            cblas_gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, d, nk, sc_, dsc, nk, KROW(k, k0),
                       ldk, 0, QROW(dq, q0), ldq);
            cblas_gemm(CblasRowMajor, CblasTrans, CblasNoTrans, nk, d, rows, sc_, dsc, nk, QROW(q, q0),
                       ldq, 1, KROW(dk, k0), ldk);
            cblas_gemm(CblasRowMajor, CblasTrans, CblasNoTrans, nk, d, rows, 1, sc, nk, QROW(dy, q0), ldq,
                       1, KROW(dv, k0), ldk);
        }
    }
}
