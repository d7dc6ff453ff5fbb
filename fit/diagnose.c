/* fit/diagnose: how far a fit can be trusted (DESIGN.md section 6; thresholds in fit/fit.h).
 *
 * Method. For a law: which parameters sit at a bound of their range (the minimiser's sigmoids
 * saturate there, fit/law.c), the covariance s^2 (J^T J)^-1 of the free parameters in
 * log-residual space at the optimum (J = d log L_pred / d theta, s^2 = RSS / (n - p)), inverted
 * through the eigen-decomposition of its unit-diagonal form (gsl_eigen_symmv) so that a
 * singular matrix is seen rather than inverted into noise; bootstrap spreads when there are
 * replicates; the span of each x column and of compute; then the verdict and its reasons. For an
 * isoflop fit: bounded vertices, the number of interior budgets and the exponent's standard error.
 * Pure functions over fit_data / fit_result / fit_isoflop: no I/O. */
#include "fit/fit.h"

#include <gsl/gsl_eigen.h>
#include <gsl/gsl_matrix.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fit_diagnostics_free(fit_diagnostics *g) {
    if (!g) return;
    for (size_t i = 0; i < g->n_reasons; i++) free(g->reasons[i]);
    for (size_t i = 0; i < g->n_at_bound; i++) free(g->at_bound[i]);
    for (size_t i = 0; i < g->n_mixers; i++) free(g->mixers[i]);
    free(g->reasons);
    free(g->at_bound);
    free(g->mixers);
    memset(g, 0, sizeof *g);
}

static int push(char ***list, size_t *n, const char *s) {
    char **nl = realloc(*list, (*n + 1) * sizeof *nl);
    if (!nl) return -1;
    *list = nl;
    if (!(nl[*n] = strdup(s))) return -1;
    (*n)++;
    return 0;
}

