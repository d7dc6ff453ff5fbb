/* report_analyse: what a report derives from its runs — the IsoFLOP parabolas,
 * and with fit/ the compute frontier and the recommendation per budget. */
#include "analysis/report_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fit/fit.h"

/* One IsoFLOP parabola in u = ln x, fitted as fit/ fits each budget. ok only
 * when fit finds a vertex (3 distinct x, convex) and it lies within the points'
 * range of u widened by half its width on each side: a vertex further out is an
 * extrapolation the data cannot support. */
static report_parabola parabola(const double *x, const double *y, size_t n) {
    report_parabola pb = {0};
    double umin = INFINITY, umax = -INFINITY;
    for (size_t i = 0; i < n; i++) umin = fmin(umin, log(x[i])), umax = fmax(umax, log(x[i]));
    fit_isoflop_budget b;
    if (fit_isoflop_parabola(x, y, NULL, n, 0.95, &b) != 1) return pb;
    pb.a = b.coef[2], pb.b = b.coef[1], pb.c = b.coef[0];
    pb.x_opt = b.vertex;
    pb.loss_opt = b.loss;
    double u = log(b.vertex), half = 0.5 * (umax - umin);
    pb.ok = u >= umin - half && u <= umax + half;
    return pb;
}

/* Parabolas per budget over the runs with the given label (NULL: every run). */
static int isoflop_parabolas(report_data *d, int by_params, const char *label, report_parabola *out) {
    double *x = malloc((d->n_runs + 1) * 2 * sizeof *x);
    if (!x) return -1;
    double *y = x + d->n_runs + 1;
    for (size_t k = 0; k < d->n_budgets; k++) {
        size_t n = 0;
        for (size_t i = 0; i < d->n_runs; i++) {
            const report_run *r = &d->runs[i];
            double xi = by_params ? r->params : r->wsfr;
            if (r->budget != (int)k || !(xi > 0) || (label && strcmp(r->label, label))) continue;
            x[n] = xi, y[n] = report_run_loss(r), n++;
        }
        out[k] = parabola(x, y, n);
    }
    free(x);
    return 0;
}

static double budget_optimum_loss(const report_data *d, const report_budget *b) {
    return b->by_params.ok ? b->by_params.loss_opt : report_run_loss(&d->runs[b->best_run]);
}

/* L(C) = E + A C^-alpha through the budgets' optima, by fit/'s power-law fitter
 * (Huber on log residuals, grid of starts). */
static void fit_frontier(report_data *d) {
    report_frontier *f = &d->frontier;
    const char *cols[] = {"training_flops", "loss"};
    fit_table t = {0};
    fit_data fd = {0};
    fit_result res = {0};
    char err[256] = "";
    int rc = fit_table_init(&t, d->sweep[0] ? d->sweep : "store", cols, 2, err, sizeof err);
    for (size_t k = 0; k < d->n_budgets && !rc; k++) {
        char cx[40], cy[40];
        snprintf(cx, sizeof cx, "%.17g", d->budgets[k].flops);
        snprintf(cy, sizeof cy, "%.17g", budget_optimum_loss(d, &d->budgets[k]));
        const char *row[] = {cx, cy};
        rc = fit_table_add_row(&t, row, 0, err, sizeof err);
    }
    const char *xcol = "training_flops";
    if (!rc) rc = fit_data_select(&t, &xcol, 1, "loss", NULL, NULL, 0, &fd, err, sizeof err);
    if (!rc) rc = fit_data_check(&fd, 3, err, sizeof err);
    if (!rc) {
        fit_options o;
        fit_options_default(&o);
        o.form = FIT_POWERLAW;
        rc = fit_law_fit(&fd, &o, &res, err, sizeof err);
    }
    if (!rc) {
        double nat[FIT_MAX_PARAMS];
        fit_law_natural(&res.law, res.law.theta, nat);
        f->ok = 1, f->E = nat[0], f->A = nat[1], f->alpha = nat[2];
        f->n_points = fd.n;
    } else {
        snprintf(f->note, sizeof f->note, "%s (the frontier is a 3-parameter law through one optimum per budget)", err);
    }
    fit_result_free(&res);
    fit_data_free(&fd);
    fit_table_free(&t);
}

