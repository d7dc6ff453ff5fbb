/* sweep/expand: spec -> points (key/value overrides). Knows nothing of model
 * configs, so it is tested on plain key/value maps.
 *
 * The factors of the product, slowest first: grid axes in spec order, zip
 * groups, random samples, seeds. Random samples are drawn once, up front, from
 * GSL's mt19937 seeded with random.seed, so a spec always expands the same way. */
#include "sweep/sweep.h"

#include <gsl/gsl_rng.h>
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

typedef struct factor {
    size_t len;
    /* entries of choice i: sets[i * width .. i * width + width) */
    const sweep_entry *sets;
    size_t width, stride; /* grid axis: width 1 stride 1; zip: entries are per axis */
    const sweep_zip *zip;
} factor;

/* NULL when out of memory (util/util.h: the caller reports it). */
static char *dup(const char *s) {
    return strdup(s ? s : "");
}

/* Sets key in p (replacing an earlier value of the same key). Non-zero when out
 * of memory; p stays freeable with sweep_entries_free. */
static int point_set(sweep_point *p, size_t *cap, const sweep_entry *e) {
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->kv[i].key, e->key)) {
            free(p->kv[i].value);
            p->kv[i].value = dup(e->value);
            p->kv[i].file = e->file, p->kv[i].line = e->line, p->kv[i].col = e->col;
            return p->kv[i].value ? 0 : -1;
        }
    if (p->n == *cap) {
        size_t grown_cap = *cap ? 2 * *cap : 16;
        sweep_entry *grown = realloc(p->kv, grown_cap * sizeof *p->kv);
        if (!grown) return -1;
        p->kv = grown, *cap = grown_cap;
    }
    sweep_entry *added = &p->kv[p->n];
    *added = *e;
    added->key = dup(e->key);
    added->value = dup(e->value);
    if (!added->key || !added->value) {
        free(added->key), free(added->value);
        return -1;
    }
    p->n++;
    return 0;
}

const char *sweep_point_get(const sweep_point *p, const char *key) {
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->kv[i].key, key)) return p->kv[i].value;
    return NULL;
}

/* ---- evaluation of one point ------------------------------------------------ */

typedef struct eval_ctx {
    sweep_point *p;
    int chain;                  /* derived values being evaluated inside one another */
    const sweep_entry *too_deep; /* where the chain passed SWEEP_MAX_CHAIN, for the outermost error */
    unsigned char *state; /* per kv: 0 plain or done, 1 expression pending, 2 being evaluated */
    const sweep_entry *defaults;
    size_t n_defaults;
} eval_ctx;

static int eval_entry(eval_ctx *c, size_t i, char *err, size_t errlen);

static void text_value(const char *t, util_value *v) {
    char *end;
    double x = strtod(t, &end);
    if (*t && !*end && end != t) {
        *v = (util_value){.num = x};
    } else if (!strcmp(t, "true") || !strcmp(t, "false")) {
        *v = (util_value){.num = t[0] == 't'};
    } else {
        *v = (util_value){.is_str = 1, .s = t, .len = strlen(t)};
    }
}

static int lookup(void *ctx, const char *key, util_value *out, char *err, size_t errlen) {
    eval_ctx *c = ctx;
    for (size_t i = 0; i < c->p->n; i++) {
        if (strcmp(c->p->kv[i].key, key)) continue;
        if (c->state[i] == 2) return util_err(err, errlen, "${%s} refers to itself (a cycle of derived values)", key);
        if (c->state[i] == 1 && eval_entry(c, i, err, errlen)) return -1;
        text_value(c->p->kv[i].value, out);
        return 0;
    }
    for (size_t i = 0; i < c->n_defaults; i++)
        if (!strcmp(c->defaults[i].key, key)) {
            text_value(c->defaults[i].value, out);
            return 0;
        }
    return util_err(err, errlen, "unknown key %s (not set by the spec, its base or the defaults)", key);
}

