/* fit/json: results as JSON, what a stored fit keeps so recommend can use it again, and the
 * law rebuilt from what the store reads back (store_fit_inputs_read: SQLite's JSON functions;
 * fit/ never parses JSON). */
#include "fit/fit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Derived quantities of a chinchilla law: the exponents of N_opt and D_opt in C and G. */
enum { N_DERIVED = 3 };
static const char *const derived_names[N_DERIVED] = {"N_opt_exponent", "D_opt_exponent", "G"};
static void derived(const double *nat, double *out) {
    double A = nat[1], al = nat[2], B = nat[3], be = nat[4];
    out[0] = be / (al + be);
    out[1] = al / (al + be);
    out[2] = pow(al * A / (be * B), 1 / (al + be));
}

static void interval_pair(util_buf *b, double lo, double hi) {
    util_buf_puts(b, "[");
    util_buf_json_num(b, lo);
    util_buf_puts(b, ", ");
    util_buf_json_num(b, hi);
    util_buf_puts(b, "]");
}

int fit_result_params_json(const fit_result *r, util_buf *b) {
    const fit_law *law = &r->law;
    size_t np = 1 + 2 * law->k, nd = law->form == FIT_CHINCHILLA ? N_DERIVED : 0;
    char names[FIT_MAX_PARAMS][128];
    double nat[FIT_MAX_PARAMS], der[N_DERIVED];
    fit_law_param_names(law, names);
    fit_law_natural(law, law->theta, nat);
    if (nd) derived(nat, der);
    util_buf_puts(b, "{");
    for (size_t i = 0; i < np + nd; i++) {
        util_buf_puts(b, i ? ", " : "");
        util_buf_json_str(b, i < np ? names[i] : derived_names[i - np]);
        util_buf_puts(b, ": ");
        util_buf_json_num(b, i < np ? nat[i] : der[i - np]);
    }
    return util_buf_puts(b, "}");
}

int fit_result_intervals_json(const fit_result *r, double level, util_buf *b) {
    const fit_law *law = &r->law;
    size_t np = 1 + 2 * law->k, nd = law->form == FIT_CHINCHILLA ? N_DERIVED : 0;
    char names[FIT_MAX_PARAMS][128];
    fit_law_param_names(law, names);
    util_buf_puts(b, "{");
    double *v = malloc((r->n_boot ? r->n_boot : 1) * sizeof *v);
    if (!v) return -1;
    for (size_t i = 0; r->n_boot && i < np + nd; i++) {
        for (size_t s = 0; s < r->n_boot; s++) {
            double bn[FIT_MAX_PARAMS], bd[N_DERIVED];
            fit_law_natural(law, r->boot + s * np, bn);
            if (nd) derived(bn, bd);
            v[s] = i < np ? bn[i] : bd[i - np];
        }
        double lo, hi;
        fit_percentile_interval(v, r->n_boot, level, &lo, &hi);
        util_buf_puts(b, i ? ", " : "");
        util_buf_json_str(b, i < np ? names[i] : derived_names[i - np]);
        util_buf_puts(b, ": ");
        interval_pair(b, lo, hi);
    }
    free(v);
    return util_buf_puts(b, "}");
}

int fit_result_json(const fit_result *r, const fit_options *o, util_buf *b) {
    util_buf_puts(b, "{\"form\": ");
    util_buf_json_str(b, fit_form_name(r->law.form));
    util_buf_puts(b, ", \"params\": ");
    fit_result_params_json(r, b);
    util_buf_puts(b, ", \"intervals\": ");
    if (fit_result_intervals_json(r, o->level, b)) return -1;
    util_buf_puts(b, ", \"objective\": ");
    util_buf_json_num(b, r->objective);
    util_buf_puts(b, ", \"rmse_log\": ");
    util_buf_json_num(b, r->rmse_log);
    util_buf_printf(b, ", \"n_points\": %zu", r->n_points);
    if (r->n_holdout) {
        util_buf_printf(b, ", \"holdout\": {\"k\": %zu, \"rmse_log\": ", r->n_holdout);
        util_buf_json_num(b, r->holdout_rmse_log);
        util_buf_puts(b, ", \"points\": [");
        for (size_t i = 0; i < r->n_holdout; i++) {
            util_buf_printf(b, "%s{\"row\": %zu, \"observed\": ", i ? ", " : "", r->holdout_row[i] + 1);
            util_buf_json_num(b, r->holdout_obs[i]);
            util_buf_puts(b, ", \"predicted\": ");
            util_buf_json_num(b, r->holdout_pred[i]);
            util_buf_puts(b, "}");
        }
        util_buf_puts(b, "]}");
    }
    return util_buf_puts(b, "}");
}

