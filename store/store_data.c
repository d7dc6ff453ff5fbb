/* store: sweeps, metrics and position losses (fits: store_fits.c). */
#include "store/store_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* --------------------------------------------------------------- sweeps */

typedef struct sweep_ctx {
    const char *name, *spec;
} sweep_ctx;

static int put_sweep_body(store *s, void *vctx, char *err, size_t errlen) {
    sweep_ctx *c = vctx;
    sqlite3_stmt *st;
    if (store_prepare(s,
                      "INSERT INTO sweeps (name, spec, created) VALUES (?1, ?2, ?3)"
                      " ON CONFLICT (name) DO UPDATE SET spec = excluded.spec",
                      &st, err, errlen))
        return -1;
    sqlite3_bind_text(st, 1, c->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->spec, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, util_now());
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : store_db_err(s, "storing sweep", err, errlen);
}

int store_sweep_put(store *s, const char *name, const char *spec_text, char *err, size_t errlen) {
    if (!name || !*name) return util_err(err, errlen, "%s: a sweep needs a non-empty name", s->path);
    if (!spec_text) return util_err(err, errlen, "%s: sweep '%s' has no spec text", s->path, name);
    sweep_ctx c = {name, spec_text};
    return store_tx_write(s, put_sweep_body, &c, err, errlen);
}

int store_sweep_get(store *s, const char *name, char **spec, char *err, size_t errlen) {
    *spec = NULL;
    sqlite3_stmt *st;
    if (store_prepare(s, "SELECT spec FROM sweeps WHERE name = ?1", &st, err, errlen)) return -1;
    store_bind_text(st, 1, name);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && !(*spec = store_column_dup(st, 0))) rc = SQLITE_NOMEM;
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) return 0;
    return rc == SQLITE_NOMEM ? util_err(err, errlen, "%s: out of memory", s->path)
                              : store_db_err(s, "reading sweep", err, errlen);
}

int store_sweeps_list(store *s, char ***names, size_t *n, char *err, size_t errlen) {
    *names = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (store_prepare(s, "SELECT name FROM sweeps ORDER BY name", &st, err, errlen)) return -1;
    size_t cap = 0;
    char **v = NULL;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            char **grown = realloc(v, cap * sizeof *v);
            if (!grown) break;
            v = grown;
        }
        if (!(v[*n] = store_column_dup(st, 0))) break;
        (*n)++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        store_strings_free(v, *n);
        *n = 0;
        return rc == SQLITE_ROW ? util_err(err, errlen, "%s: out of memory", s->path)
                                : store_db_err(s, "listing sweeps", err, errlen);
    }
    *names = v;
    return 0;
}

void store_strings_free(char **v, size_t n) {
    for (size_t i = 0; v && i < n; i++) free(v[i]);
    free(v);
}

/* -------------------------------------------------------------- metrics */

typedef struct rows_ctx {
    int64_t run;
    const void *rows;
    size_t n;
} rows_ctx;

static int run_exists(store *s, int64_t run, char *err, size_t errlen) {
    sqlite3_stmt *st;
    if (store_prepare(s, "SELECT 1 FROM runs WHERE id = ?1", &st, err, errlen)) return -1;
    sqlite3_bind_int64(st, 1, run);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW) return 0;
    if (rc == SQLITE_DONE) return util_err(err, errlen, "%s: no run with id %lld", s->path, (long long)run);
    return store_db_err(s, "looking up run", err, errlen);
}

static int metrics_body(store *s, void *vctx, char *err, size_t errlen) {
    rows_ctx *c = vctx;
    const store_metric *rows = c->rows;
    if (run_exists(s, c->run, err, errlen)) return -1;
    sqlite3_stmt *st;
    /* REPLACE: a resumed run re-logs the steps after its last checkpoint. */
    if (store_prepare(s,
                      "INSERT OR REPLACE INTO metrics (run, step, tokens, wall_seconds, loss, lr, grad_norm,"
                      " tokens_per_second, eval_loss) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                      &st, err, errlen))
        return -1;
    sqlite3_bind_int64(st, 1, c->run);
    for (size_t i = 0; i < c->n; i++) {
        const store_metric *m = &rows[i];
        if (m->step < 0) {
            sqlite3_finalize(st);
            return util_err(err, errlen, "%s: metrics of run %lld, row %zu: step %lld is negative", s->path,
                            (long long)c->run, i, (long long)m->step);
        }
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 2, m->step);
        store_bind_real(st, 3, m->tokens);
        store_bind_real(st, 4, m->wall_seconds);
        store_bind_real(st, 5, m->loss);
        store_bind_real(st, 6, m->lr);
        store_bind_real(st, 7, m->grad_norm);
        store_bind_real(st, 8, m->tokens_per_second);
        store_bind_real(st, 9, m->eval_loss);
        if (sqlite3_step(st) != SQLITE_DONE) {
            store_db_err(s, "appending metrics", err, errlen);
            sqlite3_finalize(st);
            return -1;
        }
        if (s->hook) s->hook(s->hook_ctx, i);
    }
    sqlite3_finalize(st);
    return 0;
}

int store_metrics_append(store *s, int64_t run, const store_metric *rows, size_t n, char *err, size_t errlen) {
    if (n == 0) return 0;
    if (!rows) return util_err(err, errlen, "%s: metrics of run %lld: rows is NULL", s->path, (long long)run);
    rows_ctx c = {run, rows, n};
    return store_tx_write(s, metrics_body, &c, err, errlen);
}

static int position_body(store *s, void *vctx, char *err, size_t errlen) {
    rows_ctx *c = vctx;
    const store_position_loss *rows = c->rows;
    if (run_exists(s, c->run, err, errlen)) return -1;
    sqlite3_stmt *st;
    if (store_prepare(s,
                      "INSERT OR REPLACE INTO position_loss (run, step, position, loss) VALUES (?1, ?2, ?3, ?4)",
                      &st, err, errlen))
        return -1;
    sqlite3_bind_int64(st, 1, c->run);
    for (size_t i = 0; i < c->n; i++) {
        const store_position_loss *p = &rows[i];
        if (p->step < 0 || p->position < 0) {
            sqlite3_finalize(st);
            return util_err(err, errlen, "%s: position losses of run %lld, row %zu: step %lld and position %lld "
                            "must be >= 0", s->path, (long long)c->run, i, (long long)p->step,
                            (long long)p->position);
        }
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 2, p->step);
        sqlite3_bind_int64(st, 3, p->position);
        store_bind_real(st, 4, p->loss);
        if (sqlite3_step(st) != SQLITE_DONE) {
            store_db_err(s, "storing position losses", err, errlen);
            sqlite3_finalize(st);
            return -1;
        }
    }
    sqlite3_finalize(st);
    return 0;
}

