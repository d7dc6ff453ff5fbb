/* sweep/spec: reads a sweep spec (format in sweep.h) with libyaml's document
 * API, keeping each value's line and column so that every later error (an
 * unknown config key, a division by zero in a derived value) can point at it. */
#include "sweep/sweep.h"

#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "util/util.h"

/* Limits that keep a hostile or mistaken spec from exhausting the stack or the
 * memory before anything is checked: mappings nest at most SPEC_MAX_DEPTH deep
 * (an alias that holds itself hits this at once), and at most SPEC_MAX_NODES
 * keys and list items are visited in all, counting every expansion of an alias
 * (so a "billion laughs" stops after that many). */
enum { SPEC_MAX_DEPTH = 32, SPEC_MAX_NODES = 100000 };

typedef struct reader {
    yaml_document_t doc;
    const char *file;
    char *err;
    size_t errlen;
    size_t visits; /* keys and list items seen so far, aliases expanded */
} reader;

static int at_err(reader *r, const yaml_node_t *n, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int at_err(reader *r, const yaml_node_t *n, const char *key, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return util_err(r->err, r->errlen, "%s:%zu:%zu: %s: %s", r->file, n->start_mark.line + 1,
                    n->start_mark.column + 1, key, msg);
}

static yaml_node_t *node(reader *r, int id) { return yaml_document_get_node(&r->doc, id); }

static const char *scalar(const yaml_node_t *n) {
    return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int number(reader *r, const yaml_node_t *n, const char *key, double *out) {
    const char *s = scalar(n);
    char *end;
    errno = 0;
    double x = s ? strtod(s, &end) : 0;
    if (!s || end == s || *end || errno || !isfinite(x))
        return at_err(r, n, key, "expected a number, got %s", s ? s : "a list or mapping");
    *out = x;
    return 0;
}

static int count(reader *r, const yaml_node_t *n, const char *key, double lo, double *out) {
    if (number(r, n, key, out)) return -1;
    if (*out != floor(*out) || *out < lo || *out > 1e9)
        return at_err(r, n, key, "expected a whole number >= %g, got %s", lo, scalar(n));
    return 0;
}

/* Out of memory (util.h's policy): the reader's err says so and the call returns -1; what
 * was already attached to the spec stays attached, so sweep_spec_free releases it. */
static int oom(reader *r) { return util_err(r->err, r->errlen, "%s: out of memory", r->file); }

/* A copy of s ("" for NULL), or NULL when out of memory. */
static char *copy(const char *s) { return strdup(s ? s : ""); }

/* Counts one visited key or list item against SPEC_MAX_NODES. */
static int visit(reader *r, const yaml_node_t *n, const char *key) {
    if (++r->visits <= SPEC_MAX_NODES) return 0;
    return at_err(r, n, key, "the spec is too large: more than %d keys and list items (aliases expanded)",
                  SPEC_MAX_NODES);
}

static int too_deep(reader *r, const yaml_node_t *n, const char *key) {
    return at_err(r, n, key, "mappings nested more than %d deep (an alias that contains itself?)", SPEC_MAX_DEPTH);
}

/* Room for element n of an array grown only here, one element at a time: the
 * capacity doubles at each power of two, so n appends cost O(n), not O(n^2)
 * (100,000 seeds took seconds, and timed out under ASan's copying realloc). */
static void *grow(void *v, size_t n, size_t size) {
    if (n & (n - 1)) return v; /* n is not 0 or a power of two: below the capacity */
    return realloc(v, (n ? 2 * n : 1) * size);
}
/* arr gets room for element n, or the function returns -1 (out of memory) with arr as it was. */
#define GROW(r, arr, n)                                          \
    do {                                                         \
        void *grown_ = grow((arr), (n), sizeof *(arr));          \
        if (!grown_) return oom(r);                              \
        (arr) = grown_;                                          \
    } while (0)

static int entry_set(reader *r, sweep_entry *e, const char *key, const char *value, const yaml_node_t *n) {
    e->file = r->file;
    e->line = (int)n->start_mark.line + 1;
    e->col = (int)n->start_mark.column + 1;
    e->key = copy(key);
    e->value = copy(value);
    return e->key && e->value ? 0 : oom(r);
}

/* Mapping keys must be scalars; nested mappings become dotted keys. */
static int flatten(reader *r, const yaml_node_t *map, const char *prefix, int depth, sweep_entry **out,
                   size_t *n) {
    if (depth > SPEC_MAX_DEPTH) return too_deep(r, map, prefix[0] ? prefix : "(top)");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(r, p->key), *v = node(r, p->value);
        if (visit(r, k, prefix[0] ? prefix : "(top)")) return -1;
        if (!scalar(k)) return at_err(r, k, prefix[0] ? prefix : "(top)", "keys must be plain names");
        char key[512];
        if (snprintf(key, sizeof key, "%s%s%s", prefix, prefix[0] ? "." : "", scalar(k)) >= (int)sizeof key)
            return at_err(r, k, prefix[0] ? prefix : "(top)", "key longer than %zu characters", sizeof key - 1);
        if (v->type == YAML_MAPPING_NODE) {
            if (flatten(r, v, key, depth + 1, out, n)) return -1;
        } else if (v->type == YAML_SEQUENCE_NODE) {
            return at_err(r, v, key, "expected a single value, got a list");
        } else {
            GROW(r, *out, *n);
            memset(&(*out)[*n], 0, sizeof **out);
            if (entry_set(r, &(*out)[(*n)++], key, scalar(v), v)) return -1;
        }
    }
    return 0;
}

/* A list of scalars for key. */
static int values(reader *r, const yaml_node_t *seq, const char *key, sweep_axis *ax) {
    if (seq->type != YAML_SEQUENCE_NODE)
        return at_err(r, seq, key, "expected a list of values, e.g. [1, 2]");
    if (!(ax->key = copy(key))) return oom(r);
    for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top; i++) {
        yaml_node_t *v = node(r, *i);
        if (visit(r, v, key)) return -1;
        if (!scalar(v)) return at_err(r, v, key, "list items must be single values");
        GROW(r, ax->values, ax->n);
        memset(&ax->values[ax->n], 0, sizeof *ax->values);
        if (entry_set(r, &ax->values[ax->n++], key, scalar(v), v)) return -1;
    }
    if (ax->n == 0) return at_err(r, seq, key, "empty list: nothing to sweep over");
    return 0;
}

