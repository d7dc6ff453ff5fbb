/* store under several processes: concurrent claimers and metric writers with a
 * reader, a writer killed with SIGKILL inside an open batch, and a writer that
 * waits behind a stalled transaction. Children are fork()ed from the test and
 * open their own store handles (SQLite connections must not cross a fork). */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store.h"
#include "tests/unit/test_store_util.h"

#define WRITERS 8
#define RUNS_PER_WRITER 5
#define ROWS_PER_RUN 1000 /* 5 runs x 1000 = 5,000 rows per writer */
#define BATCH 100
#define SPARE_RUNS 8

#define CHECK(call)                                                                                \
    do {                                                                                           \
        if ((call) != 0) fail_msg("%s: %s", #call, err);                                           \
    } while (0)

/* Children report failure through their exit status, with the reason on stderr. */
static void child_fail(const char *who, const char *err) {
    fprintf(stderr, "%s (pid %d): %s\n", who, (int)getpid(), err);
    _exit(1);
}

static void fill_rows(store_metric *rows, int64_t first_step, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int64_t step = first_step + (int64_t)i;
        rows[i] = (store_metric){step, 1024.0 * (double)step, 0.01 * (double)step, 5.0 / (1.0 + (double)step),
                                 1e-3, 0.5, 1e5, NAN};
    }
}

static void writer_main(const char *path, int index) {
    char err[512], host[32];
    snprintf(host, sizeof host, "writer%d", index);
    store *s;
    if (store_open(path, &s, err, sizeof err)) child_fail(host, err);
    store_metric rows[BATCH];
    for (int r = 0; r < RUNS_PER_WRITER; r++) {
        int64_t run;
        if (store_run_claim(s, "conc", host, "cpu", &run, err, sizeof err)) child_fail(host, err);
        if (run == 0) child_fail(host, "no pending run left to claim");
        for (int64_t step = 0; step < ROWS_PER_RUN; step += BATCH) {
            fill_rows(rows, step, BATCH);
            if (store_metrics_append(s, run, rows, BATCH, err, sizeof err)) child_fail(host, err);
        }
        if (store_run_heartbeat(s, run, err, sizeof err) ||
            store_run_finish(s, run, 1.0, NAN, NAN, err, sizeof err))
            child_fail(host, err);
    }
    store_close(s);
    _exit(0);
}

/* Queries while the writers write, until its pipe closes: listing must never
 * fail, and committed work must never go backwards. */
static void reader_main(const char *path, int stop_fd) {
    char err[512];
    store *s;
    if (store_open(path, &s, err, sizeof err)) child_fail("reader", err);
    size_t last_done = 0, last_rows = 0;
    long queries = 0;
    for (;;) {
        struct pollfd p = {stop_fd, POLLIN, 0};
        if (poll(&p, 1, 0) > 0) break;
        store_run_filter f = {"conc", -1, 0};
        store_run *runs;
        size_t n, done = 0, rows = 0;
        if (store_runs_list(s, &f, &runs, &n, err, sizeof err)) child_fail("reader", err);
        for (size_t i = 0; i < n; i++) {
            done += runs[i].status == STORE_DONE;
            if (runs[i].status == STORE_PENDING) continue;
            store_metric *m;
            size_t nm;
            if (store_metrics_list(s, runs[i].id, &m, &nm, err, sizeof err)) child_fail("reader", err);
            if (nm % BATCH) child_fail("reader", "saw part of a batch");
            rows += nm;
            free(m);
        }
        store_runs_free(runs, n);
        if (done < last_done || rows < last_rows) child_fail("reader", "committed work went backwards");
        last_done = done;
        last_rows = rows;
        queries++;
    }
    store_close(s);
    if (queries == 0) child_fail("reader", "made no query");
    fprintf(stderr, "reader: %ld consistent queries\n", queries);
    _exit(0);
}

static void wait_ok(pid_t pid, const char *who) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail_msg("%s (pid %d) failed, status 0x%x", who, (int)pid, status);
}

static void insert_runs(const char *path, const char *sweep, int n) {
    char err[512] = "";
    store *s;
    CHECK(store_open(path, &s, err, sizeof err));
    CHECK(store_sweep_put(s, sweep, "test", err, sizeof err));
    for (int i = 0; i < n; i++) {
        char json[64], hash[32];
        snprintf(json, sizeof json, "{\"run\":%d}", i);
        snprintf(hash, sizeof hash, "%s-%d", sweep, i);
        store_run_new r;
        memset(&r, 0, sizeof r);
        r.config_json = json;
        r.config_hash = hash;
        CHECK(store_runs_insert(s, sweep, &r, 1, NULL, NULL, err, sizeof err));
    }
    store_close(s); /* before any fork */
}