int fit_isoflop_params_json(const fit_isoflop *r, util_buf *b) {
    util_buf_puts(b, "{\"k_");
    util_buf_printf(b, "%s\": ", r->col);
    util_buf_json_num(b, exp(r->log_k));
    util_buf_printf(b, ", \"a_%s\": ", r->col);
    util_buf_json_num(b, r->exponent);
    return util_buf_puts(b, "}");
}

int fit_isoflop_intervals_json(const fit_isoflop *r, util_buf *b) {
    util_buf_printf(b, "{\"k_%s\": ", r->col);
    interval_pair(b, r->k_lo, r->k_hi);
    util_buf_printf(b, ", \"a_%s\": ", r->col);
    interval_pair(b, r->exponent_lo, r->exponent_hi);
    return util_buf_puts(b, "}");
}

int fit_isoflop_budgets_json(const fit_isoflop *r, util_buf *b) {
    util_buf_puts(b, "[");
    for (size_t i = 0; i < r->n_budgets; i++) {
        const fit_isoflop_budget *g = &r->budgets[i];
        util_buf_puts(b, i ? ", {\"budget\": " : "{\"budget\": ");
        util_buf_json_num(b, g->budget);
        util_buf_printf(b, ", \"n\": %zu, \"x_opt\": ", g->n);
        util_buf_json_num(b, g->vertex);
        util_buf_puts(b, ", \"x_opt_interval\": ");
        if (g->bound) util_buf_puts(b, "null, \"interval_note\": \"no interval: the vertex is outside the samples\"");
        else if (isnan(g->lo)) util_buf_puts(b, "null, \"interval_note\": \"no interval: 3 points\"");
        else interval_pair(b, g->lo, g->hi);
        util_buf_puts(b, ", \"vertex_bound\": ");
        util_buf_puts(b, g->bound < 0 ? "\"lower\"" : g->bound > 0 ? "\"upper\"" : "null");
        util_buf_puts(b, ", \"x_range\": ");
        interval_pair(b, g->x_min, g->x_max);
        util_buf_puts(b, ", \"loss_opt\": ");
        util_buf_json_num(b, g->loss);
        util_buf_puts(b, ", \"curvature\": ");
        util_buf_json_num(b, g->curvature);
        util_buf_puts(b, "}");
    }
    return util_buf_puts(b, "]");
}

int fit_isoflop_json(const fit_isoflop *r, util_buf *b) {
    util_buf_puts(b, "{\"form\": \"isoflop\", \"params\": ");
    fit_isoflop_params_json(r, b);
    util_buf_puts(b, ", \"intervals\": ");
    fit_isoflop_intervals_json(r, b);
    util_buf_puts(b, ", \"objective\": ");
    util_buf_json_num(b, r->objective);
    util_buf_puts(b, ", \"rmse_log\": ");
    util_buf_json_num(b, r->rmse_log);
    util_buf_printf(b, ", \"n_points\": %zu, \"n_skipped_budgets\": %zu, \"n_interior_budgets\": %zu", r->n_points,
                    r->n_skipped, r->n_interior);
    util_buf_puts(b, ", \"exponent_note\": ");
    util_buf_json_str(b, r->note[0] ? r->note : NULL);
    util_buf_puts(b, ", \"budgets\": ");
    fit_isoflop_budgets_json(r, b);
    return util_buf_puts(b, "}");
}

