/* store: sweeps, metrics and position losses (fits: store_fits.c). */
#include "store/store_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* --------------------------------------------------------------- sweeps */

typedef struct sweep_ctx {
    const char *name, *spec;
    const char *planned; /* JSON array of the planned config hashes; NULL: membership untouched */
    int apply;           /* write (a transaction body) or only look (a preview) */
    store_sweep_change *u;
} sweep_ctx;

/* Appends id to u->dropped; -1 when out of memory. */
static int push_dropped(store_sweep_change *u, int64_t id) {
    int64_t *v = realloc(u->dropped, (u->n_dropped + 1) * sizeof *v);
    if (!v) return -1;
    u->dropped = v;
    u->dropped[u->n_dropped++] = id;
    return 0;
}

/* Reads the current version (u->prev_*, whether spec differs) and the sweep's runs the
 * plan leaves out (u->dropped); with apply, also stores a changed spec as the next
 * version and moves the left-out runs from sweep_runs to sweep_runs_dropped. Runs the
 * plan holds again come back from sweep_runs_dropped; a left-out pending run that no
 * other sweep holds is cancelled (a later version that plans it again resumes it, as
 * `sweep run` resumes every cancelled run), so nothing trains it for this spec. */
static int update_body(store *s, void *vctx, char *err, size_t errlen) {
    sweep_ctx *c = vctx;
    store_sweep_change *u = c->u;
    sqlite3_stmt *st;
    if (store_prepare(s, "SELECT version, created, spec = ?2 FROM sweep_specs WHERE sweep = ?1"
                         " ORDER BY version DESC LIMIT 1", &st, err, errlen))
        return -1;
    store_bind_text(st, 1, c->name);
    store_bind_text(st, 2, c->spec);
    int rc = sqlite3_step(st), same = 0;
    if (rc == SQLITE_ROW) {
        u->prev_version = sqlite3_column_int(st, 0);
        u->prev_created = sqlite3_column_double(st, 1);
        same = sqlite3_column_int(st, 2);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return store_db_err(s, "reading sweep versions", err, errlen);
    u->changed = !same;
    u->version = same ? u->prev_version : u->prev_version + 1;
    if (c->planned) {
        if (store_prepare(s, "SELECT r.id FROM sweep_runs m JOIN runs r ON r.id = m.run WHERE m.sweep = ?1"
                             " AND r.config_hash NOT IN (SELECT value FROM json_each(?2)) ORDER BY r.id",
                          &st, err, errlen))
            return -1;
        store_bind_text(st, 1, c->name);
        store_bind_text(st, 2, c->planned);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            if (push_dropped(u, sqlite3_column_int64(st, 0))) break;
        sqlite3_finalize(st);
        if (rc == SQLITE_ROW) return util_err(err, errlen, "%s: sweep %s: out of memory", s->path, c->name);
        if (rc != SQLITE_DONE) return store_db_err(s, "reading the sweep's runs", err, errlen);
    }
    if (!c->apply) return 0;
    double now = util_now();
    store_bound args[] = {STORE_B_TEXT(c->name), STORE_B_TEXT(c->spec), STORE_B_REAL(now),
                          STORE_B_INT(u->version), STORE_B_TEXT(c->planned)};
    static const struct { const char *sql, *what; int when; } steps[] = {
        /* when: 1 always, 2 a changed spec, 3 a plan given */
        /* always, so a sweeps row deleted by hand (its versions left) comes back */
        {"INSERT INTO sweeps (name, spec, created) VALUES (?1, ?2, ?3)"
         " ON CONFLICT (name) DO UPDATE SET spec = excluded.spec", "storing sweep", 1},
        {"INSERT INTO sweep_specs (sweep, version, spec, created) VALUES (?1, ?4, ?2, ?3)",
         "storing the spec version", 2},
        {"INSERT OR IGNORE INTO sweep_runs_dropped (sweep, run, version) SELECT m.sweep, m.run, ?4"
         " FROM sweep_runs m JOIN runs r ON r.id = m.run WHERE m.sweep = ?1"
         " AND r.config_hash NOT IN (SELECT value FROM json_each(?5))", "recording left-out runs", 3},
        {"DELETE FROM sweep_runs WHERE sweep = ?1 AND run IN (SELECT run FROM sweep_runs_dropped WHERE sweep = ?1)",
         "leaving runs out of the sweep", 3},
        {"UPDATE runs SET status = 'cancelled', finished = ?3,"
         " error = 'not planned by sweep ' || ?1 || ' since spec version ' || ?4"
         " WHERE status = 'pending' AND id IN (SELECT run FROM sweep_runs_dropped WHERE sweep = ?1)"
         " AND id NOT IN (SELECT run FROM sweep_runs)", "cancelling left-out pending runs", 3},
        {"INSERT OR IGNORE INTO sweep_runs (sweep, run) SELECT ?1, d.run FROM sweep_runs_dropped d"
         " JOIN runs r ON r.id = d.run WHERE d.sweep = ?1 AND r.config_hash IN (SELECT value FROM json_each(?5))",
         "taking runs back into the sweep", 3},
        {"DELETE FROM sweep_runs_dropped WHERE sweep = ?1 AND run IN (SELECT run FROM sweep_runs WHERE sweep = ?1)",
         "taking runs back into the sweep", 3},
    };
    for (size_t k = 0; k < sizeof steps / sizeof *steps; k++) {
        if ((steps[k].when == 2 && !u->changed) || (steps[k].when == 3 && !c->planned)) continue;
        store_stmt stmt = {steps[k].sql, args, 5, 0, steps[k].what};
        if (store_stmt_body(s, &stmt, err, errlen)) return -1;
    }
    return 0;
}

int store_sweep_update(store *s, const char *name, const char *spec_text, const char *const *planned, size_t n,
                       int apply, store_sweep_change *u, char *err, size_t errlen) {
    memset(u, 0, sizeof *u);
    if (!name || !*name) return util_err(err, errlen, "%s: a sweep needs a non-empty name", s->path);
    if (!spec_text) return util_err(err, errlen, "%s: sweep '%s' has no spec text", s->path, name);
    util_buf hashes = {0};
    if (planned) {
        int bad = util_buf_puts(&hashes, "[");
        for (size_t i = 0; i < n && !bad; i++)
            bad = (i && util_buf_puts(&hashes, ",")) || util_buf_json_str(&hashes, planned[i]);
        if (bad || util_buf_puts(&hashes, "]")) {
            util_buf_free(&hashes);
            return util_err(err, errlen, "%s: sweep %s: out of memory", s->path, name);
        }
    }
    sweep_ctx c = {name, spec_text, planned ? hashes.data : NULL, apply, u};
    int rc;
    if (apply) {
        rc = store_tx_write(s, update_body, &c, err, errlen);
    } else { /* one snapshot for both reads; nothing written */
        rc = store_exec(s, "BEGIN", err, errlen) || update_body(s, &c, err, errlen);
        sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    }
    util_buf_free(&hashes);
    if (rc) store_sweep_update_clear(u);
    return rc ? -1 : 0;
}

void store_sweep_update_clear(store_sweep_change *u) {
    free(u->dropped);
    memset(u, 0, sizeof *u);
}

int store_sweep_put(store *s, const char *name, const char *spec_text, char *err, size_t errlen) {
    store_sweep_change u;
    int rc = store_sweep_update(s, name, spec_text, NULL, 0, 1, &u, err, errlen);
    store_sweep_update_clear(&u);
    return rc;
}

int store_sweep_versions(store *s, const char *name, store_sweep_version **out, size_t *n, char *err,
                         size_t errlen) {
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (store_prepare(s, "SELECT version, created, spec FROM sweep_specs WHERE sweep = ?1 ORDER BY version", &st,
                      err, errlen))
        return -1;
    store_bind_text(st, 1, name);
    store_sweep_version *v = NULL;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_sweep_version *grown = realloc(v, (*n + 1) * sizeof *v);
        if (!grown) break;
        v = grown;
        v[*n] = (store_sweep_version){sqlite3_column_int(st, 0), sqlite3_column_double(st, 1),
                                      store_column_dup(st, 2)};
        if (!v[*n].spec) break;
        (*n)++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        store_sweep_versions_free(v, *n);
        *n = 0;
        return rc == SQLITE_ROW ? util_err(err, errlen, "%s: out of memory", s->path)
                                : store_db_err(s, "listing sweep versions", err, errlen);
    }
    *out = v;
    return 0;
}

