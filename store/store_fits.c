/* store: fits (insert, get, list) and reading the JSON the store holds with SQLite's own
 * JSON functions (json_each, json_tree, json_extract), so no caller parses JSON by hand: a
 * stored fit's inputs come back as numbers and strings (store_fit_inputs_read). */
#include "store/store_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* ----------------------------------------------------------------- fits */

typedef struct fit_ctx {
    const store_fit *fit;
    int64_t id;
} fit_ctx;

static int put_fit_body(store *s, void *vctx, char *err, size_t errlen) {
    fit_ctx *c = vctx;
    const store_fit *f = c->fit;
    sqlite3_stmt *st;
    if (store_prepare(s,
                      "INSERT INTO fits (created, form, source, inputs_json, params_json, intervals_json,"
                      " residuals_json, objective, rmse_log, n_points, verdict, diagnostics_json)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) RETURNING id",
                      &st, err, errlen))
        return -1;
    sqlite3_bind_double(st, 1, util_now());
    store_bind_text(st, 2, f->form);
    sqlite3_bind_text(st, 3, f->source ? f->source : "", -1, SQLITE_STATIC);
    store_bind_text(st, 4, f->inputs_json);
    store_bind_text(st, 5, f->params_json);
    store_bind_text(st, 6, f->intervals_json);
    store_bind_text(st, 7, f->residuals_json);
    store_bind_real(st, 8, f->objective);
    store_bind_real(st, 9, f->rmse_log);
    sqlite3_bind_int64(st, 10, f->n_points);
    store_bind_text(st, 11, f->verdict);
    store_bind_text(st, 12, f->diagnostics_json);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        c->id = sqlite3_column_int64(st, 0);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : store_db_err(s, "storing fit", err, errlen);
}

/* 1 when text is NULL or valid JSON (SQLite's own parser decides). */
static int json_ok(store *s, const char *text, int *ok, char *err, size_t errlen) {
    *ok = 1;
    if (!text) return 0;
    sqlite3_stmt *st;
    if (store_prepare(s, "SELECT json_valid(?1)", &st, err, errlen)) return -1;
    sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *ok = rc == SQLITE_ROW && sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : store_db_err(s, "checking JSON", err, errlen);
}

int store_fit_insert(store *s, const store_fit *fit, int64_t *id, char *err, size_t errlen) {
    if (!fit->form || !*fit->form) return util_err(err, errlen, "%s: a fit needs a form (e.g. powerlaw)", s->path);
    const char *names[] = {"inputs_json", "params_json", "intervals_json", "residuals_json", "diagnostics_json"};
    const char *texts[] = {fit->inputs_json, fit->params_json, fit->intervals_json, fit->residuals_json,
                           fit->diagnostics_json};
    if (fit->verdict && strcmp(fit->verdict, "ok") && strcmp(fit->verdict, "weak") && strcmp(fit->verdict, "unconstrained"))
        return util_err(err, errlen, "%s: %s fit: verdict '%s' is not ok, weak or unconstrained", s->path, fit->form,
                        fit->verdict);
    for (int k = 0; k < 5; k++) {
        int ok;
        if (json_ok(s, texts[k], &ok, err, errlen)) return -1;
        if (!ok) return util_err(err, errlen, "%s: %s fit: %s is not valid JSON", s->path, fit->form, names[k]);
    }
    fit_ctx c = {fit, 0};
    if (store_tx_write(s, put_fit_body, &c, err, errlen)) return -1;
    if (id) *id = c.id;
    return 0;
}

static char *column_dup_or_null(sqlite3_stmt *st, int col, int *oom) {
    if (sqlite3_column_type(st, col) == SQLITE_NULL) return NULL;
    char *t = store_column_dup(st, col);
    *oom |= !t;
    return t;
}

