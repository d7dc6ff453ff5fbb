/* store: runs, their membership in sweeps and their life cycle
 *   pending -> running -> done | failed | diverged | cancelled, and back to
 *   pending through requeue or heartbeat expiry.
 * Every state change is one UPDATE whose WHERE clause names the states it may
 * leave, so two processes racing for the same run cannot both win. */
#include "store/store_internal.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/accounting.h"
#include "util/util.h"

/* The accounting columns of the runs table, from util/accounting.h's field list:
 * ", params, params_non_embedding, ..." and ", ?, ?, ..." (one per field). */
#define ACC_COLUMN_(name, comment) ", " #name
#define ACC_PARAM_(name, comment) ", ?"
#define ACC_COLUMNS UTIL_ACCOUNTING_FIELDS(ACC_COLUMN_)
#define ACC_PARAMS UTIL_ACCOUNTING_FIELDS(ACC_PARAM_)

static const char *const status_names[STORE_STATUS_COUNT] = {"pending", "running", "done",
                                                             "failed",  "diverged", "cancelled"};

const char *store_status_name(store_status s) {
    return (unsigned)s < STORE_STATUS_COUNT ? status_names[s] : "unknown";
}

int store_status_parse(const char *name, store_status *out) {
    for (int i = 0; name && i < STORE_STATUS_COUNT; i++) {
        if (!strcmp(name, status_names[i])) {
            *out = (store_status)i;
            return 0;
        }
    }
    return -1;
}

/* ------------------------------------------------------------ inserting */

typedef struct insert_ctx {
    const char *sweep;
    const store_run_new *runs;
    size_t n;
    int64_t *ids;
    size_t n_new;
} insert_ctx;

