/* report_analyse: everything a report derives from its runs with fit/ — the
 * IsoFLOP parabolas, the compute frontier and the recommendation per budget. */
#include "analysis/report_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fit/fit.h"

/* IsoFLOP parabolas of loss in ln x for every budget, x = WSFR or N. Budgets
 * that fit/ leaves out (fewer than 3 shapes, concave) keep ok = 0. */
static void isoflop_parabolas(report_data *d, int by_params) {
    size_t n = 0;
    double *x = malloc((d->n_runs + 1) * 3 * sizeof *x);
    if (!x) return;
    double *y = x + d->n_runs + 1, *c = y + d->n_runs + 1;
    for (size_t i = 0; i < d->n_runs; i++) {
        const report_run *r = &d->runs[i];
        double xi = by_params ? r->params : r->wsfr;
        if (r->budget < 0 || !(xi > 0)) continue;
        x[n] = xi, y[n] = report_run_loss(r), c[n] = d->budgets[r->budget].flops;
        n++;
    }
    fit_isoflop iso = {0};
    char ignored[256];
    /* Every run of a group carries the group's own budget value, so fit/'s
     * grouping (relative tolerance 1e-6) reproduces report_group_budgets'. */
    if (n >= 3 && !fit_isoflop_fit(x, y, c, n, 1e-6, 0.95, by_params ? "params" : "wsfr", &iso, ignored,
                                   sizeof ignored)) {
        for (size_t j = 0; j < iso.n_budgets; j++) {
            const fit_isoflop_budget *fb = &iso.budgets[j];
            for (size_t k = 0; k < d->n_budgets; k++) {
                if (fabs(fb->budget - d->budgets[k].flops) > 1e-6 * d->budgets[k].flops) continue;
                if (!(fb->curvature > 0) || !isfinite(fb->vertex) || !(fb->vertex > 0)) continue;
                report_parabola *pb = by_params ? &d->budgets[k].by_params : &d->budgets[k].by_wsfr;
                double u = log(fb->vertex);
                /* loss = L* + a (ln x - u*)^2, expanded into a u^2 + b u + c. */
                pb->ok = 1;
                pb->a = fb->curvature;
                pb->b = -2 * fb->curvature * u;
                pb->c = fb->loss + fb->curvature * u * u;
                pb->x_opt = fb->vertex;
                pb->loss_opt = fb->loss;
            }
        }
    }
    fit_isoflop_free(&iso);
    free(x);
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
    isoflop_parabolas(d, 0);
    isoflop_parabolas(d, 1);
    fit_frontier(d);
    recommend(d);
    return 0;
}