int store_fit_get(store *s, int64_t id, store_fit *fit, char *err, size_t errlen) {
    memset(fit, 0, sizeof *fit);
    sqlite3_stmt *st;
    if (store_prepare(s,
                      "SELECT id, created, form, source, inputs_json, params_json, intervals_json, residuals_json,"
                      " objective, rmse_log, n_points, verdict, diagnostics_json FROM fits WHERE ?1 = 0 OR id = ?1 ORDER BY id DESC LIMIT 1",
                      &st, err, errlen))
        return -1;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st), oom = 0;
    if (rc == SQLITE_ROW) {
        fit->id = sqlite3_column_int64(st, 0);
        fit->created = sqlite3_column_double(st, 1);
        fit->form = store_column_dup(st, 2);
        fit->source = store_column_dup(st, 3);
        oom = !fit->form || !fit->source;
        fit->inputs_json = column_dup_or_null(st, 4, &oom);
        fit->params_json = column_dup_or_null(st, 5, &oom);
        fit->intervals_json = column_dup_or_null(st, 6, &oom);
        fit->residuals_json = column_dup_or_null(st, 7, &oom);
        fit->objective = store_column_real(st, 8);
        fit->rmse_log = store_column_real(st, 9);
        fit->n_points = sqlite3_column_int64(st, 10);
        fit->verdict = column_dup_or_null(st, 11, &oom);
        fit->diagnostics_json = column_dup_or_null(st, 12, &oom);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW && !oom) return 0;
    store_fit_clear(fit);
    if (oom) return util_err(err, errlen, "%s: reading fit: out of memory", s->path);
    if (rc == SQLITE_DONE)
        return id ? util_err(err, errlen, "%s: no fit with id %lld", s->path, (long long)id)
                  : util_err(err, errlen, "%s: no fits stored yet", s->path);
    return store_db_err(s, "reading fit", err, errlen);
}

/* Every stored fit, oldest first (ids ascending). */
int store_fit_list(store *s, store_fit **out, size_t *n, char *err, size_t errlen) {
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (store_prepare(s, "SELECT id FROM fits ORDER BY id", &st, err, errlen)) return -1;
    int64_t *ids = NULL;
    size_t n_ids = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n_ids == cap) {
            int64_t *m = realloc(ids, (cap = cap ? 2 * cap : 16) * sizeof *ids);
            if (!m) { sqlite3_finalize(st); free(ids); return util_err(err, errlen, "%s: listing fits: out of memory", s->path); }
            ids = m;
        }
        ids[n_ids++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) { free(ids); return store_db_err(s, "listing fits", err, errlen); }
    store_fit *f = calloc(n_ids ? n_ids : 1, sizeof *f);
    if (!f) { free(ids); return util_err(err, errlen, "%s: listing fits: out of memory", s->path); }
    for (size_t i = 0; i < n_ids; i++)
        if (store_fit_get(s, ids[i], &f[i], err, errlen)) {
            for (size_t j = 0; j < i; j++) store_fit_clear(&f[j]);
            free(f);
            free(ids);
            return -1;
        }
    free(ids);
    *out = f;
    *n = n_ids;
    return 0;
}

void store_fit_clear(store_fit *f) {
    if (!f) return;
    free(f->form);
    free(f->source);
    free(f->inputs_json);
    free(f->params_json);
    free(f->intervals_json);
    free(f->verdict);
    free(f->diagnostics_json);
    free(f->residuals_json);
    memset(f, 0, sizeof *f);
}

/* The rows of a (key, type, value) query over ?1 = json (?2 = path when given) as
 * store_json_items; shared by store_json_each and store_json_flatten. */
static int json_items(store *s, const char *sql, const char *json, const char *path, store_json_item **items,
                      size_t *n, char *err, size_t errlen) {
    *items = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (store_prepare(s, sql, &st, err, errlen)) return -1;
    store_bind_text(st, 1, json ? json : "null");
    if (path) store_bind_text(st, 2, path);
    size_t cap = 0;
    int rc, oom = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && !oom) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            store_json_item *v = realloc(*items, cap * sizeof *v);
            if (!v) { oom = 1; break; }
            *items = v;
        }
        store_json_item *it = &(*items)[(*n)++];
        it->key = store_column_dup(st, 0);
        it->type = store_column_dup(st, 1);
        it->value = sqlite3_column_type(st, 2) == SQLITE_NULL ? NULL : store_column_dup(st, 2);
        oom = !it->key || !it->type || (sqlite3_column_type(st, 2) != SQLITE_NULL && !it->value);
    }
    if (oom || (rc != SQLITE_DONE && rc != SQLITE_ROW)) {
        int r = oom ? util_err(err, errlen, "%s: reading JSON: out of memory", s->path)
                    : store_db_err(s, "reading JSON", err, errlen);
        sqlite3_finalize(st);
        store_json_items_free(*items, *n);
        *items = NULL;
        *n = 0;
        return r;
    }
    sqlite3_finalize(st);
    return 0;
}

