/* store: sweeps, metrics, position losses and fits. */
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