/* A mapping of keys (nested or dotted) to lists. */
static int axes(reader *r, const yaml_node_t *map, const char *prefix, int depth, sweep_axis **out, size_t *n) {
    if (map->type != YAML_MAPPING_NODE)
        return at_err(r, map, prefix, "expected a mapping of dotted keys to lists");
    if (depth > SPEC_MAX_DEPTH) return too_deep(r, map, prefix);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(r, p->key), *v = node(r, p->value);
        if (visit(r, k, prefix)) return -1;
        if (!scalar(k)) return at_err(r, k, prefix, "keys must be plain names");
        char key[512];
        const char *dot = strchr(prefix, '.');
        char full[600];
        if (snprintf(key, sizeof key, "%s%s%s", dot ? dot + 1 : "", dot ? "." : "", scalar(k)) >= (int)sizeof key ||
            snprintf(full, sizeof full, "%s.%s", prefix, scalar(k)) >= (int)sizeof full)
            return at_err(r, k, prefix, "key longer than %zu characters", sizeof key - 1);
        if (v->type == YAML_MAPPING_NODE) {
            if (axes(r, v, full, depth + 1, out, n)) return -1;
            continue;
        }
        for (size_t i = 0; i < *n; i++)
            if (!strcmp((*out)[i].key, key)) return at_err(r, k, full, "key given twice");
        GROW(r, *out, *n);
        memset(&(*out)[*n], 0, sizeof **out);
        if (values(r, v, key, &(*out)[(*n)++])) return -1;
    }
    if (*n == 0) return at_err(r, map, prefix, "empty: give at least one key with a list of values");
    return 0;
}

/* One zip group: a mapping of keys to equal-length lists. */
static int zip_group(reader *r, const yaml_node_t *g, sweep_spec *s) {
    GROW(r, s->zips, s->n_zips);
    sweep_zip *z = &s->zips[s->n_zips++];
    memset(z, 0, sizeof *z);
    z->line = (int)g->start_mark.line + 1;
    z->col = (int)g->start_mark.column + 1;
    if (axes(r, g, "zip", 0, &z->axes, &z->n_axes)) return -1;
    z->len = z->axes[0].n;
    for (size_t a = 1; a < z->n_axes; a++)
        if (z->axes[a].n != z->len)
            return at_err(r, g, "zip", "lists must have equal lengths: %s has %zu, %s has %zu",
                          z->axes[0].key, z->len, z->axes[a].key, z->axes[a].n);
    return 0;
}

