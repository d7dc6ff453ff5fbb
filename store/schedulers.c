/* store: which scheduler runs which sweep (table schedulers, schema v4).
 *
 * The claim replaces a PID file in the runs folder, which was checked and written
 * in two steps (two schedulers starting together both passed) and was local to
 * one folder (a second scheduler started from elsewhere was not stopped at all).
 * Here the check and the write happen under one write lock (BEGIN IMMEDIATE), on
 * a row keyed by the sweep's name, so exactly one claimant wins. A holder that
 * died without releasing is taken over: on its own host when the caller's
 * liveness check says its PID is gone, from elsewhere once its heartbeat is old. */
#include "store/store_internal.h"

#include <stdio.h>
#include <string.h>

#include "util/util.h"

typedef struct claim_ctx {
    const char *sweep, *host, *runs_dir;
    int64_t pid;
    double stale_s;
    store_pid_alive_fn alive;
    void *alive_ctx;
    int claimed;
    store_scheduler *holder;
} claim_ctx;

static void read_row(sqlite3_stmt *st, store_scheduler *h) {
    memset(h, 0, sizeof *h);
    const char *host = (const char *)sqlite3_column_text(st, 0);
    snprintf(h->host, sizeof h->host, "%s", host ? host : "");
    h->pid = sqlite3_column_int64(st, 1);
    h->started = sqlite3_column_double(st, 2);
    h->heartbeat = sqlite3_column_double(st, 3);
    const char *dir = (const char *)sqlite3_column_text(st, 4);
    snprintf(h->runs_dir, sizeof h->runs_dir, "%s", dir ? dir : "");
}

static int get_row(store *s, const char *sweep, store_scheduler *h, int *found, char *err, size_t errlen) {
    sqlite3_stmt *st;
    if (store_prepare(s, "SELECT host, pid, started, heartbeat, runs_dir FROM schedulers WHERE sweep = ?1", &st,
                      err, errlen))
        return -1;
    sqlite3_bind_text(st, 1, sweep, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    if (*found) read_row(st, h);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_db_err(s, "reading schedulers", err, errlen);
}

static int claim_body(store *s, void *vctx, char *err, size_t errlen) {
    claim_ctx *c = vctx;
    store_scheduler h;
    int found;
    c->claimed = 0;
    if (get_row(s, c->sweep, &h, &found, err, errlen)) return -1;
    double now = util_now();
    if (found) {
        int self = !strcmp(h.host, c->host) && h.pid == c->pid;
        int gone = !strcmp(h.host, c->host) ? !c->alive || !c->alive(c->alive_ctx, h.pid)
                                            : now - h.heartbeat > c->stale_s;
        if (!self && !gone) {
            if (c->holder) *c->holder = h;
            return 0;
        }
    }
    sqlite3_stmt *st;
    if (store_prepare(s,
                      "INSERT OR REPLACE INTO schedulers (sweep, host, pid, started, heartbeat, runs_dir)"
                      " VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
                      &st, err, errlen))
        return -1;
    sqlite3_bind_text(st, 1, c->sweep, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->host, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, c->pid);
    sqlite3_bind_double(st, 4, now);
    sqlite3_bind_text(st, 5, c->runs_dir ? c->runs_dir : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return store_db_err(s, "claiming the sweep's scheduler", err, errlen);
    c->claimed = 1;
    return 0;
}

int store_scheduler_claim(store *s, const char *sweep, const char *host, int64_t pid, const char *runs_dir,
                          double stale_s, store_pid_alive_fn alive, void *ctx, int *claimed,
                          store_scheduler *holder, char *err, size_t errlen) {
    *claimed = 0;
    if (!sweep || !*sweep || !host) return util_err(err, errlen, "%s: scheduler claim: no sweep or host", s->path);
    claim_ctx c = {sweep, host, runs_dir, pid, stale_s, alive, ctx, 0, holder};
    if (store_tx_write(s, claim_body, &c, err, errlen)) return -1;
    *claimed = c.claimed;
    return 0;
}

int store_scheduler_heartbeat(store *s, const char *sweep, const char *host, int64_t pid, char *err,
                              size_t errlen) {
    int64_t changed;
    store_bound args[] = {STORE_B_TEXT(sweep), STORE_B_TEXT(host), STORE_B_INT(pid), STORE_B_REAL(util_now())};
    if (store_run_stmt(s, "updating schedulers",
                       "UPDATE schedulers SET heartbeat = ?4 WHERE sweep = ?1 AND host = ?2 AND pid = ?3", args, 4,
                       &changed, err, errlen))
        return -1;
    if (!changed)
        return util_err(err, errlen, "%s: sweep %s is no longer held by this scheduler (%s pid %lld)", s->path,
                        sweep, host, (long long)pid);
    return 0;
}

int store_scheduler_release(store *s, const char *sweep, const char *host, int64_t pid, char *err,
                            size_t errlen) {
    store_bound args[] = {STORE_B_TEXT(sweep), STORE_B_TEXT(host), STORE_B_INT(pid)};
    return store_run_stmt(s, "updating schedulers",
                          "DELETE FROM schedulers WHERE sweep = ?1 AND host = ?2 AND pid = ?3", args, 3, NULL, err,
                          errlen);
}

int store_scheduler_get(store *s, const char *sweep, store_scheduler *out, int *found, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    return get_row(s, sweep, out, found, err, errlen);
}
