/* report_load: a sweep's runs, their curves and the sweep's latest fit, copied
 * out of the store into report_data (which owns its memory). */
#include "analysis/report_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

static int load_sweep_exists(store *s, const char *sweep, char *err, size_t errlen) {
    char **names = NULL;
    size_t n = 0;
    if (store_sweeps_list(s, &names, &n, err, errlen)) return -1;
    int found = 0;
    util_buf known = {0};
    for (size_t i = 0; i < n; i++) {
        found |= !strcmp(names[i], sweep);
        util_buf_printf(&known, "%s%s", i ? ", " : "", names[i]);
    }
    int rc = found ? 0
                   : util_err(err, errlen, "no sweep named '%s' in the store (sweeps: %s)", sweep,
                              n ? known.data : "none; run scalelab sweep run SPEC first");
    util_buf_free(&known);
    store_strings_free(names, n);
    return rc;
}

static int load_curves(store *s, report_run *r, char *err, size_t errlen) {
    store_metric *m = NULL;
    size_t nm = 0;
    if (store_metrics_list(s, r->id, &m, &nm, err, errlen)) return -1;
    r->curve = malloc((nm ? nm : 1) * sizeof *r->curve);
    r->eval_curve = malloc((nm ? nm : 1) * sizeof *r->eval_curve);
    for (size_t i = 0; r->curve && r->eval_curve && i < nm; i++) {
        if (isfinite(m[i].loss)) r->curve[r->n_curve++] = (report_point){m[i].tokens, m[i].loss};
        if (isfinite(m[i].eval_loss)) r->eval_curve[r->n_eval++] = (report_point){m[i].tokens, m[i].eval_loss};
    }
    free(m);
    if (!r->eval_curve) return util_err(err, errlen, "out of memory");
    store_position_loss *pl = NULL;
    size_t np = 0;
    if (!r->curve || store_position_loss_list(s, r->id, &pl, &np, err, errlen)) {
        free(pl);
        return r->curve ? -1 : util_err(err, errlen, "out of memory");
    }
    /* Only the last evaluation: the context curve of the trained model. */
    int64_t last = -1;
    for (size_t i = 0; i < np; i++)
        if (pl[i].step > last) last = pl[i].step;
    r->pos_loss = malloc((np ? np : 1) * sizeof *r->pos_loss);
    for (size_t i = 0; r->pos_loss && i < np; i++)
        if (pl[i].step == last) r->pos_loss[r->n_pos_loss++] = (report_point){(double)pl[i].position, pl[i].loss};
    free(pl);
    if (!r->pos_loss) return util_err(err, errlen, "out of memory");
    /* Buckets ascend by position whatever order the store returned them in. */
    for (size_t i = 1; i < r->n_pos_loss; i++)
        for (size_t j = i; j > 0 && r->pos_loss[j].x < r->pos_loss[j - 1].x; j--) {
            report_point t = r->pos_loss[j];
            r->pos_loss[j] = r->pos_loss[j - 1], r->pos_loss[j - 1] = t;
        }
    return 0;
}

/* The most recent fits whose source is one of the sweeps: the latest
 * non-IsoFLOP law of the first sweep (for the recommendation table) and the
 * latest IsoFLOP fit per sweep and x column (for the answer). Fits are
 * numbered upwards, so walk back from the latest. */
static int load_fits(store *s, report_data *d, char *err, size_t errlen) {
    store_fit f = {0};
    if (store_fit_get(s, 0, &f, err, errlen)) return 0; /* no fits at all */
    int rc = 0;
    for (int64_t id = f.id; id > 0 && id > f.id - 1000 && !rc; id--) {
        store_fit g = {0};
        if (id != f.id && store_fit_get(s, id, &g, err, errlen)) continue;
        const store_fit *h = id == f.id ? &f : &g;
        int sw = -1;
        for (size_t i = 0; i < d->n_sweeps && h->source && sw < 0; i++) {
            char want[160];
            snprintf(want, sizeof want, "sweep:%s", d->sweeps[i]);
            if (!strcmp(h->source, want)) sw = (int)i;
        }
        if (sw == 0 && !d->fit_id && h->inputs_json && strcmp(h->form, "isoflop")) {
            d->fit_id = h->id;
            snprintf(d->fit_form, sizeof d->fit_form, "%s", h->form);
            char perr[512];
            /* a law we cannot read leaves the recommendation table to say so, not fatal */
            store_fit_inputs_read(s, h->inputs_json, &d->fit_inputs, perr, sizeof perr);
        }
        if (sw >= 0 && !strcmp(h->form, "isoflop") && h->inputs_json) {
            /* The x column is the one entry of "x_cols". */
            char xcol[32] = "", **xs = NULL, perr[256];
            size_t nx = 0;
            if (!store_json_strings(s, h->inputs_json, "$.x_cols", &xs, &nx, perr, sizeof perr) && nx)
                snprintf(xcol, sizeof xcol, "%s", xs[0]);
            store_strings_free(xs, nx);
            int seen = 0;
            for (size_t i = 0; i < d->n_fits; i++) seen |= d->fits[i].sweep == sw && !strcmp(d->fits[i].xcol, xcol);
            if (!seen && xcol[0]) {
                report_stored_fit *nf = realloc(d->fits, (d->n_fits + 1) * sizeof *nf);
                if (!nf) rc = util_err(err, errlen, "out of memory");
                else {
                    d->fits = nf;
                    report_stored_fit *sf = &d->fits[d->n_fits];
                    memset(sf, 0, sizeof *sf);
                    char perr[256];
                    /* A fit we cannot read is left out of the answer, not fatal. */
                    if (!report_stored_fit_parse(xcol, h->params_json, h->intervals_json, h->residuals_json,
                                                 h->verdict, h->diagnostics_json, sf, perr, sizeof perr)) {
                        sf->id = h->id;
                        sf->sweep = sw;
                        d->n_fits++;
                    }
                }
            }
        }
        if (id != f.id) store_fit_clear(&g);
    }
    store_fit_clear(&f);
    return rc;
}