static int store_sweep_exists(store *s, const char *sweep, int *exists, char *err, size_t errlen) {
    sqlite3_stmt *st;
    if (store_prepare(s, "SELECT 1 FROM sweeps WHERE name = ?1", &st, err, errlen)) return -1;
    sqlite3_bind_text(st, 1, sweep, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *exists = rc == SQLITE_ROW;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_db_err(s, "looking up sweep", err, errlen);
}

static int insert_body(store *s, void *vctx, char *err, size_t errlen) {
    insert_ctx *c = vctx;
    if (*c->sweep) {
        int exists;
        if (store_sweep_exists(s, c->sweep, &exists, err, errlen)) return -1;
        if (!exists)
            return util_err(err, errlen, "%s: sweep '%s' does not exist (store it with store_sweep_put first)",
                            s->path, c->sweep);
    }
    sqlite3_stmt *ins = NULL, *find = NULL, *link = NULL, *adopt = NULL;
    int rc = -1;
    if (store_prepare(s,
                      "INSERT INTO runs (sweep, config_json, config_hash, status, attempt, created"
                      ACC_COLUMNS ")"
                      /* an unnumbered ? takes the number after the largest so far: ?5, ?6, ... */
                      " VALUES (?1, ?2, ?3, 'pending', 0, ?4" ACC_PARAMS ")"
                      " RETURNING id",
                      &ins, err, errlen) ||
        store_prepare(s, "SELECT id, config_json FROM runs WHERE config_hash = ?1", &find, err, errlen) ||
        store_prepare(s, "INSERT OR IGNORE INTO sweep_runs (sweep, run) VALUES (?1, ?2)", &link, err, errlen) ||
        store_prepare(s, "UPDATE runs SET sweep = ?1 WHERE id = ?2 AND sweep = ''", &adopt, err, errlen))
        goto out;
    /* One ?N per accounting field after the four fixed ones: were the list and the SQL to
     * disagree, a bind past the end would fail silently and the run be stored with NULLs. */
    assert(sqlite3_bind_parameter_count(ins) == 4 + UTIL_ACCOUNTING_N);
    c->n_new = 0;
    for (size_t i = 0; i < c->n; i++) {
        const store_run_new *r = &c->runs[i];
        if (!r->config_hash || !*r->config_hash) {
            util_err(err, errlen, "%s: run %zu of the batch has an empty config hash", s->path, i);
            goto out;
        }
        if (!r->config_json) {
            util_err(err, errlen, "%s: run %zu (hash %s) has no config JSON", s->path, i, r->config_hash);
            goto out;
        }
        sqlite3_reset(find);
        sqlite3_bind_text(find, 1, r->config_hash, -1, SQLITE_STATIC);
        int found = sqlite3_step(find);
        int64_t id = found == SQLITE_ROW ? sqlite3_column_int64(find, 0) : 0;
        if (found != SQLITE_ROW && found != SQLITE_DONE) {
            store_db_err(s, "looking up config hash", err, errlen);
            goto out;
        }
        /* Same hash, other text: a hash collision or a config that was not
         * canonicalised; linking it would silently run the wrong config. */
        if (id && strcmp((const char *)sqlite3_column_text(find, 1), r->config_json)) {
            util_err(err, errlen, "%s: run %zu: config hash %s is already stored for a different config (run %lld)",
                     s->path, i, r->config_hash, (long long)id);
            goto out;
        }
        if (!id) {
            sqlite3_reset(ins);
            sqlite3_bind_text(ins, 1, c->sweep, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 2, r->config_json, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 3, r->config_hash, -1, SQLITE_STATIC);
            sqlite3_bind_double(ins, 4, util_now());
            for (int k = 0; k < UTIL_ACCOUNTING_N; k++)
                store_bind_real(ins, 5 + k, util_accounting_get(&r->acc, k));
            int step = sqlite3_step(ins);
            if (step != SQLITE_ROW) {
                if (sqlite3_extended_errcode(s->db) == SQLITE_CONSTRAINT_CHECK)
                    util_err(err, errlen, "%s: run %zu (hash %s): config is not valid JSON", s->path, i,
                             r->config_hash);
                else
                    store_db_err(s, "inserting run", err, errlen);
                goto out;
            }
            id = sqlite3_column_int64(ins, 0);
            sqlite3_step(ins); /* finish the RETURNING statement */
            c->n_new++;
        }
        sqlite3_reset(link);
        sqlite3_bind_text(link, 1, c->sweep, -1, SQLITE_STATIC);
        sqlite3_bind_int64(link, 2, id);
        sqlite3_reset(adopt);
        sqlite3_bind_text(adopt, 1, c->sweep, -1, SQLITE_STATIC);
        sqlite3_bind_int64(adopt, 2, id);
        if (sqlite3_step(link) != SQLITE_DONE || sqlite3_step(adopt) != SQLITE_DONE) {
            store_db_err(s, "linking run to sweep", err, errlen);
            goto out;
        }
        if (c->ids) c->ids[i] = id;
    }
    rc = 0;
out:
    sqlite3_finalize(ins);
    sqlite3_finalize(find);
    sqlite3_finalize(link);
    sqlite3_finalize(adopt);
    return rc;
}

int store_runs_insert(store *s, const char *sweep, const store_run_new *runs, size_t n, int64_t *ids,
                      size_t *n_new, char *err, size_t errlen) {
    insert_ctx c = {sweep ? sweep : "", runs, n, ids, 0};
    if (n && !runs) return util_err(err, errlen, "%s: store_runs_insert: runs is NULL", s->path);
    int rc = store_tx_write(s, insert_body, &c, err, errlen);
    if (n_new) *n_new = rc ? 0 : c.n_new;
    return rc;
}

/* ---------------------------------------------------- state transitions */

/* Why a transition did not apply: the run is missing or in another state. */
static int transition_err(store *s, int64_t id, const char *action, const char *wanted, char *err,
                          size_t errlen) {
    sqlite3_stmt *st;
    if (store_prepare(s, "SELECT status FROM runs WHERE id = ?1", &st, err, errlen)) return -1;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW)
        util_err(err, errlen, "%s: cannot %s run %lld: it is %s, not %s", s->path, action, (long long)id,
                 (const char *)sqlite3_column_text(st, 0), wanted);
    else
        util_err(err, errlen, "%s: cannot %s run %lld: no such run", s->path, action, (long long)id);
    sqlite3_finalize(st);
    return -1;
}

