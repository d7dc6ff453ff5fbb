/* sweep/family: a family YAML (format in sweep/sweep.h) -> the concrete run configs it allows,
 * with their FLOP accounting. The lists are parsed here (libyaml) and expanded by sweep_expand
 * as the grid of a spec, so a family expands exactly as a sweep over the same lists would. */
#include "sweep/sweep.h"

#include <assert.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "model/config.h"
#include "model/flops.h"
#include "util/util.h"

enum { MAX_KEYS = 32 };

static const char *scalar(yaml_node_t *n) {
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* "d_model" -> "model.d_model" when the run config has that key, else "train.<key>"; dotted as
 * is. 0 when the result is a run-config key. */
static int full_key(const char *key, char *out, size_t outlen) {
    char probe[1100];
    model_config c;
    model_config_default(&c);
    if (strchr(key, '.')) snprintf(out, outlen, "%s", key);
    else {
        snprintf(out, outlen, "model.%s", key);
        if (model_config_get(&c, out, probe, sizeof probe)) snprintf(out, outlen, "train.%s", key);
    }
    return model_config_get(&c, out, probe, sizeof probe);
}

static void axes_free(sweep_axis *a, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(a[i].key);
        sweep_entries_free(a[i].values, a[i].n);
    }
    free(a);
}

/* The file's lists as grid axes, and its base (flattened) when it names one. */
static int parse_family(const char *path, sweep_axis **axes, size_t *n_axes, sweep_entry **base, size_t *n_base,
                        char *err, size_t errlen) {
    *axes = NULL, *n_axes = 0, *base = NULL, *n_base = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return util_err(err, errlen, "%s: cannot open", path);
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        util_err(err, errlen, "%s:%zu: %s", path, parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "invalid YAML");
        yaml_parser_delete(&parser);
        fclose(f);
        return -1;
    }
    int rc = -1;
    sweep_axis *ax = calloc(MAX_KEYS, sizeof *ax);
    size_t nk = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!ax) { util_err(err, errlen, "out of memory"); goto out; }
    if (!root || root->type != YAML_MAPPING_NODE) {
        util_err(err, errlen, "%s:1: expected a mapping of keys to lists of allowed values", path);
        goto out;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(&doc, p->key), *vn = yaml_document_get_node(&doc, p->value);
        const char *key = scalar(kn);
        size_t line = kn ? kn->start_mark.line + 1 : 0;
        if (!key) { util_err(err, errlen, "%s:%zu: keys must be plain names", path, line); goto out; }
        if (!strcmp(key, "base")) {
            const char *b = scalar(vn);
            if (!b || *base) { util_err(err, errlen, "%s:%zu: base: expected one file name", path, line); goto out; }
            char dir[4096], bp[8192];
            snprintf(dir, sizeof dir, "%s", path);
            snprintf(bp, sizeof bp, "%s/%s", dirname(dir), b);
            FILE *t = b[0] == '/' ? NULL : fopen(bp, "rb");
            if (t) fclose(t);
            if (sweep_yaml_flatten_file(t ? bp : b, base, n_base, err, errlen)) goto out;
            /* the entries borrow their file's name; the family's path outlives them */
            for (size_t i = 0; i < *n_base; i++) (*base)[i].file = path;
            continue;
        }
        if (nk == MAX_KEYS) { util_err(err, errlen, "%s:%zu: more than %d keys", path, line, MAX_KEYS); goto out; }
        char full[256];
        if (full_key(key, full, sizeof full)) {
            util_err(err, errlen, "%s:%zu: '%s' is not a run-config key (model.* or train.*)", path, line, key);
            goto out;
        }
        for (size_t i = 0; i < nk; i++)
            if (!strcmp(ax[i].key, full)) {
                util_err(err, errlen, "%s:%zu: %s is listed twice", path, line, full);
                goto out;
            }
        sweep_axis *a = &ax[nk];
        size_t cap = vn && vn->type == YAML_SEQUENCE_NODE ? (size_t)(vn->data.sequence.items.top - vn->data.sequence.items.start) : 1;
        if (!(a->key = strdup(full)) || !(a->values = calloc(cap ? cap : 1, sizeof *a->values))) {
            util_err(err, errlen, "out of memory");
            nk++;
            goto out;
        }
        nk++;
        yaml_node_t *single[1] = {vn};
        for (size_t i = 0; i < cap; i++) {
            yaml_node_t *it = vn && vn->type == YAML_SEQUENCE_NODE
                                  ? yaml_document_get_node(&doc, vn->data.sequence.items.start[i])
                                  : single[0];
            const char *v = scalar(it);
            if (!v || !*v) {
                util_err(err, errlen, "%s:%zu: %s: expected a value or a non-empty list of plain values", path, line, key);
                goto out;
            }
            sweep_entry *e = &a->values[a->n++];
            e->key = strdup(full);
            e->value = strdup(v);
            e->file = path;
            e->line = (int)it->start_mark.line + 1, e->col = (int)it->start_mark.column + 1;
            if (!e->key || !e->value) { util_err(err, errlen, "out of memory"); goto out; }
        }
        if (!a->n) { util_err(err, errlen, "%s:%zu: %s: expected a value or a non-empty list", path, line, key); goto out; }
    }
    *axes = ax, *n_axes = nk;
    ax = NULL;
    rc = 0;