static void test_concurrent_claims_and_metrics(void **state) {
    scratch *t = *state;
    insert_runs(t->db, "conc", WRITERS * RUNS_PER_WRITER + SPARE_RUNS);
    int stop[2];
    assert_int_equal(pipe(stop), 0);
    pid_t reader = fork();
    assert_true(reader >= 0);
    if (reader == 0) {
        close(stop[1]);
        reader_main(t->db, stop[0]);
    }
    close(stop[0]);
    pid_t writers[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        writers[w] = fork();
        assert_true(writers[w] >= 0);
        if (writers[w] == 0) writer_main(t->db, w);
    }
    for (int w = 0; w < WRITERS; w++) wait_ok(writers[w], "writer");
    close(stop[1]); /* POLLHUP tells the reader to stop */
    wait_ok(reader, "reader");

    /* No run claimed twice (attempt stays 1), none lost, no row lost. */
    const char *path = t->db;
    assert_int_equal(raw_int(path, "SELECT count(*) FROM runs WHERE status = 'done'"), WRITERS * RUNS_PER_WRITER);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM runs WHERE status = 'pending' AND attempt = 0"),
                     SPARE_RUNS);
    assert_int_equal(raw_int(path, "SELECT max(attempt) FROM runs"), 1);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM (SELECT host FROM runs WHERE status = 'done'"
                                   " GROUP BY host HAVING count(*) = 5)"),
                     WRITERS);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM metrics"), WRITERS * RUNS_PER_WRITER * ROWS_PER_RUN);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM (SELECT run FROM metrics GROUP BY run"
                                   " HAVING count(*) = 1000 AND min(step) = 0 AND max(step) = 999)"),
                     WRITERS * RUNS_PER_WRITER);
    char err[512] = "";
    store *s;
    CHECK(store_open(path, &s, err, sizeof err));
    CHECK(store_integrity_check(s, err, sizeof err));
    store_close(s);
}

/* The fault hook of a child: at row `stop_row` of a batch, tell the parent
 * (one byte on a pipe) and wait inside the open transaction for its verdict:
 * a byte to carry on, or SIGKILL. */
typedef struct stall {
    int notify_fd, resume_fd;
    size_t stop_row;
} stall;

static void stall_hook(void *ctx, size_t row) {
    stall *h = ctx;
    if (row != h->stop_row) return;
    char c = 's';
    if (write(h->notify_fd, &c, 1) != 1) _exit(3);
    if (read(h->resume_fd, &c, 1) != 1) _exit(4);
}

static pid_t start_stalling_writer(const char *path, int64_t run, int64_t committed_step, int64_t stalled_step,
                                   int *notify_rd, int *resume_wr) {
    int notify[2], resume[2];
    if (pipe(notify) || pipe(resume)) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(notify[0]);
        close(resume[1]);
        char err[512];
        store *s;
        store_metric rows[BATCH];
        if (store_open(path, &s, err, sizeof err)) child_fail("stalling writer", err);
        fill_rows(rows, committed_step, BATCH);
        if (store_metrics_append(s, run, rows, BATCH, err, sizeof err)) child_fail("stalling writer", err);
        stall h = {notify[1], resume[0], BATCH / 2};
        store_set_fault_hook(s, stall_hook, &h);
        fill_rows(rows, stalled_step, BATCH);
        if (store_metrics_append(s, run, rows, BATCH, err, sizeof err)) child_fail("stalling writer", err);
        store_close(s);
        _exit(0);
    }
    close(notify[1]);
    close(resume[0]);
    *notify_rd = notify[0];
    *resume_wr = resume[1];
    return pid;
}

static int64_t claimed_run(const char *path) {
    char err[512] = "";
    insert_runs(path, "kill", 1);
    store *s;
    int64_t run;
    CHECK(store_open(path, &s, err, sizeof err));
    CHECK(store_run_claim(s, NULL, "h", "cpu", &run, err, sizeof err));
    store_close(s);
    assert_true(run > 0);
    return run;
}

static void test_kill_mid_batch(void **state) {
    scratch *t = *state;
    int64_t run = claimed_run(t->db);
    int notify, resume;
    pid_t pid = start_stalling_writer(t->db, run, 0, BATCH, &notify, &resume);
    assert_true(pid > 0);
    char c;
    assert_int_equal(read(notify, &c, 1), 1); /* the child is inside its second batch */
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    close(notify);
    close(resume);

    /* Only the uncommitted batch is gone; the store is sound and writable. */
    char err[512] = "";
    store *s;
    CHECK(store_open(t->db, &s, err, sizeof err));
    CHECK(store_integrity_check(s, err, sizeof err));
    store_metric *m;
    size_t n;
    CHECK(store_metrics_list(s, run, &m, &n, err, sizeof err));
    assert_int_equal(n, BATCH);
    assert_int_equal(m[0].step, 0);
    assert_int_equal(m[n - 1].step, BATCH - 1);
    free(m);
    store_metric rows[BATCH];
    fill_rows(rows, BATCH, BATCH);
    CHECK(store_metrics_append(s, run, rows, BATCH, err, sizeof err));
    CHECK(store_metrics_list(s, run, &m, &n, err, sizeof err));
    assert_int_equal(n, 2 * BATCH);
    free(m);
    store_close(s);
}

