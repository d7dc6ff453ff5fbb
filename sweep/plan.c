/* sweep/plan: points -> run configs (canonical JSON, hash, FLOP accounting),
 * isoflop token counts, and deduplication within the sweep. */
#include "sweep/sweep.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/config.h"
#include "model/flops.h"
#include "util/util.h"

/* NULL when out of memory (util/util.h: the caller reports it). */
static char *dup(const char *s) {
    return strdup(s ? s : "");
}

/* Every config key's value in the base config (defaults, then the base's plain
 * values), resolved when the base alone resolves: the fallback of references. */
static int base_defaults(const sweep_spec *s, sweep_entry **out, size_t *n, char *err, size_t errlen) {
    model_config c;
    model_config_default(&c);
    for (size_t i = 0; i < s->n_base; i++) {
        const sweep_entry *e = &s->base[i];
        char why[512];
        if (util_expr_marked(e->value)) continue;
        if (model_config_set(&c, e->key, e->value, why, sizeof why))
            return util_err(err, errlen, "%s:%d:%d: %s: %s", e->file, e->line, e->col, e->key, why);
    }
    model_config resolved = c;
    char why[512];
    if (!model_config_resolve(&resolved, why, sizeof why)) c = resolved;
    size_t nk = model_config_key_count();
    *out = calloc(nk, sizeof **out);
    if (!*out) return util_err(err, errlen, "out of memory");
    *n = 0;
    for (size_t i = 0; i < nk; i++) {
        char key[128], value[1100];
        if (model_config_key_name(i, key, sizeof key) || model_config_get(&c, key, value, sizeof value)) continue;
        (*out)[*n].key = dup(key);
        (*out)[*n].value = dup(value);
        if (!(*out)[*n].key || !(*out)[*n].value) {
            free((*out)[*n].key), free((*out)[*n].value);
            sweep_entries_free(*out, *n);
            *out = NULL, *n = 0;
            return util_err(err, errlen, "out of memory");
        }
        (*out)[*n].file = s->path;
        (*n)++;
    }
    return 0;
}

static int is_swept(const sweep_spec *s, const char *key) {
    for (size_t i = 0; i < s->n_grid; i++)
        if (!strcmp(s->grid[i].key, key)) return 1;
    for (size_t z = 0; z < s->n_zips; z++)
        for (size_t a = 0; a < s->zips[z].n_axes; a++)
            if (!strcmp(s->zips[z].axes[a].key, key)) return 1;
    for (size_t i = 0; i < s->n_dists; i++)
        if (!strcmp(s->dists[i].key, key)) return 1;
    for (size_t i = 0; i < s->n_derived; i++)
        if (!strcmp(s->derived[i].key, key)) return 1;
    return s->n_seeds && !strcmp(key, "train.seed");
}

char *sweep_point_label(const sweep_point *p, const sweep_spec *s) {
    util_buf b = {0};
    for (size_t i = 0; i < p->n; i++)
        if (is_swept(s, p->kv[i].key))
            util_buf_printf(&b, "%s%s=%s", b.len ? " " : "", p->kv[i].key, p->kv[i].value);
    if (!b.data) util_buf_puts(&b, "(base)");
    return b.data;
}

/* The entry of the point that a config error is about, so the error can point at
 * where it was set: among the keys the message names, a swept one (the value that
 * made this combination bad) before a base one, else the earliest mentioned. */
static const sweep_entry *blamed_entry(const sweep_point *p, const sweep_spec *s, const char *why) {
    const sweep_entry *best = NULL;
    const char *best_at = NULL;
    int best_swept = 0;
    for (size_t k = 0; k < p->n; k++) {
        const char *at = strstr(why, p->kv[k].key);
        int swept = is_swept(s, p->kv[k].key);
        if (at && (!best || swept > best_swept || (swept == best_swept && at < best_at)))
            best = &p->kv[k], best_at = at, best_swept = swept;
    }
    return best;
}

static int add_run(sweep_plan *plan, size_t *cap, const model_config *c, size_t point, double budget) {
    if (plan->n_runs == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        sweep_planned_run *v = realloc(plan->runs, *cap * sizeof *v);
        if (!v) return -1;
        plan->runs = v;
    }
    model_flops f;
    model_flops_compute(c, &f);
    sweep_planned_run *r = &plan->runs[plan->n_runs];
    r->config_json = model_config_canonical_json(c);
    if (!r->config_json) return -1;
    model_config_hash(c, r->hash);
    r->acc = f.acc;
    r->budget = budget;
    r->point = point;
    plan->n_runs++;
    return 0;
}