/* An UPDATE of run args[0] that must change exactly one row. */
static int transition(store *s, const char *sql, const store_bound *args, int nargs, const char *action,
                      const char *wanted, char *err, size_t errlen) {
    int64_t changed;
    if (store_run_stmt(s, "updating runs", sql, args, nargs, &changed, err, errlen)) return -1;
    return changed == 1 ? 0 : transition_err(s, args[0].i, action, wanted, err, errlen);
}

#define CLAIM_SET                                                                                 \
    "UPDATE runs SET status = 'running', attempt = attempt + 1, host = ?2, device = ?3,"          \
    " started = ?4, heartbeat = ?4, finished = NULL, error = NULL "

int store_run_claim(store *s, const char *sweep, const char *host, const char *device, int64_t *id, char *err,
                    size_t errlen) {
    /* The sub-select and the update run under one write lock (BEGIN IMMEDIATE),
     * so no other process can claim the same pending run in between. */
    store_bound args[] = {STORE_B_TEXT(sweep), STORE_B_TEXT(host), STORE_B_TEXT(device), STORE_B_REAL(util_now())};
    *id = 0;
    return store_run_stmt(s, "updating runs",
                          CLAIM_SET "WHERE id = (SELECT id FROM runs WHERE status = 'pending'"
                                    " AND (?1 IS NULL OR id IN (SELECT run FROM sweep_runs WHERE sweep = ?1))"
                                    " ORDER BY id LIMIT 1) RETURNING id",
                          args, 4, id, err, errlen);
}

int store_run_claim_id(store *s, int64_t id, const char *host, const char *device, char *err, size_t errlen) {
    store_bound args[] = {STORE_B_INT(id), STORE_B_TEXT(host), STORE_B_TEXT(device), STORE_B_REAL(util_now())};
    return transition(s, CLAIM_SET "WHERE id = ?1 AND status = 'pending'", args, 4, "claim", "pending", err,
                      errlen);
}

int store_run_set_dir(store *s, int64_t id, const char *run_dir, char *err, size_t errlen) {
    store_bound args[] = {STORE_B_INT(id), STORE_B_TEXT(run_dir)};
    return transition(s, "UPDATE runs SET run_dir = ?2 WHERE id = ?1", args, 2, "set the folder of", "present",
                      err, errlen);
}

int store_run_set_device(store *s, int64_t id, const char *device, const char *precision, char *err, size_t errlen) {
    store_bound args[] = {STORE_B_INT(id), STORE_B_TEXT(device), STORE_B_TEXT(precision)};
    /* The CPU computes in FP32 only: "cpu" alone says it. On CUDA: the claimed device up
     * to its first space when it names a GPU ("cuda:1"), else "cuda"; then the precision. */
    return transition(s,
                      "UPDATE runs SET device = CASE WHEN ?2 != 'cuda' THEN ?2 "
                      "WHEN coalesce(device, '') LIKE 'cuda%' "
                      "THEN substr(device || ' ', 1, instr(device || ' ', ' ') - 1) || ' ' || ?3 "
                      "ELSE ?2 || ' ' || ?3 END WHERE id = ?1",
                      args, 3, "set the device of", "present", err, errlen);
}

int store_run_heartbeat(store *s, int64_t id, char *err, size_t errlen) {
    /* Fails once the run was expired and requeued: the worker lost it. */
    store_bound args[] = {STORE_B_INT(id), STORE_B_REAL(util_now())};
    return transition(s, "UPDATE runs SET heartbeat = ?2 WHERE id = ?1 AND status = 'running'", args, 2,
                      "heartbeat", "running", err, errlen);
}

int store_run_finish(store *s, int64_t id, double final_train_loss, double final_eval_loss,
                     double best_context_loss, char *err, size_t errlen) {
    store_bound args[] = {STORE_B_INT(id), STORE_B_REAL(util_now()), STORE_B_REAL(final_train_loss),
                          STORE_B_REAL(final_eval_loss), STORE_B_REAL(best_context_loss)};
    return transition(s,
                      "UPDATE runs SET status = 'done', finished = ?2, heartbeat = ?2, final_train_loss = ?3,"
                      " final_eval_loss = ?4, best_context_loss = ?5, error = NULL"
                      " WHERE id = ?1 AND status = 'running'",
                      args, 5, "finish", "running", err, errlen);
}