static int parse_zip(reader *r, const yaml_node_t *n, sweep_spec *s) {
    if (n->type == YAML_MAPPING_NODE) return zip_group(r, n, s);
    if (n->type != YAML_SEQUENCE_NODE)
        return at_err(r, n, "zip", "expected a mapping of keys to equal-length lists, or a list of them");
    /* Every group is kept, however many (the point count limit bounds them). */
    for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
        yaml_node_t *g = node(r, *i);
        if (visit(r, g, "zip") || zip_group(r, g, s)) return -1;
    }
    return 0;
}

static int parse_dist(reader *r, const char *key, const yaml_node_t *n, sweep_dist *d) {
    if (!(d->key = copy(key))) return oom(r);
    d->line = (int)n->start_mark.line + 1;
    d->col = (int)n->start_mark.column + 1;
    if (n->type != YAML_MAPPING_NODE)
        return at_err(r, n, key, "expected {uniform: [lo, hi]}, {log_uniform: [lo, hi]} or {choice: [...]}");
    int kinds = 0;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(r, p->key), *v = node(r, p->value);
        const char *name = scalar(k) ? scalar(k) : "";
        if (!strcmp(name, "integer")) {
            const char *b = scalar(v);
            if (!b || (strcmp(b, "true") && strcmp(b, "false")))
                return at_err(r, v, key, "integer: expected true or false");
            d->integer = !strcmp(b, "true");
        } else if (!strcmp(name, "choice")) {
            sweep_axis ax = {0};
            int rc = values(r, v, key, &ax);
            d->kind = SWEEP_CHOICE;
            d->choices = calloc(ax.n ? ax.n : 1, sizeof *d->choices);
            if (d->choices) d->n_choices = ax.n;
            for (size_t i = 0; d->choices && i < ax.n; i++)
                if (!(d->choices[i] = copy(ax.values[i].value)) && !rc) rc = oom(r);
            if (!d->choices && !rc) rc = oom(r);
            sweep_entries_free(ax.values, ax.n);
            free(ax.key);
            if (rc) return -1;
            kinds++;
        } else if (!strcmp(name, "uniform") || !strcmp(name, "log_uniform")) {
            d->kind = name[0] == 'u' ? SWEEP_UNIFORM : SWEEP_LOG_UNIFORM;
            if (v->type != YAML_SEQUENCE_NODE || v->data.sequence.items.top - v->data.sequence.items.start != 2)
                return at_err(r, v, key, "%s: expected [low, high]", name);
            if (number(r, node(r, v->data.sequence.items.start[0]), key, &d->lo) ||
                number(r, node(r, v->data.sequence.items.start[1]), key, &d->hi))
                return -1;
            if (!(d->lo < d->hi)) return at_err(r, v, key, "%s: low must be below high", name);
            if (d->kind == SWEEP_LOG_UNIFORM && d->lo <= 0)
                return at_err(r, v, key, "log_uniform: bounds must be positive");
            kinds++;
        } else {
            return at_err(r, k, key, "unknown distribution '%s' (expected uniform, log_uniform, choice, integer)",
                          name);
        }
    }
    if (kinds != 1) return at_err(r, n, key, "give exactly one of uniform, log_uniform, choice");
    return 0;
}