static int eval_entry(eval_ctx *c, size_t i, char *err, size_t errlen) {
    sweep_entry *e = &c->p->kv[i];
    /* Each level costs a few KB of stack (and an expression's own nesting): a
     * chain of ~1,800 derived values used to overflow it. */
    if (c->chain >= SWEEP_MAX_CHAIN) {
        c->too_deep = e;
        return util_err(err, errlen, "chain too deep");
    }
    c->state[i] = 2;
    util_value v;
    char why[768];
    c->chain++;
    int rc = util_expr_eval(e->value, lookup, c, &v, NULL, why, sizeof why);
    c->chain--;
    if (rc && c->too_deep) {
        /* Said once, by the outermost value, rather than wrapped 32 times. */
        if (c->chain) return util_err(err, errlen, "chain too deep");
        const sweep_entry *d = c->too_deep;
        c->too_deep = NULL;
        return util_err(err, errlen, "%s:%d:%d: %s: a chain of derived values more than %d deep (each refers to the "
                        "next; the chain reaches %s at %s:%d:%d)", e->file, e->line, e->col, e->key, SWEEP_MAX_CHAIN,
                        d->key, d->file, d->line, d->col);
    }
    if (rc) {
        /* A nested failure already names its own place; keep the outermost key too. */
        return util_err(err, errlen, "%s:%d:%d: %s: %s", e->file, e->line, e->col, e->key, why);
    }
    char text[1100];
    util_value_format(&v, text, sizeof text);
    free(e->value);
    e->value = dup(text);
    if (!e->value) return util_err(err, errlen, "%s:%d:%d: %s: out of memory", e->file, e->line, e->col, e->key);
    c->state[i] = 0;
    return 0;
}

static int eval_point(eval_ctx *c, char *err, size_t errlen) {
    for (size_t i = 0; i < c->p->n; i++) c->state[i] = util_expr_marked(c->p->kv[i].value);
    for (size_t i = 0; i < c->p->n; i++) {
        if (c->state[i] != 1) continue;
        if (eval_entry(c, i, err, errlen)) return -1;
    }
    return 0;
}

/* ---- the product ------------------------------------------------------------- */

static int draw_random(const sweep_spec *s, sweep_entry **out) {
    size_t n = s->random_n * s->n_dists;
    *out = calloc(n ? n : 1, sizeof **out);
    if (!*out) return -1;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!rng) return -1;
    int oom = 0;
    gsl_rng_set(rng, s->random_seed);
    for (size_t i = 0; i < s->random_n; i++)
        for (size_t j = 0; j < s->n_dists; j++) {
            const sweep_dist *d = &s->dists[j];
            char text[64];
            if (d->kind == SWEEP_CHOICE) {
                const char *c = d->choices[gsl_rng_uniform_int(rng, d->n_choices)];
                (*out)[i * s->n_dists + j].value = dup(c);
            } else {
                double u = gsl_rng_uniform(rng);
                double x = d->kind == SWEEP_UNIFORM ? d->lo + (d->hi - d->lo) * u
                                                    : exp(log(d->lo) + (log(d->hi) - log(d->lo)) * u);
                if (d->integer) snprintf(text, sizeof text, "%.0f", round(x));
                else snprintf(text, sizeof text, "%.6g", x);
                (*out)[i * s->n_dists + j].value = dup(text);
            }
            sweep_entry *e = &(*out)[i * s->n_dists + j];
            e->key = dup(d->key);
            e->file = s->path;
            e->line = d->line;
            e->col = d->col;
            oom |= !e->key || !e->value;
        }
    gsl_rng_free(rng);
    if (oom) {
        sweep_entries_free(*out, n);
        *out = NULL;
        return -1;
    }
    return 0;
}

void sweep_points_free(sweep_points *p) {
    for (size_t i = 0; i < p->n; i++) sweep_entries_free(p->v[i].kv, p->v[i].n);
    free(p->v);
    memset(p, 0, sizeof *p);
}