int store_run_end(store *s, int64_t id, store_status status, const char *error_text, char *err,
                  size_t errlen) {
    if (status != STORE_FAILED && status != STORE_DIVERGED && status != STORE_CANCELLED)
        return util_err(err, errlen, "%s: cannot end run %lld as %s: expected failed, diverged or cancelled",
                        s->path, (long long)id, store_status_name(status));
    store_bound args[] = {STORE_B_INT(id), STORE_B_TEXT(store_status_name(status)), STORE_B_TEXT(error_text),
                          STORE_B_REAL(util_now())};
    return transition(s,
                      "UPDATE runs SET status = ?2, error = ?3, finished = ?4"
                      " WHERE id = ?1 AND status IN ('pending', 'running')",
                      args, 4, "end", "pending or running", err, errlen);
}

int store_run_requeue(store *s, int64_t id, char *err, size_t errlen) {
    store_bound args[] = {STORE_B_INT(id)};
    return transition(s,
                      "UPDATE runs SET status = 'pending', finished = NULL, heartbeat = NULL"
                      " WHERE id = ?1 AND status IN ('running', 'failed', 'diverged', 'cancelled')",
                      args, 1, "requeue", "running, failed, diverged or cancelled", err, errlen);
}

typedef struct expire_ctx {
    double cutoff, now;
    int max_attempts;
    size_t requeued;
} expire_ctx;

static int expire_body(store *s, void *vctx, char *err, size_t errlen) {
    expire_ctx *c = vctx;
    store_stmt fail = {"UPDATE runs SET status = 'failed', error = 'heartbeat expired', finished = ?3"
                     " WHERE status = 'running' AND heartbeat < ?1 AND attempt >= ?2",
                     (store_bound[]){STORE_B_REAL(c->cutoff), STORE_B_INT(c->max_attempts), STORE_B_REAL(c->now)}, 3, 0,
                     "updating runs"};
    store_stmt requeue = {"UPDATE runs SET status = 'pending', heartbeat = NULL,"
                        " error = 'heartbeat expired; requeued'"
                        " WHERE status = 'running' AND heartbeat < ?1 AND attempt < ?2",
                        (store_bound[]){STORE_B_REAL(c->cutoff), STORE_B_INT(c->max_attempts)}, 2, 0,
                        "updating runs"};
    if (store_stmt_body(s, &fail, err, errlen) || store_stmt_body(s, &requeue, err, errlen)) return -1;
    c->requeued = (size_t)requeue.result;
    return 0;
}

int store_requeue_expired(store *s, double timeout_s, int max_attempts, size_t *n_requeued, char *err,
                          size_t errlen) {
    if (!(timeout_s >= 0) || max_attempts < 1)
        return util_err(err, errlen, "%s: requeue of expired runs: timeout %g s must be >= 0 and max attempts %d >= 1",
                        s->path, timeout_s, max_attempts);
    double now = util_now();
    expire_ctx c = {now - timeout_s, now, max_attempts, 0};
    if (store_tx_write(s, expire_body, &c, err, errlen)) return -1;
    if (n_requeued) *n_requeued = c.requeued;
    return 0;
}

typedef struct cancel_ctx {
    const char *sweep;
    size_t cancelled;
} cancel_ctx;

static int cancel_body(store *s, void *vctx, char *err, size_t errlen) {
    cancel_ctx *c = vctx;
    int exists = 1;
    if (*c->sweep && store_sweep_exists(s, c->sweep, &exists, err, errlen)) return -1;
    if (!exists) return util_err(err, errlen, "%s: cannot cancel sweep '%s': no such sweep", s->path, c->sweep);
    store_stmt cancel = {"UPDATE runs SET status = 'cancelled', finished = ?2, error = 'sweep cancelled'"
                       " WHERE status = 'pending' AND id IN (SELECT run FROM sweep_runs WHERE sweep = ?1)",
                       (store_bound[]){STORE_B_TEXT(c->sweep), STORE_B_REAL(util_now())}, 2, 0, "updating runs"};
    if (store_stmt_body(s, &cancel, err, errlen)) return -1;
    c->cancelled = (size_t)cancel.result;
    return 0;
}