static int parse_random(reader *r, const yaml_node_t *n, sweep_spec *s) {
    if (n->type != YAML_MAPPING_NODE) return at_err(r, n, "random", "expected a mapping with n, seed, params");
    const yaml_node_t *params = NULL;
    int have_n = 0;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(r, p->key), *v = node(r, p->value);
        const char *name = scalar(k) ? scalar(k) : "";
        double x;
        if (!strcmp(name, "n")) {
            if (count(r, v, "random.n", 1, &x)) return -1;
            if (x > SWEEP_MAX_POINTS)
                return at_err(r, v, "random.n", "more than %d samples: narrow the sweep", SWEEP_MAX_POINTS);
            s->random_n = (size_t)x;
            have_n = 1;
        } else if (!strcmp(name, "seed")) {
            if (count(r, v, "random.seed", 0, &x)) return -1;
            s->random_seed = (uint64_t)x;
        } else if (!strcmp(name, "params")) {
            params = v;
        } else {
            return at_err(r, k, "random", "unknown key '%s' (expected n, seed, params)", name);
        }
    }
    if (!have_n) return at_err(r, n, "random.n", "missing: how many samples to draw");
    if (!params || params->type != YAML_MAPPING_NODE || params->data.mapping.pairs.top == params->data.mapping.pairs.start)
        return at_err(r, params ? params : n, "random.params", "expected a non-empty mapping of keys to distributions");
    for (yaml_node_pair_t *p = params->data.mapping.pairs.start; p < params->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(r, p->key);
        if (visit(r, k, "random.params")) return -1;
        if (!scalar(k)) return at_err(r, k, "random.params", "keys must be plain names");
        GROW(r, s->dists, s->n_dists);
        memset(&s->dists[s->n_dists], 0, sizeof *s->dists);
        if (parse_dist(r, scalar(k), node(r, p->value), &s->dists[s->n_dists++])) return -1;
    }
    return 0;
}

static int parse_isoflop(reader *r, const yaml_node_t *n, sweep_spec *s) {
    if (n->type != YAML_MAPPING_NODE) return at_err(r, n, "isoflop", "expected a mapping with budgets");
    s->isoflop_line = (int)n->start_mark.line + 1;
    s->isoflop_col = (int)n->start_mark.column + 1;
    const yaml_node_t *budgets = NULL;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(r, p->key), *v = node(r, p->value);
        const char *name = scalar(k) ? scalar(k) : "";
        if (!strcmp(name, "budgets")) budgets = v;
        else if (!strcmp(name, "min_tokens")) { if (number(r, v, "isoflop.min_tokens", &s->min_tokens)) return -1; }
        else if (!strcmp(name, "max_tokens")) { if (number(r, v, "isoflop.max_tokens", &s->max_tokens)) return -1; }
        else return at_err(r, k, "isoflop", "unknown key '%s' (expected budgets, min_tokens, max_tokens)", name);
    }
    if (!budgets || budgets->type != YAML_SEQUENCE_NODE || budgets->data.sequence.items.top == budgets->data.sequence.items.start)
        return at_err(r, budgets ? budgets : n, "isoflop.budgets", "expected a non-empty list of FLOP budgets");
    if (s->min_tokens < 0 || !(s->min_tokens <= s->max_tokens))
        return at_err(r, n, "isoflop", "need 0 <= min_tokens <= max_tokens");
    for (yaml_node_item_t *i = budgets->data.sequence.items.start; i < budgets->data.sequence.items.top; i++) {
        yaml_node_t *v = node(r, *i);
        if (visit(r, v, "isoflop.budgets")) return -1;
        double b;
        if (number(r, v, "isoflop.budgets", &b)) return -1;
        if (b <= 0) return at_err(r, v, "isoflop.budgets", "budgets must be positive");
        GROW(r, s->budgets, s->n_budgets);
        GROW(r, s->budget_line, s->n_budgets);
        GROW(r, s->budget_col, s->n_budgets);
        s->budget_line[s->n_budgets] = (int)v->start_mark.line + 1;
        s->budget_col[s->n_budgets] = (int)v->start_mark.column + 1;
        s->budgets[s->n_budgets++] = b;
    }
    return 0;
}