int fit_json_append_diagnostics(util_buf *b, const fit_diagnostics *g) {
    if (!b->len || b->data[b->len - 1] != '}') return -1;
    b->data[--b->len] = '\0';
    util_buf_puts(b, ", \"verdict\": ");
    util_buf_json_str(b, fit_verdict_name(g->verdict));
    util_buf_puts(b, ", \"reasons\": [");
    for (size_t i = 0; i < g->n_reasons; i++) {
        util_buf_puts(b, i ? ", " : "");
        util_buf_json_str(b, g->reasons[i]);
    }
    util_buf_puts(b, "], \"diagnostics\": ");
    fit_diagnostics_json(g, b);
    return util_buf_puts(b, "}");
}

static void num_array(util_buf *b, const double *v, size_t n) {
    util_buf_puts(b, "[");
    for (size_t i = 0; i < n; i++) {
        util_buf_puts(b, i ? ", " : "");
        util_buf_json_num(b, v[i]);
    }
    util_buf_puts(b, "]");
}

int fit_law_inputs_json(const fit_result *r, const fit_data *d, const fit_options *o, const char *source,
                        util_buf *b) {
    size_t np = 1 + 2 * r->law.k;
    util_buf_puts(b, "{\"source\": ");
    util_buf_json_str(b, source);
    util_buf_puts(b, ", \"form\": ");
    util_buf_json_str(b, fit_form_name(r->law.form));
    util_buf_puts(b, ", \"x_cols\": [");
    for (size_t j = 0; j < d->k; j++) {
        util_buf_puts(b, j ? ", " : "");
        util_buf_json_str(b, d->cols[j]);
    }
    util_buf_puts(b, "], \"y_col\": ");
    util_buf_json_str(b, d->ycol);
    util_buf_printf(b, ", \"loss\": \"%s\", \"method\": \"%s\", \"delta\": ", o->loss == FIT_LOSS_L2 ? "l2" : "huber",
                    o->method == FIT_METHOD_BFGS2 ? "bfgs2" : "lm");
    util_buf_json_num(b, o->delta);
    util_buf_puts(b, ", \"grid\": {\"e\": ");
    num_array(b, o->grid.e, 3);
    util_buf_puts(b, ", \"a\": ");
    num_array(b, o->grid.a, 3);
    util_buf_puts(b, ", \"alpha\": ");
    num_array(b, o->grid.alpha, 3);
    util_buf_printf(b, "}, \"n_starts\": %zu, \"n_converged\": %zu, \"holdout_top\": %zu, \"theta\": ",
                    r->n_starts, r->n_converged, o->holdout_top);
    num_array(b, r->law.theta, np);
    util_buf_printf(b, ", \"bootstrap\": %zu, \"seed\": %llu, \"level\": ", r->n_boot, (unsigned long long)o->seed);
    util_buf_json_num(b, o->level);
    util_buf_puts(b, ", \"boot_theta\": [");
    for (size_t s = 0; s < r->n_boot; s++) {
        util_buf_puts(b, s ? ", " : "");
        num_array(b, r->boot + s * np, np);
    }
    return util_buf_puts(b, "]}");
}

int fit_law_residuals_json(const fit_result *r, const fit_data *d, util_buf *b) {
    util_buf_puts(b, "[");
    int first = 1;
    for (size_t i = 0; i < d->n; i++) {
        int held = 0;
        for (size_t h = 0; h < r->n_holdout; h++) held |= r->holdout_row[h] == d->row[i];
        if (held) continue;
        double lp = fit_law_log_predict(&r->law, d->x + i * d->k);
        util_buf_printf(b, "%s{\"row\": %zu, \"observed\": ", first ? "" : ", ", d->row[i] + 1);
        util_buf_json_num(b, d->y[i]);
        util_buf_puts(b, ", \"predicted\": ");
        util_buf_json_num(b, exp(lp));
        util_buf_puts(b, ", \"log_residual\": ");
        util_buf_json_num(b, lp - log(d->y[i]));
        util_buf_puts(b, "}");
        first = 0;
    }
    return util_buf_puts(b, "]");
}