int store_position_loss_put(store *s, int64_t run, const store_position_loss *rows, size_t n, char *err,
                            size_t errlen) {
    if (n == 0) return 0;
    if (!rows) return util_err(err, errlen, "%s: position losses of run %lld: rows is NULL", s->path, (long long)run);
    rows_ctx c = {run, rows, n};
    return store_tx_write(s, position_body, &c, err, errlen);
}

/* Reads rows of `size` bytes through fill() into a growing array. */
static int list_rows(store *s, sqlite3_stmt *st, size_t size, void (*fill)(sqlite3_stmt *, void *), void **out,
                     size_t *n, const char *what, char *err, size_t errlen) {
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    char *v = NULL;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            char *grown = realloc(v, cap * size);
            if (!grown) break;
            v = grown;
        }
        fill(st, v + (*n)++ * size);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(v);
        *n = 0;
        return rc == SQLITE_ROW ? util_err(err, errlen, "%s: %s: out of memory", s->path, what)
                                : store_db_err(s, what, err, errlen);
    }
    *out = v;
    return 0;
}

static void fill_metric(sqlite3_stmt *st, void *out) {
    store_metric *m = out;
    m->step = sqlite3_column_int64(st, 0);
    m->tokens = store_column_real(st, 1);
    m->wall_seconds = store_column_real(st, 2);
    m->loss = store_column_real(st, 3);
    m->lr = store_column_real(st, 4);
    m->grad_norm = store_column_real(st, 5);
    m->tokens_per_second = store_column_real(st, 6);
    m->eval_loss = store_column_real(st, 7);
}

int store_metrics_list(store *s, int64_t run, store_metric **rows, size_t *n, char *err, size_t errlen) {
    sqlite3_stmt *st;
    *rows = NULL;
    *n = 0;
    if (store_prepare(s,
                      "SELECT step, tokens, wall_seconds, loss, lr, grad_norm, tokens_per_second, eval_loss"
                      " FROM metrics WHERE run = ?1 ORDER BY step",
                      &st, err, errlen))
        return -1;
    sqlite3_bind_int64(st, 1, run);
    return list_rows(s, st, sizeof **rows, fill_metric, (void **)rows, n, "listing metrics", err, errlen);
}

int store_metric_latest(store *s, int64_t run, store_metric *row, int *found, char *err, size_t errlen) {
    sqlite3_stmt *st;
    store_metric *rows;
    size_t n;
    *found = 0;
    if (store_prepare(s,
                      "SELECT step, tokens, wall_seconds, loss, lr, grad_norm, tokens_per_second, eval_loss"
                      " FROM metrics WHERE run = ?1 ORDER BY step DESC LIMIT 1",
                      &st, err, errlen))
        return -1;
    sqlite3_bind_int64(st, 1, run);
    if (list_rows(s, st, sizeof *rows, fill_metric, (void **)&rows, &n, "reading the latest metric", err, errlen))
        return -1;
    if (n) *row = rows[0], *found = 1;
    free(rows);
    return 0;
}

static void fill_position(sqlite3_stmt *st, void *out) {
    store_position_loss *p = out;
    p->step = sqlite3_column_int64(st, 0);
    p->position = sqlite3_column_int64(st, 1);
    p->loss = store_column_real(st, 2);
}

int store_position_loss_list(store *s, int64_t run, store_position_loss **rows, size_t *n, char *err,
                             size_t errlen) {
    sqlite3_stmt *st;
    *rows = NULL;
    *n = 0;
    if (store_prepare(s, "SELECT step, position, loss FROM position_loss WHERE run = ?1 ORDER BY step, position",
                      &st, err, errlen))
        return -1;
    sqlite3_bind_int64(st, 1, run);
    return list_rows(s, st, sizeof **rows, fill_position, (void **)rows, n, "listing position losses", err,
                     errlen);
}