/* The slurm: section: each value checked by sweep_slurm_check, errors at its line. */
static int parse_slurm(reader *r, const yaml_node_t *n, sweep_spec *s) {
    if (n->type != YAML_MAPPING_NODE) return at_err(r, n, "slurm", "expected a mapping (account:, qos:, mem:, ...)");
    sweep_slurm_spec *sl = s->slurm;
    if (!sl) {
        sl = s->slurm = calloc(1, sizeof *sl);
        if (!sl) return oom(r);
        sl->cpus_per_task = sl->signal_s = sl->runs_per_task = -1;
    }
    static const char *const strings[] = {"account", "qos", "partition", "time", "mem", "constraint", "gres"};
    char **string_of[] = {&sl->account, &sl->qos, &sl->partition, &sl->time, &sl->mem, &sl->constraint, &sl->gres};
    static const char *const ints[] = {"cpus_per_task", "signal", "runs_per_task"};
    int *int_of[] = {&sl->cpus_per_task, &sl->signal_s, &sl->runs_per_task};
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(r, p->key), *v = node(r, p->value);
        const char *name = scalar(k) ? scalar(k) : "";
        char key[64], why[512];
        snprintf(key, sizeof key, "slurm.%.50s", name);
        if (visit(r, k, "slurm")) return -1;
        int known = 0;
        for (size_t i = 0; i < sizeof strings / sizeof *strings; i++)
            if (!strcmp(name, strings[i])) {
                known = 1;
                if (!scalar(v)) return at_err(r, v, key, "expected a single value");
                if (sweep_slurm_check(name, scalar(v), why, sizeof why)) return at_err(r, v, key, "%s", why);
                free(*string_of[i]);
                if (!(*string_of[i] = copy(scalar(v)))) return oom(r);
            }
        for (size_t i = 0; i < sizeof ints / sizeof *ints; i++)
            if (!strcmp(name, ints[i])) {
                known = 1;
                if (!scalar(v)) return at_err(r, v, key, "expected a single value");
                if (sweep_slurm_check(name, scalar(v), why, sizeof why)) return at_err(r, v, key, "%s", why);
                *int_of[i] = atoi(scalar(v));
            }
        if (!strcmp(name, "extra")) {
            known = 1;
            if (v->type != YAML_SEQUENCE_NODE)
                return at_err(r, v, key, "expected a list of sbatch options, e.g. [\"--exclusive\"]");
            for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
                yaml_node_t *e = node(r, *i);
                if (visit(r, e, key)) return -1;
                if (!scalar(e)) return at_err(r, e, key, "list items must be single values");
                if (sweep_slurm_check("extra", scalar(e), why, sizeof why)) return at_err(r, e, key, "%s", why);
                GROW(r, sl->extra, sl->n_extra);
                if (!(sl->extra[sl->n_extra] = copy(scalar(e)))) return oom(r);
                sl->n_extra++;
            }
        }
        if (!known)
            return at_err(r, k, key, "unknown key (expected account, qos, partition, time, mem, cpus_per_task, "
                          "constraint, gres, signal, runs_per_task, extra)");
    }
    if (sl->time && sl->signal_s > 0 && sweep_slurm_time_seconds(sl->time) <= sl->signal_s)
        return at_err(r, n, "slurm.signal", "%d s before a time limit of %s leaves no time to train", sl->signal_s,
                      sl->time);
    return 0;
}

/* NULL when out of memory. */
static char *base_path_of(const char *spec_path, const char *rel) {
    if (rel[0] == '/' || !strchr(spec_path, '/')) return copy(rel);
    char *tmp = copy(spec_path);
    if (!tmp) return NULL;
    util_buf b = {0};
    util_buf_printf(&b, "%s/%s", dirname(tmp), rel);
    free(tmp);
    return b.data;
}

