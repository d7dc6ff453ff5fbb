/* report_load: a sweep's runs, their curves and the sweep's latest fit, copied
 * out of the store into report_data (which owns its memory). */
#include "analysis/report_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

static int sweep_exists(store *s, const char *sweep, char *err, size_t errlen) {
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
    for (size_t i = 0; r->curve && i < nm; i++)
        if (isfinite(m[i].loss)) r->curve[r->n_curve++] = (report_point){m[i].tokens, m[i].loss};
    free(m);
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

/* The most recent fit whose source is this sweep: what `scalelab fit --sweep S`
 * stored last. Fits are numbered upwards, so walk back from the latest. */
static int load_fit(store *s, report_data *d, char *err, size_t errlen) {
    store_fit f = {0};
    if (store_fit_get(s, 0, &f, err, errlen)) return 0; /* no fits at all */
    char want[160];
    snprintf(want, sizeof want, "sweep:%s", d->sweep);
    for (int64_t id = f.id; id > 0 && id > f.id - 1000; id--) {
        store_fit g = {0};
        if (id != f.id && store_fit_get(s, id, &g, err, errlen)) continue;
        const store_fit *h = id == f.id ? &f : &g;
        int match = h->source && !strcmp(h->source, want) && h->inputs_json && strcmp(h->form, "isoflop");
        if (match) {
            d->fit_id = h->id;
            snprintf(d->fit_form, sizeof d->fit_form, "%s", h->form);
            d->fit_inputs_json = strdup(h->inputs_json);
        }
        if (id != f.id) store_fit_clear(&g);
        if (match) break;
    }
    store_fit_clear(&f);
    return d->fit_id && !d->fit_inputs_json ? util_err(err, errlen, "out of memory") : 0;
}

int report_load(store *s, const char *sweep, report_data *d, char *err, size_t errlen) {
    memset(d, 0, sizeof *d);
    snprintf(d->sweep, sizeof d->sweep, "%s", sweep ? sweep : "");
    if (d->sweep[0] && sweep_exists(s, d->sweep, err, errlen)) return -1;
    store_run_filter f = {.sweep = d->sweep[0] ? d->sweep : NULL, .status = -1, .id = 0};
    store_run *runs = NULL;
    size_t n = 0;
    if (store_runs_list(s, &f, &runs, &n, err, errlen)) return -1;
    if (n == 0) {
        store_runs_free(runs, n);
        return d->sweep[0] ? util_err(err, errlen, "sweep '%s' has no runs", d->sweep)
                           : util_err(err, errlen, "the store holds no runs (run scalelab sweep run SPEC first)");
    }
    d->runs = calloc(n, sizeof *d->runs);
    int rc = d->runs ? 0 : util_err(err, errlen, "out of memory");
    for (size_t i = 0; i < n && !rc; i++) {
        report_run *r = &d->runs[d->n_runs++];
        const store_run *sr = &runs[i];
        r->id = sr->id;
        r->knee = -1;
        r->budget = -1;
        snprintf(r->status, sizeof r->status, "%s", store_status_name(sr->status));
        r->params = sr->acc.params;
        r->weight_flops = sr->acc.weight_flops_per_token;
        r->state_flops = sr->acc.state_flops_per_token;
        r->wsfr = sr->acc.wsfr;
        r->state_size = sr->acc.state_size;
        r->tokens = sr->acc.tokens;
        r->training_flops = sr->acc.training_flops;
        r->final_train_loss = sr->final_train_loss;
        r->final_eval_loss = sr->final_eval_loss;
        r->best_context_loss = sr->best_context_loss;
        rc = report_config_parse(sr->config_json, r, err, errlen);
        if (!rc) rc = load_curves(s, r, err, errlen);
    }
    store_runs_free(runs, n);
    if (!rc && d->sweep[0]) rc = load_fit(s, d, err, errlen);
    if (rc) report_data_free(d);
    return rc;
}