int store_json_each(store *s, const char *json, const char *path, store_json_item **items, size_t *n,
                    char *err, size_t errlen) {
    return json_items(s, "SELECT key, type, value FROM json_each(?1, ?2)", json, path, items, n, err, errlen);
}

/* One open container of the document being flattened: json_tree's id and the
 * dotted name its members extend. */
typedef struct flat_scope {
    int64_t id;
    char *name;
} flat_scope;

/* "parent.key", "key" at the top, "parent[3]" for an array element; malloc'd. */
static char *flat_name(const char *parent, sqlite3_stmt *st, int key_col) {
    const char *key = (const char *)sqlite3_column_text(st, key_col);
    if (!key) key = "";
    int index = sqlite3_column_type(st, key_col) == SQLITE_INTEGER;
    size_t len = strlen(parent) + strlen(key) + 3;
    char *name = malloc(len);
    if (!name) return NULL;
    if (index) snprintf(name, len, "%s[%s]", parent, key);
    else snprintf(name, len, "%s%s%s", parent, *parent ? "." : "", key);
    return name;
}

/* By key, then by position in the document, so equal keys keep document order
 * (qsort_r: the items come as context, not through a static). */
static int flat_cmp(const void *a, const void *b, void *ctx) {
    const store_json_item *base = ctx;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int c = strcmp(base[i].key, base[j].key);
    return c ? c : (i > j) - (i < j);
}

/* Names come from json_tree's key and parent columns rather than from fullkey,
 * whose quoting of labels differs between SQLite versions (3.40 writes
 * $.model."d_model"). json_tree walks depth first and gives a container before its
 * members, so the open containers form a stack: a row's parent is on it, and the
 * containers above its parent are closed. (A recursive CTE over json_tree names the
 * leaves in SQL too, but its temporary tables cost 0.35 ms a call: 7 s for 20,000
 * runs, against 0.5 s this way.) Numbers are read back with `json -> fullkey`, which
 * returns the number as the JSON text wrote it: json_tree's value column would turn
 * 0.30000000000000004 into a 15-digit real and an unsigned 64-bit seed into a float. */