static int parse_top(reader *r, const yaml_node_t *root, sweep_spec *s) {
    if (!root || root->type != YAML_MAPPING_NODE)
        return util_err(r->err, r->errlen, "%s:1:1: (top): a sweep spec is a mapping with name, base, grid, ...",
                        r->file);
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(r, p->key), *v = node(r, p->value);
        const char *name = scalar(k) ? scalar(k) : "";
        double x;
        if (!strcmp(name, "name")) {
            const char *t = scalar(v);
            char why[256];
            if (!t) return at_err(r, v, "name", "expected a single value, got a list or mapping");
            if (sweep_name_check(t, why, sizeof why)) return at_err(r, v, "name", "%s", why);
            free(s->name);
            if (!(s->name = copy(t))) return oom(r);
        } else if (!strcmp(name, "base")) {
            if (scalar(v)) {
                if (!(s->base_path = base_path_of(r->file, scalar(v)))) return oom(r);
                char why[768];
                if (sweep_yaml_flatten_file(s->base_path, &s->base, &s->n_base, why, sizeof why))
                    return at_err(r, v, "base", "%s", why);
            } else if (v->type == YAML_MAPPING_NODE) {
                if (flatten(r, v, "", 0, &s->base, &s->n_base)) return -1;
            } else {
                return at_err(r, v, "base", "expected a config file path or a mapping");
            }
        } else if (!strcmp(name, "grid")) {
            if (axes(r, v, "grid", 0, &s->grid, &s->n_grid)) return -1;
        } else if (!strcmp(name, "zip")) {
            if (parse_zip(r, v, s)) return -1;
        } else if (!strcmp(name, "random")) {
            if (parse_random(r, v, s)) return -1;
        } else if (!strcmp(name, "seeds")) {
            sweep_axis ax = {0};
            int rc = 0;
            if (scalar(v)) {
                rc = count(r, v, "seeds", 1, &x);
                if (!rc && x > SWEEP_MAX_POINTS)
                    rc = at_err(r, v, "seeds", "more than %d seeds: narrow the sweep", SWEEP_MAX_POINTS);
                for (size_t i = 0; !rc && i < (size_t)x; i++) {
                    char t[32];
                    snprintf(t, sizeof t, "%zu", i);
                    void *grown = grow(ax.values, ax.n, sizeof *ax.values);
                    if (!grown) {
                        rc = oom(r);
                        break;
                    }
                    ax.values = grown;
                    memset(&ax.values[ax.n], 0, sizeof *ax.values);
                    rc = entry_set(r, &ax.values[ax.n++], "train.seed", t, v);
                }
            } else {
                rc = values(r, v, "train.seed", &ax);
            }
            free(ax.key);
            sweep_entries_free(s->seeds, s->n_seeds);
            s->seeds = ax.values;
            s->n_seeds = ax.n;
            if (rc) return -1;
        } else if (!strcmp(name, "derived")) {
            if (v->type != YAML_MAPPING_NODE) return at_err(r, v, "derived", "expected a mapping of keys to expressions");
            if (flatten(r, v, "", 0, &s->derived, &s->n_derived)) return -1;
        } else if (!strcmp(name, "constraints")) {
            if (v->type != YAML_SEQUENCE_NODE) return at_err(r, v, "constraints", "expected a list of expressions");
            for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
                yaml_node_t *c = node(r, *i);
                if (visit(r, c, "constraints")) return -1;
                char key[32];
                snprintf(key, sizeof key, "constraints[%zu]", s->n_constraints);
                if (!scalar(c)) return at_err(r, c, key, "expected an expression");
                GROW(r, s->constraints, s->n_constraints);
                memset(&s->constraints[s->n_constraints], 0, sizeof *s->constraints);
                if (entry_set(r, &s->constraints[s->n_constraints++], key, scalar(c), c)) return -1;
            }
        } else if (!strcmp(name, "isoflop")) {
            if (parse_isoflop(r, v, s)) return -1;
        } else if (!strcmp(name, "slurm")) {
            if (parse_slurm(r, v, s)) return -1;
        } else if (!strcmp(name, "retries")) {
            if (count(r, v, "retries", 0, &x)) return -1;
            s->retries = (int)x;
        } else {
            return at_err(r, k, name[0] ? name : "(key)",
                          "unknown key (expected name, base, grid, zip, random, seeds, derived, constraints, "
                          "isoflop, retries, slurm)");
        }
    }
    if (!s->name) return util_err(r->err, r->errlen, "%s:1:1: name: missing: every sweep needs a name", r->file);
    return 0;
}

/* Loads the single document of text into r->doc; syntax errors carry their position. */
static int load_doc(reader *r, const char *text, size_t len) {
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return util_err(r->err, r->errlen, "%s: out of memory", r->file);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int ok = yaml_parser_load(&parser, &r->doc);
    if (ok) {
        /* A second document would be silently ignored: refuse it. */
        yaml_document_t extra;
        if (!yaml_parser_load(&parser, &extra)) {
            ok = 0;
        } else {
            if (yaml_document_get_root_node(&extra)) {
                util_err(r->err, r->errlen, "%s:%zu:%zu: (top): more than one YAML document (a second '---'); "
                         "give one spec per file", r->file, extra.start_mark.line + 1, extra.start_mark.column + 1);
                yaml_document_delete(&extra);
                yaml_document_delete(&r->doc);
                yaml_parser_delete(&parser);
                return -1;
            }
            yaml_document_delete(&extra);
        }
        if (!ok) yaml_document_delete(&r->doc);
    }
    if (!ok) {
        util_err(r->err, r->errlen, "%s:%zu:%zu: YAML syntax error: %s%s%s", r->file, parser.problem_mark.line + 1,
                 parser.problem_mark.column + 1, parser.problem ? parser.problem : "unknown",
                 parser.context ? " " : "", parser.context ? parser.context : "");
    }
    yaml_parser_delete(&parser);
    return ok ? 0 : -1;
}