int store_sweep_cancel_pending(store *s, const char *sweep, size_t *n, char *err, size_t errlen) {
    if (!sweep) return util_err(err, errlen, "%s: cancel: no sweep named", s->path);
    cancel_ctx c = {sweep, 0};
    if (store_tx_write(s, cancel_body, &c, err, errlen)) return -1;
    if (n) *n = c.cancelled;
    return 0;
}

typedef struct retry_ctx {
    const char *sweep;
    size_t n;
} retry_ctx;

static int retry_body(store *s, void *vctx, char *err, size_t errlen) {
    retry_ctx *c = vctx;
    int exists;
    if (store_sweep_exists(s, c->sweep, &exists, err, errlen)) return -1;
    if (!exists) return util_err(err, errlen, "%s: cannot retry sweep '%s': no such sweep", s->path, c->sweep);
    /* attempt 0: the retries of the spec count afresh from here */
    store_stmt retry = {"UPDATE runs SET status = 'pending', attempt = 0, error = NULL, finished = NULL,"
                      " heartbeat = NULL"
                      " WHERE status = 'failed' AND id IN (SELECT run FROM sweep_runs WHERE sweep = ?1)",
                      (store_bound[]){STORE_B_TEXT(c->sweep)}, 1, 0, "updating runs"};
    if (store_stmt_body(s, &retry, err, errlen)) return -1;
    c->n = (size_t)retry.result;
    return 0;
}

int store_sweep_requeue_failed(store *s, const char *sweep, size_t *n, char *err, size_t errlen) {
    if (!sweep || !*sweep) return util_err(err, errlen, "%s: retry: no sweep named", s->path);
    retry_ctx c = {sweep, 0};
    if (store_tx_write(s, retry_body, &c, err, errlen)) return -1;
    if (n) *n = c.n;
    return 0;
}

/* -------------------------------------------------------------- listing */

#define RUN_COLUMNS                                                                                   \
    "id, sweep, config_json, config_hash, status, attempt, host, device, run_dir, error,"           \
    " created, started, finished, heartbeat" ACC_COLUMNS ","                                          \
    " final_train_loss, final_eval_loss, best_context_loss"

static int read_run(sqlite3_stmt *st, store_run *r) {
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(st, 0);
    r->sweep = store_column_dup(st, 1);
    r->config_json = store_column_dup(st, 2);
    r->config_hash = store_column_dup(st, 3);
    store_status status = STORE_PENDING;
    /* The schema's CHECK admits only status_names: anything else is a corrupt row that
     * would otherwise be read, and run again, as pending. */
    int parsed = store_status_parse((const char *)sqlite3_column_text(st, 4), &status);
    assert(parsed == 0);
    (void)parsed;
    r->status = status;
    r->attempt = sqlite3_column_int(st, 5);
    r->host = store_column_dup(st, 6);
    r->device = store_column_dup(st, 7);
    r->run_dir = store_column_dup(st, 8);
    r->error = store_column_dup(st, 9);
    double *times[] = {&r->created, &r->started, &r->finished, &r->heartbeat};
    for (int k = 0; k < 4; k++) *times[k] = sqlite3_column_double(st, 10 + k); /* NULL reads as 0 */
    for (int k = 0; k < UTIL_ACCOUNTING_N; k++) *util_accounting_at(&r->acc, k) = store_column_real(st, 14 + k);
    enum { LOSS0 = 14 + UTIL_ACCOUNTING_N };
    assert(sqlite3_column_count(st) == LOSS0 + 3); /* RUN_COLUMNS and these indices agree */
    r->final_train_loss = store_column_real(st, LOSS0);
    r->final_eval_loss = store_column_real(st, LOSS0 + 1);
    r->best_context_loss = store_column_real(st, LOSS0 + 2);
    int oom = !r->sweep || !r->config_json || !r->config_hash || !r->host || !r->device || !r->run_dir ||
              !r->error;
    return oom ? -1 : 0;
}