int store_json_flatten(store *s, const char *json, store_json_item **items, size_t *n, char *err,
                       size_t errlen) {
    *items = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (store_prepare(s,
                      "SELECT id, parent, key, type, CASE type WHEN 'integer' THEN ?1 -> fullkey"
                      " WHEN 'real' THEN ?1 -> fullkey WHEN 'true' THEN 'true' WHEN 'false' THEN 'false'"
                      " ELSE value END FROM json_tree(?1)",
                      &st, err, errlen))
        return -1;
    store_bind_text(st, 1, json ? json : "null");
    flat_scope *stack = NULL;
    size_t depth = 0, stack_cap = 0, cap = 0;
    store_json_item *v = NULL;
    int rc, fail = 0; /* 1 out of memory, 2 rows out of order */
    while (!fail && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        char *name;
        if (sqlite3_column_type(st, 1) == SQLITE_NULL) {
            name = strdup("");
        } else {
            int64_t parent = sqlite3_column_int64(st, 1);
            while (depth && stack[depth - 1].id != parent) free(stack[--depth].name);
            if (!depth) { fail = 2; break; }
            name = flat_name(stack[depth - 1].name, st, 2);
        }
        if (!name) { fail = 1; break; }
        const char *type = (const char *)sqlite3_column_text(st, 3);
        if (type && (!strcmp(type, "object") || !strcmp(type, "array"))) {
            if (depth == stack_cap) {
                stack_cap = stack_cap ? 2 * stack_cap : 8;
                flat_scope *grown = realloc(stack, stack_cap * sizeof *grown);
                if (!grown) { free(name); fail = 1; break; }
                stack = grown;
            }
            stack[depth++] = (flat_scope){sqlite3_column_int64(st, 0), name};
            continue;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            store_json_item *grown = realloc(v, cap * sizeof *grown);
            if (!grown) { free(name); fail = 1; break; }
            v = grown;
        }
        store_json_item *it = &v[(*n)++];
        it->key = name;
        it->type = store_column_dup(st, 3);
        it->value = sqlite3_column_type(st, 4) == SQLITE_NULL ? NULL : store_column_dup(st, 4);
        if (!it->type || (sqlite3_column_type(st, 4) != SQLITE_NULL && !it->value)) fail = 1;
    }
    while (depth) free(stack[--depth].name);
    free(stack);
    size_t *order = NULL;
    store_json_item *sorted = NULL;
    if (!fail && rc == SQLITE_DONE && *n > 1) {
        order = malloc(*n * sizeof *order);
        sorted = malloc(*n * sizeof *sorted);
        if (!order || !sorted) fail = 1;
        else {
            for (size_t i = 0; i < *n; i++) order[i] = i;
            qsort_r(order, *n, sizeof *order, flat_cmp, v);
            for (size_t i = 0; i < *n; i++) sorted[i] = v[order[i]];
            free(v);
            v = sorted;
            sorted = NULL;
        }
    }
    free(order);
    free(sorted);
    if (fail || rc != SQLITE_DONE) {
        int r = fail == 1   ? util_err(err, errlen, "%s: reading JSON: out of memory", s->path)
                : fail == 2 ? util_err(err, errlen, "%s: reading JSON: json_tree gave a member before its container",
                                       s->path)
                            : store_db_err(s, "reading JSON", err, errlen);
        sqlite3_finalize(st);
        store_json_items_free(v, *n);
        *n = 0;
        return r;
    }
    sqlite3_finalize(st);
    *items = v;
    return 0;
}

void store_json_items_free(store_json_item *items, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(items[i].key);
        free(items[i].type);
        free(items[i].value);
    }
    free(items);
}

/* ------------------------------------------- values of a JSON document */

/* Reads one value of json at path with json_type and `->` (the JSON text of the value, so a
 * number comes back with the digits the document wrote and strtod gives its double exactly;
 * json_extract's REAL may differ in the last bit). *type NULL: absent. */
static int json_at(store *s, const char *json, const char *path, char **type, char **text, char *err,
                   size_t errlen) {
    *type = *text = NULL;
    sqlite3_stmt *st;
    if (store_prepare(s, "SELECT json_type(?1, ?2), CASE json_type(?1, ?2) WHEN 'text' THEN json_extract(?1, ?2)"
                         " ELSE ?1 -> ?2 END", &st, err, errlen))
        return -1;
    store_bind_text(st, 1, json ? json : "null");
    store_bind_text(st, 2, path);
    int rc = sqlite3_step(st), oom = 0;
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        *type = store_column_dup(st, 0);
        *text = sqlite3_column_type(st, 1) == SQLITE_NULL ? strdup("") : store_column_dup(st, 1);
        oom = !*type || !*text;
    }
    sqlite3_finalize(st);
    if (oom) {
        free(*type), free(*text);
        *type = *text = NULL;
        return util_err(err, errlen, "%s: reading JSON: out of memory", s->path);
    }
    return rc == SQLITE_ROW ? 0 : store_db_err(s, "reading JSON", err, errlen);
}

int store_json_number(store *s, const char *json, const char *path, double *v, char *err, size_t errlen) {
    char *type, *text;
    if (json_at(s, json, path, &type, &text, err, errlen)) return -1;
    int rc = 0;
    if (!type) rc = util_err(err, errlen, "no value at %s", path);
    else if (!strcmp(type, "null")) *v = NAN;
    else if (!strcmp(type, "integer") || !strcmp(type, "real")) *v = strtod(text, NULL);
    else rc = util_err(err, errlen, "%s is %s, not a number", path, type);
    free(type);
    free(text);
    return rc;
}