/* Reads a spec or base file: a regular file of at most SWEEP_MAX_FILE_BYTES (a
 * device such as /dev/zero, a FIFO or a huge file is refused before it is read). */
static int read_text(const char *path, char **text, size_t *len, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return util_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return util_err(err, errlen, "%s: not a regular file", path);
    }
    if (st.st_size > SWEEP_MAX_FILE_BYTES) {
        close(fd);
        return util_err(err, errlen, "%s: %lld bytes, larger than the %d-byte limit of a spec or config", path,
                        (long long)st.st_size, SWEEP_MAX_FILE_BYTES);
    }
    size_t cap = (size_t)st.st_size, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        return util_err(err, errlen, "%s: out of memory", path);
    }
    for (;;) { /* the file may have changed size since fstat: never read past cap */
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            int e = errno;
            close(fd);
            free(buf);
            return util_err(err, errlen, "%s: read error: %s", path, strerror(e));
        }
        if (got == 0 || (n += (size_t)got) == cap) break;
    }
    close(fd);
    buf[n] = 0;
    *text = buf;
    *len = n;
    return 0;
}

int sweep_yaml_flatten_file(const char *path, sweep_entry **out, size_t *n, char *err, size_t errlen) {
    char *text;
    size_t len;
    if (read_text(path, &text, &len, err, errlen)) return -1;
    /* Entries point at their file's name, so it must outlive them: the base path
     * string of the spec does (sweep_spec_free frees it after the entries). */
    reader r = {.file = path, .err = err, .errlen = errlen};
    int rc = load_doc(&r, text, len);
    if (!rc) {
        yaml_node_t *root = yaml_document_get_root_node(&r.doc);
        if (!root || root->type != YAML_MAPPING_NODE)
            rc = util_err(err, errlen, "%s:1:1: expected a mapping (model:, train:, data:)", path);
        else
            rc = flatten(&r, root, "", 0, out, n);
        yaml_document_delete(&r.doc);
    }
    free(text);
    return rc;
}

int sweep_spec_parse(const char *path, const char *text, size_t len, sweep_spec *s, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    s->path = copy(path);
    s->text = malloc(len + 1);
    if (!s->path || !s->text) {
        sweep_spec_free(s);
        return util_err(err, errlen, "%s: out of memory", path ? path : "sweep spec");
    }
    memcpy(s->text, text, len);
    s->text[len] = 0;
    s->retries = 1;
    s->max_tokens = INFINITY;
    reader r = {.file = s->path, .err = err, .errlen = errlen};
    if (load_doc(&r, text, len)) {
        sweep_spec_free(s);
        return -1;
    }
    int rc = parse_top(&r, yaml_document_get_root_node(&r.doc), s);
    yaml_document_delete(&r.doc);
    if (!rc && s->isoflop_line) {
        for (size_t i = 0; i < s->n_grid; i++)
            if (!strcmp(s->grid[i].key, "train.tokens"))
                rc = util_err(err, errlen, "%s:%d:%d: grid.train.tokens: isoflop derives train.tokens; do not sweep it",
                              s->path, s->grid[i].values[0].line, s->grid[i].values[0].col);
    }
    if (!rc) rc = sweep_spec_check_size(s, err, errlen);
    if (rc) sweep_spec_free(s);
    return rc;
}

int sweep_spec_load(const char *path, sweep_spec *spec, char *err, size_t errlen) {
    char *text;
    size_t len;
    if (read_text(path, &text, &len, err, errlen)) return -1;
    int rc = sweep_spec_parse(path, text, len, spec, err, errlen);
    free(text);
    return rc;
}