static int cmp_hash(const void *a, const void *b) {
    const sweep_planned_run *x = *(sweep_planned_run *const *)a, *y = *(sweep_planned_run *const *)b;
    int c = strcmp(x->hash, y->hash);
    return c ? c : (x > y) - (x < y); /* ties in plan order, so the first is kept */
}

/* Keeps the first run of each hash, in plan order. Non-zero when out of memory
 * (the plan is then unchanged). */
static int dedupe(sweep_plan *plan) {
    size_t n = plan->n_runs;
    if (n < 2) return 0;
    sweep_planned_run **order = malloc(n * sizeof *order);
    unsigned char *drop = calloc(n, 1);
    if (!order || !drop) {
        free(order), free(drop);
        return -1;
    }
    for (size_t i = 0; i < n; i++) order[i] = &plan->runs[i];
    qsort(order, n, sizeof *order, cmp_hash);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(order[i]->hash, order[i - 1]->hash)) drop[order[i] - plan->runs] = 1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (drop[i]) {
            free(plan->runs[i].config_json);
            plan->n_duplicates++;
        } else {
            plan->runs[k++] = plan->runs[i];
        }
    }
    plan->n_runs = k;
    free(order);
    free(drop);
    return 0;
}

/* Data sources already opened successfully at plan time ("VOCAB SOURCE"), so a
 * sweep over many shapes opens each shard once. */
typedef struct checked_sources {
    char **v;
    size_t n;
} checked_sources;

/* Opens the point's data source as the trainer will (model_config_check_data),
 * so a missing or unreadable file fails the plan, not every run. */
static int check_data(checked_sources *cs, const model_config *c, const sweep_point *p, const sweep_spec *s,
                      size_t i, char *err, size_t errlen) {
    util_buf key = {0};
    util_buf_printf(&key, "%d %s", c->vocab_size, c->data_source);
    if (!key.data) return util_err(err, errlen, "out of memory");
    for (size_t k = 0; k < cs->n; k++)
        if (!strcmp(cs->v[k], key.data)) {
            util_buf_free(&key);
            return 0;
        }
    char why[768];
    if (model_config_check_data(c, why, sizeof why)) {
        util_buf_free(&key);
        char *label = sweep_point_label(p, s);
        const sweep_entry *at = NULL;
        for (size_t k = 0; k < p->n; k++)
            if (!strcmp(p->kv[k].key, "data.source")) at = &p->kv[k];
        if (!at) at = blamed_entry(p, s, why);
        int rc = util_err(err, errlen, "%s:%d:%d: %s: run %zu (%s): %s", at ? at->file : s->path, at ? at->line : 1,
                          at ? at->col : 1, at ? at->key : "data.source", i + 1, label, why);
        free(label);
        return rc;
    }
    char **v = realloc(cs->v, (cs->n + 1) * sizeof *v);
    if (!v) {
        util_buf_free(&key);
        return util_err(err, errlen, "out of memory");
    }
    cs->v = v;
    cs->v[cs->n++] = key.data;
    return 0;
}

/* tokens for budget: whole batches, the nearest count (round half away from zero). */
static double isoflop_tokens(const model_config *c, double W, double S, double budget) {
    double batch = (double)c->batch_size * c->context;
    return round(budget / (3.0 * (W + S)) / batch) * batch;
}