int store_runs_list(store *s, const store_run_filter *f, store_run **runs, size_t *n, char *err,
                    size_t errlen) {
    *runs = NULL;
    *n = 0;
    store_run_filter any = {NULL, -1, 0};
    if (!f) f = &any;
    if (f->status >= STORE_STATUS_COUNT || f->status < -1)
        return util_err(err, errlen, "%s: run filter: status %d is not a run status", s->path, f->status);
    /* Only the filters in use go into the SQL, so a lookup by id is a rowid
     * search and a status filter uses its index (an "?1 IS NULL OR ..." form
     * would scan the table). The values are still bound, never pasted. */
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT " RUN_COLUMNS " FROM runs WHERE 1%s%s%s ORDER BY id",
             f->sweep ? " AND id IN (SELECT run FROM sweep_runs WHERE sweep = ?1)" : "",
             f->status >= 0 ? " AND status = ?2" : "", f->id ? " AND id = ?3" : "");
    sqlite3_stmt *st;
    if (store_prepare(s, sql, &st, err, errlen)) return -1;
    /* Binding a parameter the SQL does not use is a harmless SQLITE_RANGE. */
    store_bind_text(st, 1, f->sweep);
    if (f->status >= 0) sqlite3_bind_text(st, 2, store_status_name((store_status)f->status), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, f->id);
    size_t cap = 0;
    store_run *v = NULL;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            store_run *grown = realloc(v, cap * sizeof *v);
            if (!grown) break;
            v = grown;
        }
        if (read_run(st, &v[*n])) {
            store_run_clear(&v[(*n)++]);
            break;
        }
        (*n)++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        int oom = rc == SQLITE_ROW;
        store_runs_free(v, *n);
        *n = 0;
        return oom ? util_err(err, errlen, "%s: listing runs: out of memory", s->path)
                   : store_db_err(s, "listing runs", err, errlen);
    }
    *runs = v;
    return 0;
}

int store_run_counts(store *s, const char *sweep, size_t counts[STORE_STATUS_COUNT], char *err, size_t errlen) {
    memset(counts, 0, STORE_STATUS_COUNT * sizeof counts[0]);
    sqlite3_stmt *st;
    if (store_prepare(s,
                      sweep ? "SELECT status, count(*) FROM runs WHERE id IN"
                              " (SELECT run FROM sweep_runs WHERE sweep = ?1) GROUP BY status"
                            : "SELECT status, count(*) FROM runs GROUP BY status",
                      &st, err, errlen))
        return -1;
    store_bind_text(st, 1, sweep);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_status status;
        if (store_status_parse((const char *)sqlite3_column_text(st, 0), &status) == 0)
            counts[status] = (size_t)sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : store_db_err(s, "counting runs", err, errlen);
}

void store_run_clear(store_run *r) {
    if (!r) return;
    char *strings[] = {r->sweep, r->config_json, r->config_hash, r->host, r->device, r->run_dir, r->error};
    for (size_t k = 0; k < sizeof strings / sizeof strings[0]; k++) free(strings[k]);
    memset(r, 0, sizeof *r);
}

void store_runs_free(store_run *runs, size_t n) {
    for (size_t i = 0; runs && i < n; i++) store_run_clear(&runs[i]);
    free(runs);
}

int store_run_get(store *s, int64_t id, store_run *run, char *err, size_t errlen) {
    memset(run, 0, sizeof *run);
    if (id <= 0) return util_err(err, errlen, "%s: run id %lld is not valid (ids start at 1)", s->path, (long long)id);
    store_run_filter f = {NULL, -1, id};
    store_run *v;
    size_t n;
    if (store_runs_list(s, &f, &v, &n, err, errlen)) return -1;
    if (n != 1) {
        store_runs_free(v, n);
        return util_err(err, errlen, "%s: no run with id %lld", s->path, (long long)id);
    }
    *run = v[0];
    free(v);
    return 0;
}