out:
    if (ax) axes_free(ax, nk);
    if (rc) {
        sweep_entries_free(*base, *n_base);
        *base = NULL, *n_base = 0;
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

void sweep_family_free(sweep_family *f) {
    for (size_t i = 0; i < f->n; i++) {
        for (size_t k = 0; f->members[i].values && k < f->n_keys; k++) free(f->members[i].values[k]);
        free(f->members[i].values);
    }
    for (size_t k = 0; k < f->n_keys; k++) free(f->keys[k]);
    free(f->keys);
    free(f->members);
    free(f->configs);
    free(f->path);
    memset(f, 0, sizeof *f);
}

typedef struct hashed {
    char hash[17];
    size_t i;
} hashed;

static int by_hash(const void *a, const void *b) {
    const hashed *x = a, *y = b;
    int c = strcmp(x->hash, y->hash);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

int sweep_family_load(const char *path, sweep_family *f, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    sweep_axis *axes = NULL;
    sweep_entry *base = NULL;
    size_t n_axes = 0, n_base = 0;
    sweep_points pts = {0};
    hashed *h = NULL;
    unsigned char *keep = NULL;
    model_config *cfg = NULL;
    char first_why[512] = "";
    int rc = -1;
    if (!(f->path = strdup(path))) return util_err(err, errlen, "out of memory");
    if (parse_family(f->path, &axes, &n_axes, &base, &n_base, err, errlen)) goto out;
    double total = 1;
    for (size_t i = 0; i < n_axes; i++) total *= (double)axes[i].n;
    if (total > SWEEP_FAMILY_MAX_MEMBERS) {
        util_err(err, errlen, "%s: more than %d combinations; narrow the lists", path, SWEEP_FAMILY_MAX_MEMBERS);
        goto out;
    }
    sweep_spec spec = {.path = f->path, .base = base, .n_base = n_base, .grid = axes, .n_grid = n_axes,
                       .max_tokens = INFINITY};
    if (sweep_expand(&spec, NULL, 0, &pts, err, errlen)) goto out;
    f->n_combinations = pts.n;
    if (!(f->keys = calloc(n_axes ? n_axes : 1, sizeof *f->keys))) goto oom;
    for (size_t k = 0; k < n_axes; k++, f->n_keys++)
        if (!(f->keys[k] = strdup(axes[k].key))) goto oom;
    cfg = malloc((pts.n ? pts.n : 1) * sizeof *cfg);
    h = malloc((pts.n ? pts.n : 1) * sizeof *h);
    keep = calloc(pts.n ? pts.n : 1, 1);
    if (!cfg || !h || !keep) goto oom;
    size_t nv = 0;
    for (size_t m = 0; m < pts.n; m++) {
        const sweep_point *p = &pts.v[m];
        model_config c;
        model_config_default(&c);
        for (size_t i = 0; i < p->n; i++) {
            char why[512];
            if (model_config_set(&c, p->kv[i].key, p->kv[i].value, why, sizeof why)) {
                util_err(err, errlen, "%s:%d: %s: %s", p->kv[i].file, p->kv[i].line, p->kv[i].key, why);
                goto out;
            }
        }
        char why[512];
        if (model_config_resolve(&c, why, sizeof why)) {
            if (!f->n_invalid++) snprintf(first_why, sizeof first_why, "%s", why);
            continue;
        }
        cfg[m] = c;
        model_config_hash(&c, h[nv].hash);
        h[nv++].i = m;
    }
    /* one member per distinct config, the first combination that gives it */
    qsort(h, nv, sizeof *h, by_hash);
    for (size_t j = 0; j < nv; j++) {
        if (j && !strcmp(h[j].hash, h[j - 1].hash)) f->n_duplicates++;
        else keep[h[j].i] = 1;
    }
    size_t n_keep = nv - f->n_duplicates;
    if (!n_keep) {
        util_err(err, errlen, "%s: none of the %zu combinations is a valid run config%s%s", path, pts.n,
                 *first_why ? " (the first: " : "", *first_why ? first_why : "");
        if (*first_why) snprintf(err + strlen(err), errlen - strlen(err), ")");
        goto out;
    }
    f->configs = malloc(n_keep * sizeof *f->configs);
    f->members = calloc(n_keep, sizeof *f->members);
    if (!f->configs || !f->members) goto oom;
    for (size_t m = 0; m < pts.n; m++) {
        if (!keep[m]) continue;
        assert(f->n < n_keep); /* keep[] marks n_keep points: members has room for exactly those */
        sweep_family_member *mb = &f->members[f->n];
        model_flops fl;
        f->configs[f->n] = cfg[m];
        f->n++;
        model_flops_compute(&cfg[m], &fl);
        mb->acc = fl.acc;
        mb->tokens = mb->training_flops = NAN; /* a shape's, not a run's: the budget decides them */
        if (!(mb->values = calloc(f->n_keys ? f->n_keys : 1, sizeof *mb->values))) goto oom;
        for (size_t k = 0; k < f->n_keys; k++) {
            const char *v = sweep_point_get(&pts.v[m], f->keys[k]);
            if (!(mb->values[k] = strdup(v ? v : ""))) goto oom;
        }
    }
    rc = 0;
    goto out;
oom:
    util_err(err, errlen, "out of memory");
out:
    if (rc) sweep_family_free(f);
    sweep_points_free(&pts);
    axes_free(axes, n_axes);
    sweep_entries_free(base, n_base);
    free(cfg);
    free(h);
    free(keep);
    return rc;
}

double sweep_family_value(const sweep_family_member *m, const char *name) {
    for (int k = 0; k < UTIL_ACCOUNTING_N; k++)
        if (!strcasecmp(name, util_accounting_names[k])) return util_accounting_get(&m->acc, k);
    return NAN;
}

int sweep_family_key_varies(const sweep_family *f, size_t k) {
    for (size_t i = 1; i < f->n; i++)
        if (strcmp(f->members[i].values[k], f->members[0].values[k])) return 1;
    return 0;
}

static int number(const char *s, double *v) {
    char *end;
    *v = strtod(s, &end);
    return *s && !*end;
}

int sweep_family_edge(const sweep_family *f, size_t i, size_t k) {
    double lo = INFINITY, hi = -INFINITY, v, x;
    if (!sweep_family_key_varies(f, k) || !number(f->members[i].values[k], &x)) return 0;
    for (size_t j = 0; j < f->n; j++) {
        if (!number(f->members[j].values[k], &v)) return 0;
        lo = fmin(lo, v), hi = fmax(hi, v);
    }
    return x == lo ? -1 : x == hi ? 1 : 0;
}

int sweep_family_key_is_state(const char *key) {
    static const char *const state[] = {"model.mixer", "model.p", "model.window", "model.head_dim", "model.n_head",
                                        "model.n_kv_head", "model.chunk", "train.context"};
    for (size_t i = 0; i < sizeof state / sizeof *state; i++)
        if (!strcmp(key, state[i])) return 1;
    return 0;
}