int fit_isoflop_inputs_json(const fit_isoflop *r, const char *source, const char *ycol,
                            const char *budget_col, double budget_scale, util_buf *b) {
    double theta[2] = {r->log_k, r->exponent};
    util_buf_puts(b, "{\"source\": ");
    util_buf_json_str(b, source);
    util_buf_puts(b, ", \"form\": \"isoflop\", \"x_cols\": [");
    util_buf_json_str(b, r->col);
    util_buf_puts(b, "], \"y_col\": ");
    util_buf_json_str(b, ycol);
    util_buf_puts(b, ", \"budget_col\": ");
    util_buf_json_str(b, budget_col);
    util_buf_puts(b, ", \"budget_scale\": ");
    util_buf_json_num(b, budget_scale);
    util_buf_puts(b, ", \"theta\": ");
    num_array(b, theta, 2);
    return util_buf_puts(b, "}");
}

static void str_array(util_buf *b, const char *const *v, size_t n) {
    util_buf_puts(b, "[");
    for (size_t i = 0; i < n; i++) {
        util_buf_puts(b, i ? ", " : "");
        util_buf_json_str(b, v[i]);
    }
    util_buf_puts(b, "]");
}

int fit_inputs_append_selection(util_buf *b, const fit_selection *sel) {
    if (!b->len || b->data[b->len - 1] != '}') return -1;
    b->data[--b->len] = '\0';
    util_buf_puts(b, ", \"derive\": ");
    str_array(b, sel->derive, sel->n_derive);
    util_buf_puts(b, ", \"where\": ");
    str_array(b, sel->where, sel->n_where);
    util_buf_puts(b, ", \"compute_col\": ");
    util_buf_json_str(b, sel->compute_col);
    util_buf_printf(b, ", \"pool_mixers\": %s", sel->pool_mixers ? "true" : "false");
    if (!isnan(sel->budget_tol)) {
        util_buf_puts(b, ", \"budget_tol\": ");
        util_buf_json_num(b, sel->budget_tol);
    }
    util_buf_printf(b, ", \"n_skipped_rows\": %zu", sel->n_skipped);
    return util_buf_puts(b, "}");
}

int fit_law_from_parts(const char *form, const char *const *cols, size_t n_cols, const double *theta, size_t n_theta,
                       const double *boot, size_t n_boot_values, fit_law *law, double **boot_out, size_t *n_boot,
                       char *err, size_t errlen) {
    memset(law, 0, sizeof *law);
    *boot_out = NULL;
    *n_boot = 0;
    if (!form || fit_form_parse(form, &law->form))
        return util_err(err, errlen, "stored fit: form '%s' is not powerlaw, chinchilla, additive or isoflop",
                        form ? form : "");
    if (n_cols == 0 || n_cols > FIT_MAX_TERMS)
        return util_err(err, errlen, "stored fit: %zu x columns (1 to %d)", n_cols, FIT_MAX_TERMS);
    /* an isoflop fit keeps (log k, exponent) of x_opt = k C^exponent in theta */
    size_t want = law->form == FIT_ISOFLOP ? 2 : 1 + 2 * n_cols;
    if (n_theta != want)
        return util_err(err, errlen, "stored fit: theta holds %zu numbers, a %s law over %zu columns has %zu", n_theta,
                        form, n_cols, want);
    law->k = n_cols;
    memcpy(law->theta, theta, n_theta * sizeof *theta);
    for (size_t j = 0; j < n_cols; j++) {
        size_t n = strlen(cols[j]) + 1;
        if (!(law->cols[j] = malloc(n))) return fit_law_free(law), util_err(err, errlen, "out of memory");
        memcpy(law->cols[j], cols[j], n);
    }
    if (n_boot_values && n_boot_values % n_theta == 0) {
        if (!(*boot_out = malloc(n_boot_values * sizeof **boot_out)))
            return fit_law_free(law), util_err(err, errlen, "out of memory");
        memcpy(*boot_out, boot, n_boot_values * sizeof *boot);
        *n_boot = n_boot_values / n_theta;
    }
    return 0;
}