int sweep_expand(const sweep_spec *s, const sweep_entry *defaults, size_t n_defaults, sweep_points *out,
                 char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    /* Before anything is drawn or built: random.n samples are allocated up front. */
    if (sweep_spec_check_size(s, err, errlen)) return -1;
    size_t nf = s->n_grid + s->n_zips + (s->random_n > 0) + (s->n_seeds > 0);
    factor *f = calloc(nf ? nf : 1, sizeof *f);
    sweep_entry *random = NULL;
    if (!f || draw_random(s, &random)) {
        free(f);
        free(random);
        return util_err(err, errlen, "out of memory");
    }
    size_t k = 0;
    double total = 1;
    for (size_t i = 0; i < s->n_grid; i++) f[k++] = (factor){.len = s->grid[i].n, .sets = s->grid[i].values, .width = 1};
    for (size_t i = 0; i < s->n_zips; i++) f[k++] = (factor){.len = s->zips[i].len, .zip = &s->zips[i]};
    if (s->random_n) f[k++] = (factor){.len = s->random_n, .sets = random, .width = s->n_dists};
    if (s->n_seeds) f[k++] = (factor){.len = s->n_seeds, .sets = s->seeds, .width = 1};
    for (size_t i = 0; i < nf; i++) total *= (double)f[i].len;
    int rc = 0;
    assert(total <= SWEEP_MAX_POINTS); /* sweep_spec_check_size */
    size_t n = (size_t)total;
    out->v = calloc(n ? n : 1, sizeof *out->v);
    size_t *digit = calloc(nf ? nf : 1, sizeof *digit);
    unsigned char *state = NULL;
    size_t state_cap = 0;
    if (!out->v || !digit) rc = util_err(err, errlen, "out of memory");
    for (size_t idx = 0; !rc && idx < n; idx++) {
        sweep_point p = {0};
        size_t cap = 0;
        int oom = 0;
        for (size_t i = 0; i < s->n_base; i++) oom |= point_set(&p, &cap, &s->base[i]);
        for (size_t i = 0; i < nf; i++) {
            if (f[i].zip) {
                for (size_t a = 0; a < f[i].zip->n_axes; a++)
                    oom |= point_set(&p, &cap, &f[i].zip->axes[a].values[digit[i]]);
            } else {
                for (size_t w = 0; w < f[i].width; w++)
                    oom |= point_set(&p, &cap, &f[i].sets[digit[i] * f[i].width + w]);
            }
        }
        for (size_t i = 0; i < s->n_derived; i++) oom |= point_set(&p, &cap, &s->derived[i]);
        /* next combination: the last factor moves fastest */
        for (size_t i = nf; i-- > 0;) {
            if (++digit[i] < f[i].len) break;
            digit[i] = 0;
        }
        if (!oom && p.n > state_cap) {
            state_cap = cap;
            free(state);
            state = malloc(state_cap);
            if (!state) state_cap = 0, oom = 1;
        }
        if (oom) {
            sweep_entries_free(p.kv, p.n);
            rc = util_err(err, errlen, "%s: expanding point %zu: out of memory", s->path, idx + 1);
            break;
        }
        eval_ctx c = {.p = &p, .state = state, .defaults = defaults, .n_defaults = n_defaults};
        rc = eval_point(&c, err, errlen);
        int keep = 1;
        for (size_t i = 0; !rc && keep && i < s->n_constraints; i++) {
            const sweep_entry *e = &s->constraints[i];
            util_value v;
            char why[768];
            if (p.n) memset(state, 0, p.n); /* every value is evaluated by now */
            if (util_expr_eval(e->value, lookup, &c, &v, NULL, why, sizeof why))
                rc = util_err(err, errlen, "%s:%d:%d: %s: %s", e->file, e->line, e->col, e->key, why);
            else
                keep = v.is_str ? v.len > 0 : v.num != 0;
        }
        if (!rc && keep) {
            out->v[out->n++] = p;
        } else {
            out->n_filtered += !rc;
            sweep_entries_free(p.kv, p.n);
        }
    }
    free(state);
    free(digit);
    free(f);
    sweep_entries_free(random, s->random_n * s->n_dists);
    if (rc) sweep_points_free(out);
    return rc;
}