static int load_run(store *s, report_data *d, const store_run *sr, unsigned mask, char *err, size_t errlen) {
    for (size_t i = 0; i < d->n_runs; i++)
        if (d->runs[i].id == sr->id) {
            d->runs[i].sweeps |= mask;
            return 0;
        }
    report_run *r = &d->runs[d->n_runs++];
    r->id = sr->id;
    r->sweeps = mask;
    r->knee = -1;
    r->budget = -1;
    snprintf(r->status, sizeof r->status, "%s", store_status_name(sr->status));
    r->acc = sr->acc;
    r->final_train_loss = sr->final_train_loss;
    r->final_eval_loss = sr->final_eval_loss;
    r->best_context_loss = sr->best_context_loss;
    int rc = report_config_parse(sr->config_json, r, err, errlen);
    if (!rc) rc = load_curves(s, r, err, errlen);
    return rc;
}

int report_load_sweeps(store *s, const char *const *sweeps, size_t n_sweeps, report_data *d, char *err,
                       size_t errlen) {
    memset(d, 0, sizeof *d);
    if (n_sweeps > REPORT_MAX_SWEEPS) return util_err(err, errlen, "at most %d sweeps in one report", REPORT_MAX_SWEEPS);
    for (size_t i = 0; i < n_sweeps; i++) {
        if (sweeps[i] && !sweeps[i][0]) continue;
        snprintf(d->sweeps[d->n_sweeps], sizeof d->sweeps[0], "%s", sweeps[i]);
        size_t len = strlen(d->sweep);
        snprintf(d->sweep + len, sizeof d->sweep - len, "%s%s", len ? " + " : "", sweeps[i]);
        if (load_sweep_exists(s, sweeps[i], err, errlen)) return -1;
        d->n_sweeps++;
    }
    size_t n_lists = d->n_sweeps ? d->n_sweeps : 1;
    store_run *lists[REPORT_MAX_SWEEPS] = {0};
    size_t counts[REPORT_MAX_SWEEPS] = {0}, total = 0;
    int rc = 0;
    for (size_t i = 0; i < n_lists && !rc; i++) {
        store_run_filter f = {.sweep = d->n_sweeps ? d->sweeps[i] : NULL, .status = -1, .id = 0};
        rc = store_runs_list(s, &f, &lists[i], &counts[i], err, errlen);
        if (!rc && counts[i] == 0 && d->n_sweeps)
            rc = util_err(err, errlen, "sweep '%s' has no runs", d->sweeps[i]);
        total += counts[i];
    }
    if (!rc && total == 0) rc = util_err(err, errlen, "the store holds no runs (run scalelab sweep run SPEC first)");
    if (!rc && !(d->runs = calloc(total, sizeof *d->runs))) rc = util_err(err, errlen, "out of memory");
    for (size_t i = 0; i < n_lists && !rc; i++)
        for (size_t j = 0; j < counts[i] && !rc; j++)
            rc = load_run(s, d, &lists[i][j], d->n_sweeps ? 1u << i : 1u, err, errlen);
    for (size_t i = 0; i < n_lists; i++) store_runs_free(lists[i], counts[i]);
    if (!rc && d->n_sweeps) rc = load_fits(s, d, err, errlen);
    if (rc) report_data_free(d);
    return rc;
}

int report_load(store *s, const char *sweep, report_data *d, char *err, size_t errlen) {
    const char *one[1] = {sweep};
    return report_load_sweeps(s, one, sweep && *sweep ? 1 : 0, d, err, errlen);
}