/* Adds a reason and raises the verdict to at least v. Unconstrained reasons go first. */
static int reason(fit_diagnostics *g, fit_verdict v, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int reason(fit_diagnostics *g, fit_verdict v, const char *fmt, ...) {
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (push(&g->reasons, &g->n_reasons, text)) return -1;
    if (v == FIT_VERDICT_UNCONSTRAINED) { /* move it in front of the weak ones */
        size_t i = g->n_reasons - 1;
        char *s = g->reasons[i];
        while (i > 0 && g->n_unc_reasons < i) {
            g->reasons[i] = g->reasons[i - 1];
            i--;
        }
        g->reasons[i] = s;
        g->n_unc_reasons++;
    }
    if (v > g->verdict) g->verdict = v;
    return 0;
}

int fit_is_state_column(const char *col) {
    static const char *const names[] = {"state_size", "state_flops_per_token", "wsfr", "state_dim"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcmp(col, names[i])) return 1;
    return 0;
}

int fit_state_moves_at_fixed_weights(const double *w, const double *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (fabs(w[i] - w[j]) <= FIT_SAME_W_REL * fmax(w[i], w[j]) &&
                fabs(s[i] - s[j]) > FIT_SAME_W_REL * fmax(s[i], s[j]))
                return 1;
    return 0;
}

static int by_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void fit_context_free(fit_context *ctx) {
    for (size_t i = 0; i < ctx->n_mixers; i++) free(ctx->mixers[i]);
    free(ctx->mixers);
    memset(ctx, 0, sizeof *ctx);
}

static const char *cell(const fit_table *t, const fit_data *d, size_t i, long col) {
    return t->cells[d->row[i] * t->n_cols + (size_t)col];
}

static int distinct_mixers(const fit_table *t, const fit_data *d, fit_context *ctx) {
    long mc = fit_table_column(t, "mixer");
    for (size_t i = 0; mc >= 0 && i < d->n; i++) {
        const char *m = cell(t, d, i, mc);
        size_t j = 0;
        while (j < ctx->n_mixers && strcmp(ctx->mixers[j], m)) j++;
        if (*m && j == ctx->n_mixers && push(&ctx->mixers, &ctx->n_mixers, m)) return -1;
    }
    if (ctx->n_mixers) qsort(ctx->mixers, ctx->n_mixers, sizeof *ctx->mixers, by_str);
    return 0;
}

int fit_context_build(const fit_table *t, const fit_data *d, int pool_mixers, fit_context *ctx, char *err,
                      size_t errlen) {
    memset(ctx, 0, sizeof *ctx);
    if (distinct_mixers(t, d, ctx)) return util_err(err, errlen, "out of memory");
    long wc = fit_table_column(t, "weight_flops_per_token");
    int state = 0;
    double *w = malloc((d->n ? d->n : 1) * sizeof *w), *s = malloc((d->n ? d->n : 1) * sizeof *s);
    if (!w || !s) {
        free(w), free(s);
        fit_context_free(ctx);
        return util_err(err, errlen, "out of memory");
    }
    for (size_t j = 0; j < d->k; j++) {
        if (!fit_is_state_column(d->cols[j])) continue;
        state = 1;
        if (wc < 0) continue;
        for (size_t i = 0; i < d->n; i++) {
            w[i] = strtod(cell(t, d, i, wc), NULL);
            s[i] = d->x[i * d->k + j];
        }
        ctx->state_static[j] = !fit_state_moves_at_fixed_weights(w, s, d->n);
    }
    free(w);
    free(s);
    if (state && ctx->n_mixers > 1) {
        if (!pool_mixers) {
            util_buf m = {0};
            for (size_t i = 0; i < ctx->n_mixers; i++) util_buf_printf(&m, "%s%s", i ? ", " : "", ctx->mixers[i]);
            util_err(err, errlen, "the runs hold %zu mixers (%s) and the x columns hold a state quantity: a state "
                     "term fitted across mixers mixes families; fit one with --where mixer==%s (or pool them "
                     "with --pool-mixers: the verdict is then at best weak)", ctx->n_mixers, m.data ? m.data : "",
                     ctx->mixers[0]);
            util_buf_free(&m);
            fit_context_free(ctx);
            return -1;
        }
        ctx->pooled_mixers = 1;
    }
    return 0;
}

/* The suggestion for a narrow column: runs that make it span FIT_SPAN_WEAK around its
 * geometric centre. */
static void widen(char *out, size_t len, const char *col, double lo, double hi) {
    double c = sqrt(lo * hi), h = sqrt(FIT_SPAN_WEAK);
    snprintf(out, len, "add runs with %s down to %.2g and up to %.2g (%gx around its geometric centre %.2g)", col,
             c / h, c * h, FIT_SPAN_WEAK, c);
}

static int spans(fit_diagnostics *g, const fit_data *d, const int *fitted, const fit_context *ctx) {
    g->k = d->k;
    g->compute_min = INFINITY;
    g->compute_max = -INFINITY;
    for (size_t j = 0; j < d->k; j++) {
        snprintf(g->cols[j], sizeof g->cols[j], "%s", d->cols[j]);
        g->x_min[j] = INFINITY;
        g->x_max[j] = -INFINITY;
    }
    for (size_t i = 0; i < d->n; i++) {
        if (!fitted[i]) continue;
        for (size_t j = 0; j < d->k; j++) {
            g->x_min[j] = fmin(g->x_min[j], d->x[i * d->k + j]);
            g->x_max[j] = fmax(g->x_max[j], d->x[i * d->k + j]);
        }
        g->compute_min = fmin(g->compute_min, d->compute[i]);
        g->compute_max = fmax(g->compute_max, d->compute[i]);
    }
    if (ctx)
        for (size_t i = 0; i < ctx->n_mixers; i++)
            if (push(&g->mixers, &g->n_mixers, ctx->mixers[i])) return -1;
    g->pooled_mixers = ctx && ctx->pooled_mixers;
    return 0;
}

/* Which parameters are at a bound (fit/law.c's ranges); at[] flags them in theta order. */
static int bounds(fit_diagnostics *g, const fit_data *d, const int *fitted, const fit_law *law, double lmin,
                  int *at) {
    size_t k = law->k;
    double nat[FIT_MAX_PARAMS], share[FIT_MAX_TERMS] = {0};
    fit_law_natural(law, law->theta, nat);
    for (size_t i = 0; i < d->n; i++) {
        if (!fitted[i]) continue;
        double L = fit_law_predict(law, d->x + i * k);
        for (size_t j = 0; j < k; j++)
            share[j] = fmax(share[j], nat[1 + 2 * j] * pow(d->x[i * k + j], -nat[2 + 2 * j]) / L);
    }
    if (nat[0] < FIT_BOUND_REL * lmin) {
        at[0] = 1;
        if (reason(g, FIT_VERDICT_UNCONSTRAINED, "E is at its bound 0 (E = %.3g, below %g of the smallest loss %.4g): "
                   "the data show no floor", nat[0], FIT_BOUND_REL, lmin)) return -1;
    } else if (nat[0] > (1 - FIT_BOUND_REL) * lmin) {
        at[0] = 1;
        if (reason(g, FIT_VERDICT_UNCONSTRAINED, "E is at its bound, the smallest loss %.4g: the power-law terms "
                   "explain nothing below it", lmin)) return -1;
    }
    for (size_t j = 0; j < k; j++) {
        const char *an = g->names[1 + 2 * j], *en = g->names[2 + 2 * j];
        double al = nat[2 + 2 * j];
        if (share[j] < FIT_TERM_NEGLIGIBLE) {
            at[1 + 2 * j] = 1;
            if (reason(g, FIT_VERDICT_UNCONSTRAINED, "%s is at its bound 0: the %s term is below %g of the loss at "
                       "every point, so %s is not determined", an, d->cols[j], FIT_TERM_NEGLIGIBLE, en)) return -1;
        }
        if (al < FIT_BOUND_REL * FIT_EXPONENT_MAX || al > (1 - FIT_BOUND_REL) * FIT_EXPONENT_MAX) {
            at[2 + 2 * j] = 1;
            if (reason(g, FIT_VERDICT_UNCONSTRAINED, "%s is at its bound (%.3g; exponents lie in (0, %g])", en, al,
                       FIT_EXPONENT_MAX)) return -1;
        }
    }
    for (size_t p = 0; p < 1 + 2 * k; p++)
        if (at[p] && push(&g->at_bound, &g->n_at_bound, g->names[p])) return -1;
    return 0;
}

/* Relative standard errors from s^2 (J^T J)^-1 over the free parameters. */
static int jtj_errors(fit_diagnostics *g, const fit_data *d, const int *fitted, const fit_law *law,
                      const int *at) {
    size_t np = 1 + 2 * law->k, idx[FIT_MAX_PARAMS], m = 0, n = 0;
    for (size_t p = 0; p < np; p++) {
        g->rel_se[p] = NAN;
        if (!at[p]) idx[m++] = p;
    }
    double rss = 0, nat[FIT_MAX_PARAMS];
    fit_law_natural(law, law->theta, nat);
    gsl_matrix *A = gsl_matrix_calloc(m ? m : 1, m ? m : 1), *V = gsl_matrix_alloc(m ? m : 1, m ? m : 1);
    gsl_vector *ev = gsl_vector_alloc(m ? m : 1);
    gsl_eigen_symmv_workspace *w = gsl_eigen_symmv_alloc(m ? m : 1);
    int rc = -1;
    if (!A || !V || !ev || !w) goto out;
    for (size_t i = 0; i < d->n; i++) {
        if (!fitted[i]) continue;
        double grad[FIT_MAX_PARAMS], r = fit_law_log_predict_grad(law, d->x + i * d->k, grad) - log(d->y[i]);
        rss += r * r;
        n++;
        for (size_t a = 0; a < m; a++)
            for (size_t b = 0; b < m; b++) *gsl_matrix_ptr(A, a, b) += grad[idx[a]] * grad[idx[b]];
    }
    rc = 0;
    if (m == 0 || n <= m) goto out;
    double sc[FIT_MAX_PARAMS];
    for (size_t a = 0; a < m; a++) {
        sc[a] = sqrt(gsl_matrix_get(A, a, a));
        if (!(sc[a] > 0)) { g->singular = 1; goto out; }
    }
    for (size_t a = 0; a < m; a++)
        for (size_t b = 0; b < m; b++) *gsl_matrix_ptr(A, a, b) /= sc[a] * sc[b];
    gsl_eigen_symmv(A, ev, V, w);
    double lo = INFINITY, hi = 0;
    for (size_t a = 0; a < m; a++) {
        lo = fmin(lo, gsl_vector_get(ev, a));
        hi = fmax(hi, gsl_vector_get(ev, a));
    }
    if (!(lo > FIT_SINGULAR * hi)) { g->singular = 1; goto out; }
    double s2 = rss / (double)(n - m);
    for (size_t a = 0; a < m; a++) {
        double v = 0; /* (J^T J)^-1 diagonal = sum_e V_ae^2 / lambda_e, unscaled */
        for (size_t e = 0; e < m; e++) v += gsl_matrix_get(V, a, e) * gsl_matrix_get(V, a, e) / gsl_vector_get(ev, e);
        double se = sqrt(s2 * v) / sc[a];
        size_t p = idx[a];
        int exponent = p > 0 && p % 2 == 0;
        g->rel_se[p] = exponent ? se / nat[p] : se; /* se of log E, log A is already relative */
    }
out:
    gsl_matrix_free(A);
    gsl_matrix_free(V);
    gsl_vector_free(ev);
    if (w) gsl_eigen_symmv_free(w);
    return rc;
}

/* Relative spreads of the bootstrap replicates: half their central 68% range over the estimate. */
static int boot_errors(fit_diagnostics *g, const fit_result *r) {
    size_t np = 1 + 2 * r->law.k;
    double nat[FIT_MAX_PARAMS], *v = malloc(r->n_boot * sizeof *v);
    if (!v) return -1;
    fit_law_natural(&r->law, r->law.theta, nat);
    g->has_boot = 1;
    for (size_t p = 0; p < np; p++) {
        for (size_t s = 0; s < r->n_boot; s++) {
            double bn[FIT_MAX_PARAMS];
            fit_law_natural(&r->law, r->boot + s * np, bn);
            v[s] = bn[p];
        }
        double lo, hi;
        fit_percentile_interval(v, r->n_boot, 0.6827, &lo, &hi);
        g->rel_se_boot[p] = (hi - lo) / 2 / fabs(nat[p]);
    }
    free(v);
    return 0;
}

/* --pool-mixers: at best weak, the mixers named. */
static int pooled(fit_diagnostics *g) {
    if (!g->pooled_mixers) return 0;
    util_buf m = {0};
    for (size_t i = 0; i < g->n_mixers; i++) util_buf_printf(&m, "%s%s", i ? ", " : "", g->mixers[i]);
    int rc = reason(g, FIT_VERDICT_WEAK, "pooled mixers (%s) under a state term: a weight/state answer needs runs "
                    "of one mixer", m.data ? m.data : "?");
    util_buf_free(&m);
    return rc;
}

static int judge_law(fit_diagnostics *g, const fit_law *law, const fit_context *ctx) {
    char sug[256];
    for (size_t j = 0; j < law->k; j++) {
        const char *en = g->names[2 + 2 * j], *col = g->cols[j];
        double ratio = g->x_max[j] / g->x_min[j];
        widen(sug, sizeof sug, col, g->x_min[j], g->x_max[j]);
        if (ratio < FIT_SPAN_UNCONSTRAINED) {
            if (reason(g, FIT_VERDICT_UNCONSTRAINED, "%s is not constrained: %s spans %.2gx (%.3g to %.3g, under %gx); %s",
                       en, col, ratio, g->x_min[j], g->x_max[j], FIT_SPAN_UNCONSTRAINED, sug)) return -1;
        } else if (ratio < FIT_SPAN_WEAK) {
            if (reason(g, FIT_VERDICT_WEAK, "%s is weakly constrained: %s spans %.2gx (%.3g to %.3g, under %gx); %s", en,
                       col, ratio, g->x_min[j], g->x_max[j], FIT_SPAN_WEAK, sug)) return -1;
        }
        if (ctx && ctx->state_static[j] &&
            reason(g, FIT_VERDICT_UNCONSTRAINED, "%s is not constrained: the state never moves at fixed weights (no two "
                   "runs share weight FLOPs within %g%% with different %s); add runs that change only the state",
                   en, 100 * FIT_SAME_W_REL, col)) return -1;
        double se = g->rel_se[2 + 2 * j], sb = g->has_boot ? g->rel_se_boot[2 + 2 * j] : NAN;
        double worst = isnan(se) ? sb : isnan(sb) ? se : fmax(se, sb);
        if (worst > FIT_RELSE_UNCONSTRAINED) {
            if (reason(g, FIT_VERDICT_UNCONSTRAINED, "%s is not constrained: relative standard error %.2g (over %g)", en,
                       worst, FIT_RELSE_UNCONSTRAINED)) return -1;
        } else if (worst > FIT_RELSE_WEAK) {
            if (reason(g, FIT_VERDICT_WEAK, "%s is weakly constrained: relative standard error %.2g (over %g)", en, worst,
                       FIT_RELSE_WEAK)) return -1;
        }
    }
    if (g->singular &&
        reason(g, FIT_VERDICT_UNCONSTRAINED, "J^T J is singular at the optimum: the data do not separate the parameters"))
        return -1;
    if (g->polished && (double)g->converged < FIT_CONVERGED_WEAK * (double)g->polished &&
        reason(g, FIT_VERDICT_WEAK, "only %zu of %zu polished starts converged", g->converged, g->polished))
        return -1;
    return pooled(g);
}

int fit_law_diagnose(const fit_data *d, const fit_result *r, const fit_context *ctx, fit_diagnostics *g, char *err,
                     size_t errlen) {
    memset(g, 0, sizeof *g);
    size_t np = 1 + 2 * r->law.k;
    int *fitted = malloc((d->n ? d->n : 1) * sizeof *fitted), at[FIT_MAX_PARAMS] = {0};
    if (!fitted) return util_err(err, errlen, "out of memory");
    double lmin = INFINITY;
    for (size_t i = 0; i < d->n; i++) {
        fitted[i] = 1;
        for (size_t h = 0; h < r->n_holdout; h++)
            if (r->holdout_row[h] == d->row[i]) fitted[i] = 0;
        if (fitted[i]) lmin = fmin(lmin, d->y[i]);
    }
    g->converged = r->n_converged;
    g->polished = r->n_polished;
    g->n_params = np;
    fit_law_param_names(&r->law, g->names);
    for (size_t p = 0; p < np; p++) g->rel_se_boot[p] = NAN;
    int rc = spans(g, d, fitted, ctx) || bounds(g, d, fitted, &r->law, lmin, at) ||
             jtj_errors(g, d, fitted, &r->law, at) || (r->n_boot && boot_errors(g, r)) || judge_law(g, &r->law, ctx);
    free(fitted);
    if (rc) {
        fit_diagnostics_free(g);
        return util_err(err, errlen, "out of memory");
    }
    return 0;
}

static int judge_isoflop(fit_diagnostics *g, const fit_isoflop *r) {
    for (size_t i = 0; i < r->n_budgets; i++) {
        const fit_isoflop_budget *b = &r->budgets[i];
        if (!b->bound) continue;
        char name[128];
        snprintf(name, sizeof name, "x_opt@%.3g", b->budget);
        if (push(&g->at_bound, &g->n_at_bound, name)) return -1;
        if (reason(g, FIT_VERDICT_WEAK, "budget %.3g: the vertex (%.3g) lies %s the sampled %s, so the optimum is only "
                   "known to be %s %.3g; add runs %s %.3g", b->budget, b->vertex, b->bound < 0 ? "below" : "above",
                   r->col, b->bound < 0 ? "<=" : ">=", b->bound < 0 ? b->x_min : b->x_max,
                   b->bound < 0 ? "below" : "above", b->bound < 0 ? b->x_min : b->x_max)) return -1;
    }
    /* An interior vertex whose interval leaves the sampled x is located only by extrapolating
     * the parabola: the report calls such a budget weak, and so must the fit's verdict. */
    for (size_t i = 0; i < r->n_budgets; i++) {
        const fit_isoflop_budget *b = &r->budgets[i];
        if (b->bound || !(b->lo < b->x_min || b->hi > b->x_max)) continue; /* NAN intervals: no claim */
        if (reason(g, FIT_VERDICT_WEAK, "budget %.3g: the optimum's interval [%.3g, %.3g] reaches beyond the sampled "
                   "%s (%.3g..%.3g); add runs %s", b->budget, b->lo, b->hi, r->col, b->x_min, b->x_max,
                   b->lo < b->x_min && b->hi > b->x_max ? "on both sides" : b->lo < b->x_min ? "below" : "above"))
            return -1;
    }
    if (r->n_interior < FIT_ISOFLOP_MIN_BUDGETS &&
        reason(g, FIT_VERDICT_UNCONSTRAINED, "the exponent of %s_opt is not constrained: %s", r->col, r->note))
        return -1;
    /* A small relative error can still leave the sign open with few budgets (Student t with
     * n - 2 degrees of freedom): then whether x_opt grows with C is not decided. */
    if (r->n_interior >= FIT_ISOFLOP_MIN_BUDGETS && r->exponent_lo <= 0 && r->exponent_hi >= 0 &&
        reason(g, FIT_VERDICT_WEAK, "the data do not decide whether %s_opt grows or shrinks with the budget: the "
               "exponent's interval [%.3g, %.3g] contains 0", r->col, r->exponent_lo, r->exponent_hi))
        return -1;
    double se = g->rel_se[1];
    if (se > FIT_RELSE_UNCONSTRAINED) {
        if (reason(g, FIT_VERDICT_UNCONSTRAINED, "the exponent of %s_opt is not constrained: relative standard error "
                   "%.2g (over %g)", r->col, se, FIT_RELSE_UNCONSTRAINED)) return -1;
    } else if (se > FIT_RELSE_WEAK) {
        if (reason(g, FIT_VERDICT_WEAK, "the exponent of %s_opt is weakly constrained: relative standard error %.2g "
                   "(over %g)", r->col, se, FIT_RELSE_WEAK)) return -1;
    }
    double ratio = g->compute_max / g->compute_min;
    if (r->n_budgets > 1 && ratio * (1 + FIT_BUDGET_SPAN_SLACK) < FIT_SPAN_WEAK &&
        reason(g, FIT_VERDICT_WEAK, "the budgets span %.3gx (under %gx): add budgets up to %.2g", ratio, FIT_SPAN_WEAK,
               g->compute_min * FIT_SPAN_WEAK)) return -1;
    return pooled(g);
}

int fit_isoflop_diagnose(const fit_isoflop *r, const fit_context *ctx, fit_diagnostics *g, char *err, size_t errlen) {
    memset(g, 0, sizeof *g);
    g->converged = g->polished = 1; /* closed-form solves */
    g->n_params = 2;
    snprintf(g->names[0], sizeof g->names[0], "k_%s", r->col);
    snprintf(g->names[1], sizeof g->names[1], "a_%s", r->col);
    g->rel_se[0] = r->log_k_se; /* se of log k: relative */
    g->rel_se[1] = r->exponent_se / fabs(r->exponent);
    g->rel_se_boot[0] = g->rel_se_boot[1] = NAN;
    g->k = 1;
    snprintf(g->cols[0], sizeof g->cols[0], "%s", r->col);
    g->x_min[0] = g->compute_min = INFINITY;
    g->x_max[0] = g->compute_max = -INFINITY;
    for (size_t i = 0; i < r->n_budgets; i++) {
        g->x_min[0] = fmin(g->x_min[0], r->budgets[i].x_min);
        g->x_max[0] = fmax(g->x_max[0], r->budgets[i].x_max);
        g->compute_min = fmin(g->compute_min, r->budgets[i].budget);
        g->compute_max = fmax(g->compute_max, r->budgets[i].budget);
    }
    int rc = 0;
    if (ctx) {
        for (size_t i = 0; i < ctx->n_mixers && !rc; i++) rc = push(&g->mixers, &g->n_mixers, ctx->mixers[i]);
        g->pooled_mixers = ctx->pooled_mixers;
    }
    if (rc || judge_isoflop(g, r)) {
        fit_diagnostics_free(g);
        return util_err(err, errlen, "out of memory");
    }
    return 0;
}

static void str_array(util_buf *b, char *const *v, size_t n) {
    util_buf_puts(b, "[");
    for (size_t i = 0; i < n; i++) {
        util_buf_puts(b, i ? ", " : "");
        util_buf_json_str(b, v[i]);
    }
    util_buf_puts(b, "]");
}

static void named_numbers(util_buf *b, const fit_diagnostics *g, const double *v) {
    util_buf_puts(b, "{");
    for (size_t p = 0; p < g->n_params; p++) {
        util_buf_puts(b, p ? ", " : "");
        util_buf_json_str(b, g->names[p]);
        util_buf_puts(b, ": ");
        util_buf_json_num(b, v[p]);
    }
    util_buf_puts(b, "}");
}

int fit_diagnostics_json(const fit_diagnostics *g, util_buf *b) {
    util_buf_puts(b, "{\"verdict\": ");
    util_buf_json_str(b, fit_verdict_name(g->verdict));
    util_buf_puts(b, ", \"reasons\": ");
    str_array(b, g->reasons, g->n_reasons);
    util_buf_printf(b, ", \"converged_starts\": %zu, \"polished_starts\": %zu, \"at_bound\": ", g->converged,
                    g->polished);
    str_array(b, g->at_bound, g->n_at_bound);
    util_buf_puts(b, ", \"rel_se\": ");
    named_numbers(b, g, g->rel_se);
    if (g->has_boot) {
        util_buf_puts(b, ", \"rel_se_boot\": ");
        named_numbers(b, g, g->rel_se_boot);
    }
    util_buf_puts(b, ", \"x_span\": {");
    for (size_t j = 0; j < g->k; j++) {
        util_buf_puts(b, j ? ", " : "");
        util_buf_json_str(b, g->cols[j]);
        util_buf_puts(b, ": {\"min\": ");
        util_buf_json_num(b, g->x_min[j]);
        util_buf_puts(b, ", \"max\": ");
        util_buf_json_num(b, g->x_max[j]);
        util_buf_puts(b, ", \"ratio\": ");
        util_buf_json_num(b, g->x_max[j] / g->x_min[j]);
        util_buf_puts(b, "}");
    }
    util_buf_puts(b, "}, \"compute\": {\"min\": ");
    util_buf_json_num(b, g->compute_min);
    util_buf_puts(b, ", \"max\": ");
    util_buf_json_num(b, g->compute_max);
    util_buf_puts(b, "}, \"mixers\": ");
    str_array(b, g->mixers, g->n_mixers);
    util_buf_printf(b, ", \"pooled_mixers\": %s", g->pooled_mixers ? "true" : "false");
    return util_buf_puts(b, "}");
}