/* Per budget: the stored fit's optimum when the sweep has one, else the
 * IsoFLOP vertices (N* and WSFR*, tokens from C = 3 (W + S) D with W = 2N). */
static void recommend(report_data *d) {
    fit_law law = {0};
    double *boot = NULL;
    size_t n_boot = 0;
    char err[256] = "";
    int have_law = d->fit_inputs_json &&
                   !fit_law_from_json(d->fit_inputs_json, &law, &boot, &n_boot, err, sizeof err);
    for (size_t k = 0; k < d->n_budgets; k++) {
        report_budget *b = &d->budgets[k];
        fit_optimum o;
        if (have_law && !fit_law_optimum(&law, b->flops, &o, err, sizeof err)) {
            b->rec_ok = 1;
            b->rec_params = o.N, b->rec_tokens = o.D, b->rec_loss = o.loss;
            b->rec_wsfr = isfinite(o.wsfr) ? o.wsfr : (b->by_wsfr.ok ? b->by_wsfr.x_opt : NAN);
            snprintf(b->rec_source, sizeof b->rec_source, "stored fit #%lld (%s)%s", (long long)d->fit_id,
                     d->fit_form, isfinite(o.wsfr) ? "" : "; WSFR from the IsoFLOP vertex");
        } else if (b->by_params.ok) {
            double wsfr = b->by_wsfr.ok ? b->by_wsfr.x_opt : INFINITY;
            b->rec_ok = 1;
            b->rec_params = b->by_params.x_opt, b->rec_wsfr = b->by_wsfr.ok ? wsfr : NAN;
            b->rec_loss = b->by_params.loss_opt;
            b->rec_tokens = b->flops / (6 * b->rec_params * (1 + 1 / wsfr));
            snprintf(b->rec_source, sizeof b->rec_source, "IsoFLOP vertex%s",
                     have_law ? "" : " (no stored fit of this sweep: run scalelab fit)");
        } else {
            snprintf(b->rec_source, sizeof b->rec_source, "%s",
                     have_law ? err : "no stored fit and no IsoFLOP parabola at this budget");
        }
    }
    free(boot);
    if (have_law) fit_law_free(&law);
}

int report_analyse(report_data *d, char *err, size_t errlen) {
    for (size_t i = 0; i < d->n_runs; i++) {
        report_trim_partial_bucket(&d->runs[i]);
        d->runs[i].knee = report_knee(d->runs[i].pos_loss, d->runs[i].n_pos_loss, REPORT_KNEE_THRESHOLD);
    }
    if (report_collect_labels(d) || report_group_budgets(d)) return util_err(err, errlen, "out of memory");
    if (d->n_budgets == 0)
        return util_err(err, errlen, "%s%s%s: no finished run with a loss (%zu runs, none done)",
                        d->sweep[0] ? "sweep '" : "the store", d->sweep, d->sweep[0] ? "'" : "", d->n_runs);
    report_parabola *pb = calloc(d->n_budgets, sizeof *pb);
    d->label_params = calloc(d->n_budgets * d->n_labels, sizeof *d->label_params);
    int rc = !pb || !d->label_params || isoflop_parabolas(d, 0, NULL, pb);
    for (size_t k = 0; !rc && k < d->n_budgets; k++) d->budgets[k].by_wsfr = pb[k];
    rc = rc || isoflop_parabolas(d, 1, NULL, pb);
    for (size_t k = 0; !rc && k < d->n_budgets; k++) d->budgets[k].by_params = pb[k];
    for (size_t l = 0; !rc && l < d->n_labels; l++) {
        rc = isoflop_parabolas(d, 1, d->labels[l], pb);
        for (size_t k = 0; !rc && k < d->n_budgets; k++) d->label_params[k * d->n_labels + l] = pb[k];
    }
    free(pb);
    if (rc) return util_err(err, errlen, "out of memory");
    fit_frontier(d);
    recommend(d);
    return 0;
}
