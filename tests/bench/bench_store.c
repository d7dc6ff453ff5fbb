/* Metric rows per second into the store with 1, 4 and 16 concurrent writer
 * processes, each appending batches of 100 rows (one transaction per batch)
 * through store_metrics_append. Peers measured in the same run:
 *   ceiling   one process, raw SQLite, every row in a single transaction
 *   rollback  one process, raw SQLite, batches of 100, journal_mode=DELETE and
 *             SQLite's default synchronous=FULL (what a store without WAL pays)
 * Usage: bench_store [TOTAL_ROWS]   (default 320000; rows are split evenly) */
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"
#include "util/util.h"

#define BATCH 100

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void die(const char *what, const char *err) {
    fprintf(stderr, "bench_store: %s: %s\n", what, err);
    exit(1);
}

static void fill(store_metric *rows, int64_t first, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double step = (double)(first + (int64_t)i);
        rows[i] = (store_metric){first + (int64_t)i, 2048 * step, 0.01 * step, 5 / (1 + step), 1e-3, 0.5, 1e5, NAN};
    }
}

/* A fresh store under dir with n claimed runs; their ids go to ids. */
static void make_store(const char *path, int n, int64_t *ids) {
    char err[512];
    store *s;
    if (store_open(path, &s, err, sizeof err) || store_sweep_put(s, "bench", "bench", err, sizeof err))
        die(path, err);
    for (int i = 0; i < n; i++) {
        char json[32], hash[32];
        snprintf(json, sizeof json, "{\"w\":%d}", i);
        snprintf(hash, sizeof hash, "bench-%d", i);
        store_run_new r;
        memset(&r, 0, sizeof r);
        r.config_json = json;
        r.config_hash = hash;
        if (store_runs_insert(s, "bench", &r, 1, &ids[i], NULL, err, sizeof err) ||
            store_run_claim_id(s, ids[i], "bench", "cpu", err, sizeof err))
            die(path, err);
    }
    store_close(s);
}

static double bench_writers(const char *dir, int writers, long total) {
    char path[512];
    snprintf(path, sizeof path, "%s/w%d.db", dir, writers);
    int64_t ids[64];
    make_store(path, writers, ids);
    long per = total / writers;
    int go[2];
    if (pipe(go)) die("pipe", strerror(errno));
    pid_t pids[64];
    for (int w = 0; w < writers; w++) {
        if ((pids[w] = fork()) == 0) {
            char err[512];
            store *s;
            store_metric rows[BATCH];
            close(go[1]);
            if (store_open(path, &s, err, sizeof err)) die("writer", err);
            char c;
            if (read(go[0], &c, 1) != 1) _exit(2); /* start together */
            for (long step = 0; step < per; step += BATCH) {
                fill(rows, step, BATCH);
                if (store_metrics_append(s, ids[w], rows, BATCH, err, sizeof err)) die("writer", err);
            }
            store_close(s);
            _exit(0);
        }
    }
    close(go[0]);
    double t0 = util_monotonic();
    for (int w = 0; w < writers; w++)
        if (write(go[1], "g", 1) != 1) die("pipe", strerror(errno));
    int bad = 0;
    for (int w = 0; w < writers; w++) {
        int status;
        waitpid(pids[w], &status, 0);
        bad |= !WIFEXITED(status) || WEXITSTATUS(status);
    }
    double dt = util_monotonic() - t0;
    close(go[1]);
    if (bad) die("writers", "a writer failed");
    return (double)(per / BATCH * BATCH * writers) / dt;
}

/* Raw SQLite peers on the same schema. batch = 0: all rows in one transaction. */
static double bench_raw(const char *dir, const char *name, const char *pragmas, long rows, long batch) {
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/%s.db", dir, name);
    int64_t id;
    make_store(path, 1, &id);
    sqlite3 *db;
    sqlite3_stmt *st;
    if (sqlite3_open(path, &db) || sqlite3_exec(db, pragmas, NULL, NULL, NULL) ||
        sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO metrics (run, step, tokens, wall_seconds, loss, lr, grad_norm,"
                           " tokens_per_second, eval_loss) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                           -1, &st, NULL))
        die(name, sqlite3_errmsg(db));
    if (!batch) batch = rows;
    double t0 = util_monotonic();
    store_metric r[BATCH];
    for (long step = 0; step < rows; step++) {
        if (step % batch == 0 && sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) die(name, sqlite3_errmsg(db));
        if (step % BATCH == 0) fill(r, step, BATCH);
        const store_metric *m = &r[step % BATCH];
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, m->step);
        sqlite3_bind_double(st, 3, m->tokens);
        sqlite3_bind_double(st, 4, m->wall_seconds);
        sqlite3_bind_double(st, 5, m->loss);
        sqlite3_bind_double(st, 6, m->lr);
        sqlite3_bind_double(st, 7, m->grad_norm);
        sqlite3_bind_double(st, 8, m->tokens_per_second);
        sqlite3_bind_null(st, 9);
        if (sqlite3_step(st) != SQLITE_DONE) die(name, sqlite3_errmsg(db));
        sqlite3_reset(st);
        if ((step + 1) % batch == 0 || step + 1 == rows)
            if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL)) die(name, sqlite3_errmsg(db));
    }
    double dt = util_monotonic() - t0;
    sqlite3_finalize(st);
    sqlite3_close(db);
    (void)err;
    return (double)rows / dt;
}

int main(int argc, char **argv) {
    long total = argc > 1 ? atol(argv[1]) : 320000;
    if (total < 16 * BATCH) die("usage", "bench_store [TOTAL_ROWS >= 1600]");
    const char *tmp = getenv("TMPDIR");
    char dir[256];
    snprintf(dir, sizeof dir, "%s/bench-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) die("mkdtemp", strerror(errno));

    double ceiling = bench_raw(dir, "ceiling", "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL", total, 0);
    double rollback = bench_raw(dir, "rollback", "PRAGMA journal_mode = DELETE; PRAGMA synchronous = FULL",
                                total / 16, BATCH);
    printf("peer ceiling  (1 process, raw SQLite, one transaction)        %10.0f rows/s\n", ceiling);
    printf("peer rollback (1 process, raw SQLite, DELETE journal, FULL sync, 100/tx) %10.0f rows/s\n", rollback);
    const int counts[] = {1, 4, 16};
    for (int i = 0; i < 3; i++) {
        double r = bench_writers(dir, counts[i], total);
        printf("store writers=%-2d batch=%d rows=%ld  %10.0f rows/s  (%.2f x ceiling, %.1f x rollback)\n", counts[i],
               BATCH, total / counts[i] / BATCH * BATCH * counts[i], r, r / ceiling, r / rollback);
    }
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return 0;
}
