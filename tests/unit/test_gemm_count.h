/* Tests only: a log of the gemms the CPU mixers execute (through the hook of
 * kernels/cpu/mixer_count.h), and the DESIGN.md section 4 share of each power
 * mixer gemm, named by its shape. Shared by test_mixer_flops.c and test_flops_net.c. */
#ifndef SCALELAB_TEST_GEMM_COUNT_H
#define SCALELAB_TEST_GEMM_COUNT_H

#include <stdio.h>
#include <stdlib.h>

#include "kernels/kernels.h"
#include "kernels/cpu/mixer_count.h"

typedef struct gemm_log {
    int n, cap;
    struct gemm_call { int ta, tb, m, n, k; } *v;
} gemm_log;

static inline void log_gemm(void *ctx, int ta, int tb, int m, int n, int k) {
    gemm_log *g = ctx;
#pragma omp critical(test_gemm_log)
    {
        if (g->n == g->cap) {
            g->cap = g->cap ? 2 * g->cap : 256;
            g->v = realloc(g->v, (size_t)g->cap * sizeof *g->v);
            if (!g->v) abort();
        }
        g->v[g->n++] = (struct gemm_call){ta, tb, m, n, k};
    }
}

static inline double gemm_flops(const struct gemm_call *g) { return 2.0 * g->m * g->n * g->k; }

/* A power gemm's DESIGN share, by shape. */
typedef struct power_split {
    double state, intra, recomputed_scores; /* model FLOPs (state, intra), and c x c x d score gemms */
    int unknown;
} power_split;

static inline power_split split_power(const kern_mixer_shape *s, const gemm_log *log, int backward) {
    int c = s->chunk, d = s->head_dim, d1 = d + 1, D = 1;
    for (int r = 1; r <= s->p; r++) D = D * (d + r - 1) / r;
    power_split out = {0};
    double tri = (double)c * (c + 1); /* 2 x causal pairs of a c x c block */
    /* Shapes with their transposes (N/T of a, b), so c == d cannot confuse them:
     * forward  scores NT c,c,d   A[V|1] NN c,d1,c   query NN c,d1,D   update TN D,d1,c
     * backward dA NT c,c,d1   dV TN c,d1,c   dQ NN c,d,c   dK TN c,d,c   scores again NT c,c,d;
     *          d(update) NN c,d1,D and NT c,D,d1; d(query) NT c,D,d1 and TN D,d1,c; states again TN D,d1,c */
    for (int i = 0; i < log->n; i++) {
        const struct gemm_call *g = &log->v[i];
        int nn = !g->ta && !g->tb, nt = !g->ta && g->tb, tn = g->ta && !g->tb;
        if ((nn && g->m == c && g->n == d1 && g->k == D) || (nt && g->m == c && g->n == D && g->k == d1) ||
            (tn && g->m == D && g->n == d1 && g->k == c)) {
            out.state += gemm_flops(g);                 /* state query, update, or their gradients */
        } else if (nt && g->m == c && g->n == c && g->k == d) {
            if (backward) out.recomputed_scores += gemm_flops(g);
            else out.intra += tri * d;                  /* scores: 2d per causal pair */
        } else if (((nn && !backward) || (tn && backward)) && g->m == c && g->n == d1 && g->k == c) {
            out.intra += tri * d;                       /* A [V|1] (or its V gradient): 2d per pair, not the 1s */
        } else if (backward && nt && g->m == c && g->n == c && g->k == d1) {
            out.intra += tri * d;                       /* dA = dN' [V|1]^T: 2d per pair */
        } else if (backward && (nn || tn) && g->m == c && g->n == d && g->k == c) {
            out.intra += tri * d;                       /* dQ, dK from dA: 2d per pair */
        } else {
            out.unknown++;
            printf("  unexpected gemm %s%s m%d n%d k%d\n", g->ta ? "T" : "N", g->tb ? "T" : "N", g->m, g->n, g->k);
        }
    }
    return out;
}

/* FLOPs of the states the power backward recomputes (chunks 1..nc-1, per
 * (batch, kv head) pair) and of the scores it recomputes (per query head and chunk). */
static inline double power_recomputed_states(const kern_mixer_shape *s) {
    double D = 1, d = s->head_dim, c = s->chunk;
    for (int r = 1; r <= s->p; r++) D = D * (d + r - 1) / r;
    return (double)s->batch * s->n_kv_head * (s->seq / s->chunk - 1) * 2.0 * D * (d + 1) * c;
}
static inline double power_recomputed_scores(const kern_mixer_shape *s) {
    return (double)s->batch * s->n_head * (s->seq / s->chunk) * 2.0 * s->chunk * s->chunk * s->head_dim;
}


#endif
