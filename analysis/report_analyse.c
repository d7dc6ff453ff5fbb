/* report_analyse: what a report derives from its runs — the IsoFLOP parabolas,
 * and with fit/ the compute frontier and the recommendation per budget. */
#include "analysis/report_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fit/fit.h"

/* A budget's optimum for the frontier: the lowest vertex of an arm judged ok
 * or weak there, else the best run. */
double report_budget_optimum_loss(const report_data *d, size_t k) {
    double best = report_run_loss(&d->runs[d->budgets[k].best_run]);
    for (size_t i = 0; i < d->n_arms; i++)
        for (size_t j = 0; j < d->arms[i].n_budgets; j++) {
            const report_arm_budget *ab = &d->arms[i].budgets[j];
            if (ab->budget == (int)k && (!strcmp(ab->verdict, "ok") || !strcmp(ab->verdict, "weak")) &&
                isfinite(ab->loss_opt) && ab->loss_opt < best)
                best = ab->loss_opt;
        }
    return best;
}

/* L(C) = E + A C^-alpha through the budgets' optima, by fit/'s power-law fitter
 * (Huber on log residuals, grid of starts). */
static void analyse_frontier(report_data *d) {
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
        snprintf(cy, sizeof cy, "%.17g", report_budget_optimum_loss(d, k));
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

/* Per budget: what the sweep's latest stored law (chinchilla, additive, ...)
 * recommends; the IsoFLOP optima are the answer section's (report_find_arms). */
static void recommend(report_data *d) {
    fit_law law = {0};
    double *boot = NULL;
    size_t n_boot = 0;
    char err[256] = "";
    const store_fit_inputs *in = &d->fit_inputs;
    int have_law = in->form && !fit_law_from_parts(in->form, (const char *const *)in->x_cols, in->n_x, in->theta,
                                                   in->n_theta, NULL, 0, &law, &boot, &n_boot, err, sizeof err);
    for (size_t k = 0; k < d->n_budgets; k++) {
        report_budget *b = &d->budgets[k];
        fit_optimum o;
        if (have_law && !fit_law_optimum(&law, b->flops, &o, err, sizeof err)) {
            b->rec_ok = 1;
            b->rec_params = o.N, b->rec_tokens = o.D, b->rec_loss = o.loss;
            b->rec_wsfr = o.wsfr;
            snprintf(b->rec_source, sizeof b->rec_source, "stored fit #%lld (%s)", (long long)d->fit_id, d->fit_form);
        } else {
            snprintf(b->rec_source, sizeof b->rec_source, "%s",
                     have_law ? err : "no stored law of this sweep (scalelab fit --sweep S --form chinchilla)");
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
    if (report_collect_labels(d) || report_group_budgets(d) || report_find_arms(d))
        return util_err(err, errlen, "out of memory");
    if (d->n_budgets == 0) {
        snprintf(d->frontier.note, sizeof d->frontier.note, "no finished run with a loss yet");
        return 0;
    }
    analyse_frontier(d);
    recommend(d);
    return 0;
}