int store_json_text(store *s, const char *json, const char *path, char **out, char *err, size_t errlen) {
    char *type;
    *out = NULL;
    if (json_at(s, json, path, &type, out, err, errlen)) return -1;
    int rc = 0;
    if (!type || strcmp(type, "text")) {
        rc = util_err(err, errlen, "%s is %s, not a string", path, type ? type : "absent");
        free(*out);
        *out = NULL;
    }
    free(type);
    return rc;
}

int store_json_strings(store *s, const char *json, const char *path, char ***v, size_t *n, char *err,
                       size_t errlen) {
    store_json_item *it;
    size_t m;
    *v = NULL;
    *n = 0;
    if (store_json_each(s, json, path, &it, &m, err, errlen)) return -1;
    int rc = 0;
    for (size_t i = 0; i < m && !rc; i++)
        if (strcmp(it[i].type, "text")) rc = util_err(err, errlen, "%s[%zu] is %s, not a string", path, i, it[i].type);
    if (!rc && m && !(*v = calloc(m, sizeof **v))) rc = util_err(err, errlen, "%s: out of memory", s->path);
    for (size_t i = 0; i < m && !rc; i++) { /* the strings move from the items into *v */
        (*v)[i] = it[i].value ? it[i].value : strdup("");
        it[i].value = NULL;
        if (!(*v)[i]) rc = util_err(err, errlen, "%s: out of memory", s->path);
        *n = i + 1;
    }
    store_json_items_free(it, m);
    if (rc) {
        store_strings_free(*v, *n);
        *v = NULL;
        *n = 0;
    }
    return rc;
}

int store_json_numbers(store *s, const char *json, const char *path, double **v, size_t *n, char *err,
                       size_t errlen) {
    *v = NULL;
    *n = 0;
    sqlite3_stmt *st;
    /* json_tree visits in document order (id); ?1 -> fullkey is the number's own text */
    if (store_prepare(s, "SELECT type, CASE WHEN type IN ('integer', 'real') THEN ?1 -> fullkey END"
                         " FROM json_tree(?1, ?2) WHERE type NOT IN ('object', 'array') ORDER BY id",
                      &st, err, errlen))
        return -1;
    store_bind_text(st, 1, json ? json : "null");
    store_bind_text(st, 2, path);
    size_t cap = 0;
    int rc, bad = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *type = (const char *)sqlite3_column_text(st, 0);
        if (!type || (strcmp(type, "null") && sqlite3_column_type(st, 1) == SQLITE_NULL)) { bad = 1; break; }
        if (*n == cap) {
            double *g = realloc(*v, (cap = cap ? 2 * cap : 16) * sizeof *g);
            if (!g) { bad = 2; break; }
            *v = g;
        }
        (*v)[(*n)++] = sqlite3_column_type(st, 1) == SQLITE_NULL ? NAN : strtod((const char *)sqlite3_column_text(st, 1), NULL);
    }
    if (bad || rc != SQLITE_DONE) {
        int r = bad == 1 ? util_err(err, errlen, "%s holds a value that is not a number", path)
              : bad == 2 ? util_err(err, errlen, "%s: reading JSON: out of memory", s->path)
                         : store_db_err(s, "reading JSON", err, errlen);
        sqlite3_finalize(st);
        free(*v);
        *v = NULL;
        *n = 0;
        return r;
    }
    sqlite3_finalize(st);
    return 0;
}

void store_fit_inputs_free(store_fit_inputs *in) {
    if (!in) return;
    free(in->form);
    free(in->source);
    free(in->y_col);
    store_strings_free(in->x_cols, in->n_x);
    free(in->theta);
    free(in->boot_theta);
    memset(in, 0, sizeof *in);
}