/* A second writer queued behind a stalled transaction waits (inside the
 * store's busy handling) and then succeeds: the caller never sees busy. */
static void test_writer_waits_behind_open_transaction(void **state) {
    scratch *t = *state;
    int64_t run = claimed_run(t->db);
    int notify, resume;
    pid_t stalled = start_stalling_writer(t->db, run, 0, BATCH, &notify, &resume);
    assert_true(stalled > 0);
    char c;
    assert_int_equal(read(notify, &c, 1), 1);
    pid_t waiter = fork();
    assert_true(waiter >= 0);
    if (waiter == 0) {
        char err[512];
        store *s;
        store_metric rows[BATCH];
        fill_rows(rows, 10 * BATCH, BATCH);
        if (store_open(t->db, &s, err, sizeof err) || store_metrics_append(s, run, rows, BATCH, err, sizeof err))
            child_fail("waiting writer", err);
        store_close(s);
        _exit(0);
    }
    usleep(300000); /* the waiter is now blocked on the write lock */
    int status;
    assert_int_equal(waitpid(waiter, &status, WNOHANG), 0);
    assert_int_equal(write(resume, "g", 1), 1);
    wait_ok(stalled, "stalled writer");
    wait_ok(waiter, "waiting writer");
    close(notify);
    close(resume);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM metrics"), 3 * BATCH);
}

/* Several processes opening a store that does not exist yet: every open
 * succeeds, the schema is created once, and exactly one says it created it. */
static void test_concurrent_create(void **state) {
    scratch *t = *state;
    enum { OPENERS = 6 };
    pid_t pids[OPENERS];
    for (int i = 0; i < OPENERS; i++) {
        if ((pids[i] = fork()) == 0) {
            char err[512];
            store *s;
            if (store_open(t->db, &s, err, sizeof err)) child_fail("opener", err);
            int created = store_initial_version(s) == 0;
            store_close(s);
            _exit(created ? 10 : 0);
        }
        assert_true(pids[i] > 0);
    }
    int creators = 0;
    for (int i = 0; i < OPENERS; i++) {
        int status;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) == 10) creators++;
        else assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(creators, 1);
    assert_int_equal(raw_int(t->db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM sqlite_master WHERE name = 'runs'"), 1);
}

/* Schedulers claiming one sweep at the same moment (each a process with its own
 * handle, released together through a pipe): exactly one wins, every time. The
 * liveness callback says every other PID is alive, as it would while they run. */
static int all_alive(void *ctx, int64_t pid) {
    (void)ctx, (void)pid;
    return 1;
}

static void test_concurrent_scheduler_claims(void **state) {
    scratch *t = *state;
    enum { CLAIMERS = 6, ROUNDS = 5 };
    char err[512];
    store *s;
    assert_int_equal(store_open(t->db, &s, err, sizeof err), 0);
    store_close(s);
    for (int round = 0; round < ROUNDS; round++) {
        char sweep[32];
        snprintf(sweep, sizeof sweep, "sweep%d", round);
        int go[2];
        assert_int_equal(pipe(go), 0);
        pid_t pids[CLAIMERS];
        for (int i = 0; i < CLAIMERS; i++) {
            if ((pids[i] = fork()) == 0) {
                close(go[1]);
                store *c;
                if (store_open(t->db, &c, err, sizeof err)) child_fail("claimer", err);
                char b;
                if (read(go[0], &b, 1) < 0) _exit(2); /* EOF: all start together */
                int claimed;
                store_scheduler h;
                if (store_scheduler_claim(c, sweep, "host", getpid(), "runs", 120, all_alive, NULL, &claimed, &h, err,
                                          sizeof err))
                    child_fail("claim", err);
                store_close(c);
                _exit(claimed ? 10 : 0);
            }
            assert_true(pids[i] > 0);
        }
        close(go[0]);
        close(go[1]);
        int winners = 0;
        for (int i = 0; i < CLAIMERS; i++) {
            int status;
            assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
            assert_true(WIFEXITED(status));
            if (WEXITSTATUS(status) == 10) winners++;
            else assert_int_equal(WEXITSTATUS(status), 0);
        }
        assert_int_equal(winners, 1);
    }
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM schedulers"), ROUNDS);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_concurrent_claims_and_metrics, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_kill_mid_batch, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_writer_waits_behind_open_transaction, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_create, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_scheduler_claims, scratch_setup, scratch_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