int sweep_plan_build(const sweep_spec *s, sweep_plan *plan, char *err, size_t errlen) {
    memset(plan, 0, sizeof *plan);
    sweep_entry *defaults = NULL;
    size_t nd = 0;
    if (base_defaults(s, &defaults, &nd, err, errlen)) return -1;
    int rc = sweep_expand(s, defaults, nd, &plan->points, err, errlen);
    sweep_entries_free(defaults, nd);
    if (rc) return -1;
    size_t cap = 0;
    checked_sources sources = {0};
    double *lo = NULL, *hi = NULL; /* per budget: the token range over shapes, for the error */
    size_t *kept = NULL;
    if (s->n_budgets) {
        lo = malloc(s->n_budgets * sizeof *lo);
        hi = malloc(s->n_budgets * sizeof *hi);
        kept = calloc(s->n_budgets, sizeof *kept);
        if (!lo || !hi || !kept) rc = util_err(err, errlen, "out of memory");
        for (size_t b = 0; !rc && b < s->n_budgets; b++) lo[b] = INFINITY, hi[b] = -INFINITY;
    }
    for (size_t i = 0; !rc && i < plan->points.n; i++) {
        const sweep_point *p = &plan->points.v[i];
        model_config c;
        model_config_default(&c);
        char why[768];
        for (size_t k = 0; !rc && k < p->n; k++) {
            const sweep_entry *e = &p->kv[k];
            if (model_config_set(&c, e->key, e->value, why, sizeof why))
                rc = util_err(err, errlen, "%s:%d:%d: %s: %s", e->file, e->line, e->col, e->key, why);
        }
        if (!rc && model_config_resolve(&c, why, sizeof why)) {
            char *label = sweep_point_label(p, s);
            const sweep_entry *at = blamed_entry(p, s, why);
            if (at)
                rc = util_err(err, errlen, "%s:%d:%d: %s: run %zu (%s): %s (add a constraint to leave such runs out)",
                              at->file, at->line, at->col, at->key, i + 1, label, why);
            else
                rc = util_err(err, errlen, "%s:1:1: base: run %zu (%s): %s (add a constraint to leave such runs out)",
                              s->path, i + 1, label, why);
            free(label);
        }
        if (!rc) rc = check_data(&sources, &c, p, s, i, err, errlen);
        if (rc) break;
        if (!s->n_budgets) {
            if (add_run(plan, &cap, &c, i, 0)) rc = util_err(err, errlen, "out of memory");
            continue;
        }
        model_flops f;
        model_flops_compute(&c, &f);
        for (size_t b = 0; !rc && b < s->n_budgets; b++) {
            double t = isoflop_tokens(&c, f.weight_flops_per_token, f.state_flops_per_token, s->budgets[b]);
            lo[b] = fmin(lo[b], t);
            hi[b] = fmax(hi[b], t);
            if (t < 1 || t < s->min_tokens || t > s->max_tokens) {
                sweep_dropped *d = realloc(plan->dropped, (plan->n_dropped + 1) * sizeof *d);
                if (!d) {
                    rc = util_err(err, errlen, "out of memory");
                    break;
                }
                plan->dropped = d;
                d[plan->n_dropped++] = (sweep_dropped){.point = i, .budget = s->budgets[b], .tokens = t,
                                                       .label = sweep_point_label(p, s)};
                continue;
            }
            model_config cb = c;
            cb.tokens = (int64_t)t;
            if (model_config_resolve(&cb, why, sizeof why)) {
                rc = util_err(err, errlen, "%s:%d:%d: isoflop.budgets: budget %g gives %.0f tokens: %s", s->path,
                              s->budget_line[b], s->budget_col[b], s->budgets[b], t, why);
            } else if (add_run(plan, &cap, &cb, i, s->budgets[b])) {
                rc = util_err(err, errlen, "out of memory");
            }
            kept[b]++;
        }
    }
    for (size_t b = 0; !rc && b < s->n_budgets; b++)
        if (!kept[b] && plan->points.n)
            rc = util_err(err, errlen,
                          "%s:%d:%d: isoflop.budgets: no shape can meet budget %g: its token counts range over "
                          "[%.0f, %.0f], outside [min_tokens %.0f, max_tokens %.0f]",
                          s->path, s->budget_line[b], s->budget_col[b], s->budgets[b], lo[b], hi[b], s->min_tokens,
                          s->max_tokens);
    free(lo);
    free(hi);
    free(kept);
    for (size_t k = 0; k < sources.n; k++) free(sources.v[k]);
    free(sources.v);
    if (!rc) {
        if (dedupe(plan)) rc = util_err(err, errlen, "out of memory");
    }
    if (!rc) {
        for (size_t i = 0; i < plan->n_runs; i++) plan->total_flops += plan->runs[i].training_flops;
    }
    if (rc) sweep_plan_free(plan);
    return rc;
}

void sweep_plan_free(sweep_plan *plan) {
    for (size_t i = 0; i < plan->n_runs; i++) free(plan->runs[i].config_json);
    free(plan->runs);
    for (size_t i = 0; i < plan->n_dropped; i++) free(plan->dropped[i].label);
    free(plan->dropped);
    sweep_points_free(&plan->points);
    memset(plan, 0, sizeof *plan);
}