void store_sweep_versions_free(store_sweep_version *v, size_t n) {
    for (size_t i = 0; i < n; i++) free(v[i].spec);
    free(v);
}

int store_sweep_dropped(store *s, const char *name, int64_t **runs, int **versions, size_t *n, char *err,
                        size_t errlen) {
    *runs = NULL;
    *versions = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (store_prepare(s, "SELECT run, version FROM sweep_runs_dropped WHERE sweep = ?1 ORDER BY run", &st, err,
                      errlen))
        return -1;
    store_bind_text(st, 1, name);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t *r = realloc(*runs, (*n + 1) * sizeof *r);
        if (r) *runs = r;
        int *v = r ? realloc(*versions, (*n + 1) * sizeof *v) : NULL;
        if (!v) break;
        *versions = v;
        (*runs)[*n] = sqlite3_column_int64(st, 0);
        (*versions)[(*n)++] = sqlite3_column_int(st, 1);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE) return 0;
    free(*runs), free(*versions);
    *runs = NULL, *versions = NULL, *n = 0;
    return rc == SQLITE_ROW ? util_err(err, errlen, "%s: out of memory", s->path)
                            : store_db_err(s, "listing left-out runs", err, errlen);
}

int store_sweep_flops_get(store *s, const char *sweep, store_sweep_flops *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    if (store_prepare(s,
                      "SELECT total(CASE WHEN status = 'pending' THEN training_flops END),"
                      " total(CASE WHEN status = 'done' AND started > 0 AND finished > started THEN training_flops END),"
                      " total(CASE WHEN status = 'done' AND started > 0 AND finished > started"
                      "  THEN finished - started END)"
                      " FROM runs WHERE id IN (SELECT run FROM sweep_runs WHERE sweep = ?1)",
                      &st, err, errlen))
        return -1;
    store_bind_text(st, 1, sweep);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->pending_flops = sqlite3_column_double(st, 0);
        out->done_timed_flops = sqlite3_column_double(st, 1);
        out->done_seconds = sqlite3_column_double(st, 2);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : store_db_err(s, "summing the sweep's FLOPs", err, errlen);
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