int sweep_name_check(const char *name, char *err, size_t errlen) {
    size_t n = strlen(name);
    if (n == 0) return util_err(err, errlen, "empty: every sweep needs a name");
    if (n > SWEEP_MAX_NAME)
        return util_err(err, errlen, "%zu characters, longer than %d (names use [A-Za-z0-9._-], at most %d)", n,
                        SWEEP_MAX_NAME, SWEEP_MAX_NAME);
    if (name[0] == '.') return util_err(err, errlen, "'%s': a name must not start with '.' (names use [A-Za-z0-9._-])",
                                        name);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return util_err(err, errlen, "character %zu (byte 0x%02x) is not allowed: names use only [A-Za-z0-9._-], "
                            "do not start with '.', and have at most %d characters", i + 1, c, SWEEP_MAX_NAME);
    }
    return 0;
}

void sweep_entries_free(sweep_entry *e, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(e[i].key);
        free(e[i].value);
    }
    free(e);
}

static void axes_free(sweep_axis *a, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(a[i].key);
        sweep_entries_free(a[i].values, a[i].n);
    }
    free(a);
}

void sweep_spec_free(sweep_spec *s) {
    sweep_entries_free(s->base, s->n_base);
    axes_free(s->grid, s->n_grid);
    for (size_t i = 0; i < s->n_zips; i++) axes_free(s->zips[i].axes, s->zips[i].n_axes);
    free(s->zips);
    for (size_t i = 0; i < s->n_dists; i++) {
        free(s->dists[i].key);
        for (size_t j = 0; j < s->dists[i].n_choices; j++) free(s->dists[i].choices[j]);
        free(s->dists[i].choices);
    }
    free(s->dists);
    sweep_entries_free(s->seeds, s->n_seeds);
    sweep_entries_free(s->derived, s->n_derived);
    sweep_entries_free(s->constraints, s->n_constraints);
    free(s->budgets);
    free(s->budget_line);
    free(s->budget_col);
    free(s->path);
    free(s->name);
    free(s->text);
    free(s->base_path);
    if (s->slurm) sweep_slurm_spec_free(s->slurm);
    free(s->slurm);
    memset(s, 0, sizeof *s);
}

/* ---- size ---- (here, not in expand.c: the parser checks it at plan time, and expand.c
 * builds on the parsed spec, so the two files depend one way) */

/* The first list that multiplies (grid, else zip, else seeds), for errors. */
static const sweep_entry *first_factor(const sweep_spec *s) {
    return s->n_grid ? &s->grid[0].values[0] : s->n_zips ? &s->zips[0].axes[0].values[0]
           : s->n_seeds ? &s->seeds[0] : NULL;
}

int sweep_spec_check_size(const sweep_spec *s, char *err, size_t errlen) {
    double total = 1;
    for (size_t i = 0; i < s->n_grid; i++) total *= (double)s->grid[i].n;
    for (size_t i = 0; i < s->n_zips; i++) total *= (double)s->zips[i].len;
    if (s->random_n) total *= (double)s->random_n;
    if (s->n_seeds) total *= (double)s->n_seeds;
    if (s->n_budgets) total *= (double)s->n_budgets;
    /* Each point holds a copy of every base, swept and derived value: bound the sum too. */
    double per_point = (double)s->n_base + s->n_grid + s->n_dists + (s->n_seeds > 0) + s->n_derived;
    for (size_t i = 0; i < s->n_zips; i++) per_point += (double)s->zips[i].n_axes;
    double values = total / (s->n_budgets ? (double)s->n_budgets : 1) * per_point;
    if (total <= SWEEP_MAX_POINTS && values <= SWEEP_MAX_VALUES) return 0;
    const sweep_entry *at = first_factor(s);
    const char *file = at ? at->file : s->path, *key = at ? at->key : s->random_n ? "random.n" : "grid";
    int line = at ? at->line : s->random_n ? s->dists[0].line : 1, col = at ? at->col : s->random_n ? s->dists[0].col : 1;
    if (total > SWEEP_MAX_POINTS)
        return util_err(err, errlen, "%s:%d:%d: %s: the spec expands to %.0f runs (more than %d): narrow the grid",
                        file, line, col, key, total, SWEEP_MAX_POINTS);
    return util_err(err, errlen, "%s:%d:%d: %s: the spec expands to %.0f points of %.0f values each, %.0f values "
                    "in all (more than %d): narrow the grid or shorten the base and derived values", file, line, col,
                    key, total / (s->n_budgets ? (double)s->n_budgets : 1), per_point, values, SWEEP_MAX_VALUES);
}