int store_fit_inputs_read(store *s, const char *inputs_json, store_fit_inputs *in, char *err, size_t errlen) {
    memset(in, 0, sizeof *in);
    char why[512] = "";
    int valid = 0;
    if (json_ok(s, inputs_json, &valid, err, errlen)) return -1;
    /* "$.key" names a member of the top object only: a nested member of the same name
     * (in "grid", or a column called "form") is never read in its place */
    if (!inputs_json || !valid) {
        util_err(why, sizeof why, "%s", inputs_json ? "not valid JSON" : "none stored");
    } else if (!store_json_text(s, inputs_json, "$.form", &in->form, why, sizeof why) &&
               !store_json_strings(s, inputs_json, "$.x_cols", &in->x_cols, &in->n_x, why, sizeof why) &&
               !store_json_numbers(s, inputs_json, "$.theta", &in->theta, &in->n_theta, why, sizeof why) &&
               !store_json_numbers(s, inputs_json, "$.boot_theta", &in->boot_theta, &in->n_boot_values, why,
                                   sizeof why)) {
        /* fits stored by older versions may lack these */
        if (store_json_text(s, inputs_json, "$.source", &in->source, why, sizeof why)) in->source = NULL;
        if (store_json_text(s, inputs_json, "$.y_col", &in->y_col, why, sizeof why)) in->y_col = NULL;
        return 0;
    }
    store_fit_inputs_free(in);
    return util_err(err, errlen, "stored fit: inputs are not a scalelab law (form, x_cols, theta): %s", why);
}

/* ------------------------------------------------ the runs of a fit */

void store_run_costs_free(store_run_costs *c) {
    if (!c) return;
    free(c->params);
    memset(c, 0, sizeof *c);
    c->training_flops_max = NAN;
}

int store_source_run_costs(store *s, const char *source, store_run_costs *c, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    c->training_flops_max = NAN;
    const char *sweeps = source && !strncmp(source, "sweep:", 6) ? source + 6 : NULL;
    store_run *runs = NULL;
    size_t n = 0;
    /* "sweep:A+B" (cli/cmd_fit.c writes it; sweep names never hold '+'): the runs of every
     * sweep the fit read; a run two sweeps hold counts once per sweep (a cost fit over
     * W(N), S(N) is not hurt by a repeated point) */
    for (const char *p = sweeps; p && *p;) {
        size_t len = strcspn(p, "+");
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(len < 255 ? len : 255), p);
        p += len + (p[len] == '+');
        store_run *more = NULL;
        size_t n_more = 0;
        store_run_filter f = {name, STORE_DONE, 0};
        if (store_runs_list(s, &f, &more, &n_more, err, errlen)) {
            store_runs_free(runs, n);
            return -1;
        }
        store_run *all = realloc(runs, (n + n_more) * sizeof *all);
        if (!all && n + n_more) {
            store_runs_free(more, n_more);
            store_runs_free(runs, n);
            return util_err(err, errlen, "%s: reading the runs of %s: out of memory", s->path, source);
        }
        if (all) memcpy(all + n, more, n_more * sizeof *all);
        free(more); /* its strings now belong to runs */
        runs = all, n += n_more;
    }
    if (n && !(c->params = malloc(5 * n * sizeof *c->params))) {
        store_runs_free(runs, n);
        return util_err(err, errlen, "%s: reading the runs of %s: out of memory", s->path, source);
    }
    c->n = n;
    c->params_non_embedding = c->params + n;
    c->weight_flops_per_token = c->params + 2 * n;
    c->state_flops_per_token = c->params + 3 * n;
    c->training_flops = c->params + 4 * n;
    for (size_t i = 0; i < n; i++) {
        const store_accounting *a = &runs[i].acc;
        c->params[i] = a->params;
        c->params_non_embedding[i] = a->params_non_embedding;
        c->weight_flops_per_token[i] = a->weight_flops_per_token;
        c->state_flops_per_token[i] = a->state_flops_per_token;
        c->training_flops[i] = a->training_flops;
        if (isfinite(a->training_flops))
            c->training_flops_max = isnan(c->training_flops_max) ? a->training_flops
                                                                 : fmax(c->training_flops_max, a->training_flops);
    }
    store_runs_free(runs, n);
    return 0;
}
