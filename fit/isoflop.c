/* fit/isoflop: Approach 2 of Hoffmann et al. 2022.
 *
 * Method. Points are grouped by budget: sorted by budget, a point joins the current group while
 * its budget is within rel_tol of the group's first budget. Per group with at least 3 distinct x,
 * L = c0 + c1 u + c2 u^2 with u = log x - mean(log x) (centred for conditioning) is fitted by
 * ordinary least squares (gsl_multifit_linear). The vertex u* = -c1 / (2 c2) needs c2 > 0 (a
 * concave group is skipped and counted). Its interval: delta method, var u* = g' Cov g with
 * g = (-1/(2 c2), c1/(2 c2^2)) and Cov scaled by the residual variance, times the Student-t
 * quantile with n - 3 degrees of freedom (no interval when n = 3: the parabola passes through
 * its three points and leaves no residual to estimate the noise from). A vertex outside the
 * budget's sampled x is a bound (the optimum lies at or beyond that edge), not an optimum. Then
 * log x* = log k + a log C by ordinary least squares (gsl_fit_linear) over the budgets with an
 * interior vertex, only when there are at least FIT_ISOFLOP_MIN_BUDGETS of them (two points
 * always lie on a line: no check, no interval), intervals from its covariance with t quantiles
 * on (budgets - 2) degrees of freedom. Closed-form solves: no stopping rule. */
#include "fit/fit.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_fit.h>
#include <gsl/gsl_multifit.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void fit_isoflop_free(fit_isoflop *r) {
    if (!r) return;
    free(r->col);
    free(r->budgets);
    memset(r, 0, sizeof *r);
}

static int by_budget(const void *a, const void *b, void *ctx) {
    const double *c = ctx;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    if (c[i] != c[j]) return c[i] < c[j] ? -1 : 1;
    return i < j ? -1 : i > j;
}

int fit_isoflop_parabola(const double *x, const double *y, const size_t *idx_or_null, size_t n,
                         double level, fit_isoflop_budget *out) {
    size_t *ident = NULL;
    const size_t *idx = idx_or_null;
    if (!idx) {
        if (!(ident = malloc((n ? n : 1) * sizeof *ident))) return -1;
        for (size_t i = 0; i < n; i++) ident[i] = i;
        idx = ident;
    }
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < i && x[idx[j]] != x[idx[i]]) j++;
        distinct += j == i;
    }
    double mu = 0, cb = 0;
    int rc = 0;
    if (distinct < 3) {
        free(ident);
        return 0;
    }
    out->x_min = INFINITY;
    out->x_max = 0;
    for (size_t i = 0; i < n; i++) {
        mu += log(x[idx[i]]) / (double)n;
        out->x_min = fmin(out->x_min, x[idx[i]]);
        out->x_max = fmax(out->x_max, x[idx[i]]);
    }
    gsl_matrix *X = gsl_matrix_alloc(n, 3), *cov = gsl_matrix_alloc(3, 3);
    gsl_vector *Y = gsl_vector_alloc(n), *c = gsl_vector_alloc(3);
    gsl_multifit_linear_workspace *w = gsl_multifit_linear_alloc(n, 3);
    rc = -1;
    if (!X || !cov || !Y || !c || !w) goto out;
    for (size_t i = 0; i < n; i++) {
        double u = log(x[idx[i]]) - mu;
        gsl_matrix_set(X, i, 0, 1);
        gsl_matrix_set(X, i, 1, u);
        gsl_matrix_set(X, i, 2, u * u);
        gsl_vector_set(Y, i, y[idx[i]]);
    }
    double chisq;
    gsl_multifit_linear(X, Y, c, cov, &chisq, w);
    double c0 = gsl_vector_get(c, 0), c1 = gsl_vector_get(c, 1), c2 = gsl_vector_get(c, 2);
    rc = 0;
    if (!(c2 > 0)) goto out;
    double us = -c1 / (2 * c2);
    out->n = n;
    out->vertex = exp(mu + us);
    out->bound = out->vertex < out->x_min ? -1 : out->vertex > out->x_max ? 1 : 0;
    out->loss = c0 + c1 * us + c2 * us * us;
    out->curvature = c2;
    /* the same parabola in u = log x, uncentred: c0 + c1 (u - mu) + c2 (u - mu)^2 */
    out->coef[0] = c0 - c1 * mu + c2 * mu * mu;
    out->coef[1] = c1 - 2 * c2 * mu;
    out->coef[2] = c2;
    out->lo = out->hi = NAN;
    if (n > 3) {
        /* gsl_multifit_linear scales cov by the residual variance chisq / (n - 3) already */
        double g1 = -1 / (2 * c2), g2 = c1 / (2 * c2 * c2);
        double v = (g1 * g1 * gsl_matrix_get(cov, 1, 1) + 2 * g1 * g2 * gsl_matrix_get(cov, 1, 2) +
                    g2 * g2 * gsl_matrix_get(cov, 2, 2));
        double h = gsl_cdf_tdist_Pinv(0.5 + level / 2, (double)(n - 3)) * sqrt(v);
        out->lo = exp(mu + us - h);
        out->hi = exp(mu + us + h);
    }
    for (size_t i = 0; i < n; i++) {
        double u = log(x[idx[i]]) - mu, e = log((c0 + c1 * u + c2 * u * u) / y[idx[i]]);
        cb += isfinite(e) ? e * e : 0;
    }
    out->ss_log = cb;
    out->rss = chisq;
    rc = 1;
