/* fit/rank: concrete candidates (a family's configs) ranked under a fitted law.
 *
 * Pure: arrays in, arrays out; fit/ never sees a model config. The budget fixes each candidate's
 * tokens, tokens = C / (3 (W + S)) with the candidate's own W and S (DESIGN.md section 4), so
 * the constraint is written once, here. The score is the predicted loss (an isoflop law: the
 * log distance to x_opt = k C^a); a candidate whose score is not finite (a column the law cannot
 * evaluate, an overflow) is skipped and counted, never ranked. Ties go to the lower index, so
 * the order does not depend on qsort. Bootstrap: the argmin under each replicate's theta; the
 * interval of a quantity is the percentile interval of its value at those argmins, taken as order
 * statistics so that both ends are values of real configs. */
#include "fit/fit.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct scored {
    size_t i;
    double score;
} scored;

static int by_score(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* The score of candidate i under theta (law->theta replaced), from the filled column row xi. */
static double score_of(const fit_law *law, const double *theta, const double *xi, double C, double *loss) {
    if (law->form == FIT_ISOFLOP) {
        *loss = NAN;
        double target = exp(theta[0]) * pow(C, theta[1]);
        return fabs(log(xi[0] / target));
    }
    fit_law l = *law;
    memcpy(l.theta, theta, (1 + 2 * law->k) * sizeof *theta);
    *loss = fit_law_predict(&l, xi);
    return *loss;
}

void fit_rank_free(fit_rank *r) {
    free(r->order);
    free(r->tokens);
    free(r->loss);
    free(r->loss_lo);
    free(r->loss_hi);
    free(r->boot_best);
    memset(r, 0, sizeof *r);
}

int fit_rank_candidates(const fit_law *law, const double *boot, size_t n_boot, const double *x, const double *W,
                        const double *S, size_t n, double C, double level, fit_rank *r, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    size_t k = law->form == FIT_ISOFLOP ? 1 : law->k, np = law->form == FIT_ISOFLOP ? 2 : 1 + 2 * law->k;
    if (!n) return util_err(err, errlen, "no candidates to rank");
    if (!(C > 0) || !isfinite(C)) return util_err(err, errlen, "budget must be a positive number of FLOPs, not %g", C);
    r->n = n, r->k = k, r->n_boot = n_boot;
    double *xf = malloc(n * k * sizeof *xf);
    scored *sc = malloc(n * sizeof *sc);
    r->order = malloc(n * sizeof *r->order);
    r->tokens = malloc(n * sizeof *r->tokens);
    r->loss = malloc(n * sizeof *r->loss);
    r->loss_lo = malloc(n * sizeof *r->loss_lo);
    r->loss_hi = malloc(n * sizeof *r->loss_hi);
    r->boot_best = n_boot ? malloc(n_boot * sizeof *r->boot_best) : NULL;
    double *per = n_boot ? malloc(n_boot * sizeof *per) : NULL;
    if (!xf || !sc || !r->order || !r->tokens || !r->loss || !r->loss_lo || !r->loss_hi ||
        (n_boot && (!r->boot_best || !per))) {
        free(xf), free(sc), free(per);
        fit_rank_free(r);
        return util_err(err, errlen, "out of memory");
    }
    int is_d[FIT_MAX_TERMS] = {0};
    for (size_t j = 0; j < k; j++)
        is_d[j] = law->form == FIT_CHINCHILLA ? j == 1 : fit_role_of(law->cols[j] ? law->cols[j] : "") == FIT_ROLE_D;
    for (size_t i = 0; i < n; i++) {
        r->tokens[i] = fit_budget_tokens(C, W[i], S[i]);
        for (size_t j = 0; j < k; j++) xf[i * k + j] = is_d[j] ? r->tokens[i] : x[i * k + j];
        double s = score_of(law, law->theta, xf + i * k, C, &r->loss[i]);
        if (!isfinite(s) || !isfinite(r->tokens[i])) {
            r->loss[i] = NAN;
            r->n_skipped++;
            continue;
        }
        sc[r->n_ranked++] = (scored){i, s};
    }
    qsort(sc, r->n_ranked, sizeof *sc, by_score);
    for (size_t t = 0; t < r->n_ranked; t++) r->order[t] = sc[t].i;
    /* the edges of each column over the ranked candidates */
    double lo[FIT_MAX_TERMS], hi[FIT_MAX_TERMS];
    for (size_t j = 0; j < k; j++) {
        lo[j] = INFINITY, hi[j] = -INFINITY;
        for (size_t t = 0; t < r->n_ranked; t++) {
            double v = xf[sc[t].i * k + j];
            lo[j] = fmin(lo[j], v), hi[j] = fmax(hi[j], v);
        }
    }
    if (r->n_ranked)
        for (size_t j = 0; j < k; j++) {
            double v = xf[r->order[0] * k + j];
            r->bound[j] = lo[j] == hi[j] ? 0 : v == lo[j] ? -1 : v == hi[j] ? 1 : 0;
        }
    /* bootstrap: the argmin per replicate, then each candidate's loss over the replicates
     * (two passes rather than an n x n_boot table: a family may hold 200,000 configs) */
    for (size_t s = 0; s < n_boot; s++) {
        size_t best = SIZE_MAX;
        double bs = INFINITY, l;
        for (size_t i = 0; i < n; i++) {
            if (isnan(r->loss[i]) && law->form != FIT_ISOFLOP) continue; /* skipped above */
            double v = score_of(law, boot + s * np, xf + i * k, C, &l);
            if (isfinite(v) && v < bs) bs = v, best = i;
        }
        r->boot_best[s] = best;
        if (best == SIZE_MAX) { r->n_boot_none++; continue; }
        for (size_t j = 0; j < k; j++) {
            double v = xf[best * k + j];
            if (lo[j] < hi[j] && (v == lo[j] || v == hi[j])) { r->n_boot_edge++; break; }
        }
    }
    for (size_t i = 0; i < n; i++) {
        r->loss_lo[i] = r->loss_hi[i] = NAN;
        if (!n_boot || isnan(r->loss[i])) continue;
        for (size_t s = 0; s < n_boot; s++) score_of(law, boot + s * np, xf + i * k, C, &per[s]);
        fit_percentile_interval(per, n_boot, level, &r->loss_lo[i], &r->loss_hi[i]);
    }
    free(xf), free(sc), free(per);
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Order statistics, not interpolation: the argmins are discrete configs, so each end of the
 * interval is a value some replicate's best config really has (the outer neighbours of the
 * interpolated percentiles, which can only widen it). */
void fit_rank_interval(const fit_rank *r, const double *v, double level, double *lo, double *hi) {
    *lo = *hi = NAN;
    size_t m = 0;
    double *w = r->n_boot ? malloc(r->n_boot * sizeof *w) : NULL;
    if (!w) return;
    for (size_t s = 0; s < r->n_boot; s++)
        if (r->boot_best[s] != SIZE_MAX && !isnan(v[r->boot_best[s]])) w[m++] = v[r->boot_best[s]];
    if (m) {
        qsort(w, m, sizeof *w, cmp_double);
        *lo = w[(size_t)floor((1 - level) / 2 * (double)(m - 1))];
        *hi = w[(size_t)ceil((1 + level) / 2 * (double)(m - 1))];
    }
    free(w);
}