out:
    gsl_matrix_free(X);
    gsl_matrix_free(cov);
    gsl_vector_free(Y);
    gsl_vector_free(c);
    if (w) gsl_multifit_linear_free(w);
    free(ident);
    return rc;
}

/* log x_opt = log k + a log C over the budgets with an interior vertex (see the header). */
static int regress_vertices(fit_isoflop *r, double level, char *err, size_t errlen) {
    size_t m = 0, nb = r->n_budgets;
    for (size_t i = 0; i < nb; i++) m += r->budgets[i].bound == 0;
    r->n_interior = m;
    if (m < FIT_ISOFLOP_MIN_BUDGETS) {
        snprintf(r->note, sizeof r->note,
                 "no exponent: %zu of %zu budgets have their vertex inside the sampled %s (need %d)", m, nb, r->col,
                 FIT_ISOFLOP_MIN_BUDGETS);
        return 0;
    }
    double *lc = malloc(m * sizeof *lc), *lv = malloc(m * sizeof *lv);
    if (!lc || !lv) {
        free(lc), free(lv);
        fit_isoflop_free(r);
        return util_err(err, errlen, "out of memory");
    }
    for (size_t i = 0, j = 0; i < nb; i++) {
        if (r->budgets[i].bound) continue;
        lc[j] = log(r->budgets[i].budget);
        lv[j++] = log(r->budgets[i].vertex);
    }
    double c0, c1, v00, v01, v11, ss;
    gsl_fit_linear(lc, 1, lv, 1, m, &c0, &c1, &v00, &v01, &v11, &ss);
    r->log_k = c0;
    r->exponent = c1;
    /* gsl_fit_linear scales the covariance by ss / (m - 2) already; m >= 3 */
    double t = gsl_cdf_tdist_Pinv(0.5 + level / 2, (double)(m - 2));
    r->exponent_se = sqrt(v11);
    r->log_k_se = sqrt(v00);
    r->exponent_lo = c1 - t * sqrt(v11);
    r->exponent_hi = c1 + t * sqrt(v11);
    r->k_lo = exp(c0 - t * sqrt(v00));
    r->k_hi = exp(c0 + t * sqrt(v00));
    free(lc);
    free(lv);
    return 0;
}

int fit_isoflop_fit(const double *x, const double *y, const double *budget, size_t n, double rel_tol,
                    double level, const char *col, fit_isoflop *r, char *err, size_t errlen) {
    gsl_set_error_handler_off(); /* statuses are checked; see fit_law_fit */
    memset(r, 0, sizeof *r);
    r->exponent_lo = r->exponent_hi = r->k_lo = r->k_hi = NAN;
    r->log_k = r->exponent = r->exponent_se = r->log_k_se = NAN;
    for (size_t i = 0; i < n; i++)
        if (!(x[i] > 0) || !(y[i] > 0) || !(budget[i] > 0) || !isfinite(x[i] + y[i] + budget[i]))
            return util_err(err, errlen, "point %zu: x, loss and budget must be positive and finite", i + 1);
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    r->budgets = malloc((n ? n : 1) * sizeof *r->budgets);
    r->col = strdup(col ? col : "x");
    if (!idx || !r->budgets || !r->col) {
        free(idx);
        fit_isoflop_free(r);
        return util_err(err, errlen, "out of memory");
    }
    for (size_t i = 0; i < n; i++) idx[i] = i;
    qsort_r(idx, n, sizeof *idx, by_budget, (void *)budget);
    double ss_log = 0;
    for (size_t s = 0; s < n;) {
        size_t e = s + 1;
        while (e < n && budget[idx[e]] <= budget[idx[s]] * (1 + rel_tol)) e++;
        fit_isoflop_budget *g = &r->budgets[r->n_budgets];
        memset(g, 0, sizeof *g);
        int got = fit_isoflop_parabola(x, y, idx + s, e - s, level, g);
        if (got < 0) {
            free(idx);
            fit_isoflop_free(r);
            return util_err(err, errlen, "out of memory");
        }
        if (got) {
            ss_log += g->ss_log;
            r->objective += g->rss;
        }
        if (got) {
            for (size_t i = s; i < e; i++) g->budget += budget[idx[i]] / (double)(e - s);
            r->n_budgets++;
            r->n_points += e - s;
        } else {
            r->n_skipped++;
        }
        s = e;
    }
    free(idx);
    if (r->n_budgets < 2) {
        size_t nb = r->n_budgets, sk = r->n_skipped;
        fit_isoflop_free(r);
        return util_err(err, errlen,
                        "%zu budget group(s) with a convex parabola (%zu skipped: fewer than 3 distinct x or "
                        "concave); need at least 2 to fit x_opt against budget",
                        nb, sk);
    }
    r->rmse_log = sqrt(ss_log / (double)r->n_points);
    return regress_vertices(r, level, err, errlen);
}
