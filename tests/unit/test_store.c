/* store: schema, migration, refusals, dedupe, the run state machine, metrics,
 * position losses, fits and bad inputs (single process; see
 * test_store_concurrency.c for the multi-process tests). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store.h"
#include "tests/unit/test_store_util.h"

#define CHECK(call) assert_int_equal_msg((call), 0, err)
/* An assertion that prints the store's error text when it fails. */
static void assert_int_equal_msg(int got, int want, const char *err) {
    if (got != want) fail_msg("got %d, want %d: %s", got, want, err);
}

static void assert_contains(const char *text, const char *part) {
    if (!strstr(text, part)) fail_msg("'%s' does not contain '%s'", text, part);
}

/* ------------------------------------------------------------- schema */

static void test_create_schema(void **state) {
    scratch *t = *state;
    char err[512] = "";
    store *s;
    CHECK(store_open(t->db, &s, err, sizeof err));
    assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
    assert_int_equal(store_initial_version(s), 0);
    CHECK(store_integrity_check(s, err, sizeof err));
    store_close(s);
    assert_int_equal(raw_int(t->db, "PRAGMA application_id"), STORE_APPLICATION_ID);
    assert_int_equal(raw_int(t->db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM pragma_table_info('fits') WHERE name IN ('verdict', 'diagnostics_json')"), 2);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
                                    " ('sweeps', 'runs', 'sweep_runs', 'metrics', 'position_loss', 'fits')"),
                     6);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM pragma_table_info('runs') WHERE name = 'run_dir'"), 1);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM pragma_table_info('metrics') WHERE name = 'eval_loss'"), 1);
    assert_int_equal(raw_int(t->db, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
    /* Opening again changes nothing and says so. */
    CHECK(store_open(t->db, &s, err, sizeof err));
    assert_int_equal(store_initial_version(s), STORE_SCHEMA_VERSION);
    store_close(s);
}

/* The version-1 schema as scalelab 0.1 wrote it, by hand. */
static const char *v1_schema =
    "CREATE TABLE sweeps (name TEXT PRIMARY KEY NOT NULL CHECK (name <> ''), spec TEXT NOT NULL,"
    " created REAL NOT NULL);"
    "CREATE TABLE runs (id INTEGER PRIMARY KEY, sweep TEXT NOT NULL DEFAULT '',"
    " config_json TEXT NOT NULL CHECK (json_valid(config_json)),"
    " config_hash TEXT NOT NULL UNIQUE CHECK (config_hash <> ''),"
    " status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN"
    " ('pending','running','done','failed','diverged','cancelled')),"
    " attempt INTEGER NOT NULL DEFAULT 0, host TEXT, device TEXT, error TEXT,"
    " created REAL NOT NULL, started REAL, finished REAL, heartbeat REAL, params REAL,"
    " params_non_embedding REAL, weight_flops_per_token REAL, state_flops_per_token REAL, wsfr REAL,"
    " state_dim REAL, state_size REAL, tokens REAL, training_flops REAL, final_train_loss REAL,"
    " final_eval_loss REAL, best_context_loss REAL);"
    "CREATE INDEX runs_status ON runs (status, id);"
    "CREATE TABLE sweep_runs (sweep TEXT NOT NULL, run INTEGER NOT NULL REFERENCES runs (id),"
    " PRIMARY KEY (sweep, run)) WITHOUT ROWID;"
    "CREATE TABLE metrics (run INTEGER NOT NULL REFERENCES runs (id), step INTEGER NOT NULL CHECK (step >= 0),"
    " tokens REAL, wall_seconds REAL, loss REAL, lr REAL, grad_norm REAL, tokens_per_second REAL,"
    " eval_loss REAL, PRIMARY KEY (run, step)) WITHOUT ROWID;"
    "CREATE TABLE position_loss (run INTEGER NOT NULL REFERENCES runs (id), step INTEGER NOT NULL,"
    " position INTEGER NOT NULL, loss REAL, PRIMARY KEY (run, step, position)) WITHOUT ROWID;"
    "CREATE TABLE fits (id INTEGER PRIMARY KEY, created REAL NOT NULL, form TEXT NOT NULL CHECK (form <> ''),"
    " source TEXT NOT NULL DEFAULT '', inputs_json TEXT, params_json TEXT, intervals_json TEXT,"
    " residuals_json TEXT, objective REAL, rmse_log REAL, n_points INTEGER NOT NULL DEFAULT 0);"
    "INSERT INTO sweeps VALUES ('old', 'name: old', 1.0);"
    "INSERT INTO runs (id, sweep, config_json, config_hash, status, attempt, host, created, params, wsfr,"
    " final_train_loss) VALUES (7, 'old', '{\"d\":64}', 'h7', 'done', 1, 'box', 1.0, 1234, 2.5, 3.25);"
    "INSERT INTO sweep_runs VALUES ('old', 7);"
    "INSERT INTO metrics (run, step, loss) VALUES (7, 0, 5.5), (7, 10, 4.5);"
    "PRAGMA user_version = 1;";

static void check_migrated(const char *path) {
    char err[512] = "";
    store *s;
    CHECK(store_open(path, &s, err, sizeof err));
    assert_int_equal(store_initial_version(s), 1);
    assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
    store_run r;
    CHECK(store_run_get(s, 7, &r, err, sizeof err));
    assert_string_equal(r.config_json, "{\"d\":64}");
    assert_string_equal(r.sweep, "old");
    assert_int_equal(r.status, STORE_DONE);
    assert_string_equal(r.run_dir, "");
    assert_true(r.acc.params == 1234 && r.acc.wsfr == 2.5 && r.final_train_loss == 3.25);
    assert_true(isnan(r.final_eval_loss) && isnan(r.acc.tokens));
    store_run_clear(&r);
    store_metric *m;
    size_t n;
    CHECK(store_metrics_list(s, 7, &m, &n, err, sizeof err));
    assert_int_equal(n, 2);
    assert_true(m[1].step == 10 && m[1].loss == 4.5 && isnan(m[1].eval_loss));
    free(m);
    CHECK(store_run_set_dir(s, 7, "runs/7", err, sizeof err));
    CHECK(store_run_get(s, 7, &r, err, sizeof err));
    assert_string_equal(r.run_dir, "runs/7");
    store_run_clear(&r);
    CHECK(store_integrity_check(s, err, sizeof err));
    store_close(s);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'runs_heartbeat'"), 1);
    assert_int_equal(raw_int(path, "PRAGMA application_id"), STORE_APPLICATION_ID);
}

static void test_migrate_from_v1(void **state) {
    scratch *t = *state;
    char sql[8192];
    snprintf(sql, sizeof sql, "PRAGMA application_id = %d; %s", STORE_APPLICATION_ID, v1_schema);
    assert_int_equal(raw_exec(t->db, sql), 0);
    check_migrated(t->db);
}

/* A v1 store built with the sqlite3 CLI has no application id: our tables
 * identify it, and the migration stamps the id. */
static void test_migrate_from_v1_without_application_id(void **state) {
    scratch *t = *state;
    assert_int_equal(raw_exec(t->db, v1_schema), 0);
    check_migrated(t->db);
}

/* Opens path, expects a refusal naming the path and `reason`, and checks the
 * file is byte-for-byte what it was and has grown no journal beside it. */
static void expect_refused(const char *path, const char *reason) {
    fingerprint before = file_fingerprint(path);
    char err[512] = "", wal[512], shm[512];
    snprintf(wal, sizeof wal, "%s-wal", path);
    snprintf(shm, sizeof shm, "%s-shm", path);
    store *s = NULL;
    assert_int_not_equal(store_open(path, &s, err, sizeof err), 0);
    assert_null(s);
    assert_contains(err, path);
    assert_contains(err, reason);
    fingerprint after = file_fingerprint(path);
    assert_true(before.len == after.len && before.hash == after.hash);
    assert_false(file_exists(wal));
    assert_false(file_exists(shm));
}

static void test_refuse_newer_version(void **state) {
    scratch *t = *state;
    char sql[256];
    snprintf(sql, sizeof sql,
             "PRAGMA application_id = %d; CREATE TABLE runs (id INTEGER PRIMARY KEY); PRAGMA user_version = 99;",
             STORE_APPLICATION_ID);
    assert_int_equal(raw_exec(t->db, sql), 0);
    expect_refused(t->db, "schema version 99 is newer");
}

static void test_refuse_foreign_sqlite(void **state) {
    scratch *t = *state;
    assert_int_equal(raw_exec(t->db, "CREATE TABLE photos (id INTEGER, path TEXT); INSERT INTO photos VALUES (1, 'a');"),
                     0);
    expect_refused(t->db, "another program");
    expect_refused(t->db, "photos");

    char other[300];
    snprintf(other, sizeof other, "%s/other.db", t->dir);
    assert_int_equal(raw_exec(other, "PRAGMA application_id = 1234;"), 0);
    assert_true(file_fingerprint(other).len > 0);
    expect_refused(other, "application_id 0x000004d2");
}

static void test_refuse_not_sqlite(void **state) {
    scratch *t = *state;
    char err[256];
    const char text[] = "model:\n  d_model: 128\n";
    assert_int_equal(util_write_file_atomic(t->db, text, sizeof text - 1, err, sizeof err), 0);
    expect_refused(t->db, "not a SQLite database");

    /* The right magic followed by garbage: SQLite itself must reject it. */
    char junk[4096];
    memset(junk, 0x5a, sizeof junk);
    memcpy(junk, "SQLite format 3", 16);
    assert_int_equal(util_write_file_atomic(t->db, junk, sizeof junk, err, sizeof err), 0);
    expect_refused(t->db, "not a readable SQLite database");

    store *s = NULL;
    assert_int_not_equal(store_open(t->dir, &s, err, sizeof err), 0);
    assert_contains(err, "is a directory");
    assert_int_not_equal(store_open("", &s, err, sizeof err), 0);
    assert_contains(err, "empty");
}

/* ---------------------------------------------------------------- runs */

static store *open_fresh(scratch *t) {
    char err[512] = "";
    store *s = NULL;
    CHECK(store_open(t->db, &s, err, sizeof err));
    return s;
}

static store_run_new run_new(const char *json, const char *hash) {
    store_run_new r;
    memset(&r, 0, sizeof r);
    r.config_json = json;
    r.config_hash = hash;
    r.acc.params = 1000;
    r.acc.weight_flops_per_token = 2000;
    r.acc.state_flops_per_token = 500;
    r.acc.wsfr = 4;
    r.acc.tokens = 1e6;
    r.acc.training_flops = 3 * 2500 * 1e6;
    r.acc.params_non_embedding = r.acc.state_dim = r.acc.state_size = NAN;
    return r;
}

static size_t count_runs(store *s, const char *sweep, int status) {
    char err[512] = "";
    store_run_filter f = {sweep, status, 0};
    store_run *v;
    size_t n;
    CHECK(store_runs_list(s, &f, &v, &n, err, sizeof err));
    store_runs_free(v, n);
    return n;
}

static void test_insert_dedupe(void **state) {
    scratch *t = *state;
    store *s = open_fresh(t);
    char err[512] = "";
    CHECK(store_sweep_put(s, "a", "name: a", err, sizeof err));
    CHECK(store_sweep_put(s, "b", "name: b", err, sizeof err));
    store_run_new batch[] = {run_new("{\"n\":1}", "h1"), run_new("{\"n\":2}", "h2"), run_new("{\"n\":1}", "h1")};
    int64_t ids[3];
    size_t n_new;
    CHECK(store_runs_insert(s, "a", batch, 3, ids, &n_new, err, sizeof err));
    assert_int_equal(n_new, 2);
    assert_true(ids[0] == ids[2] && ids[0] != ids[1]);

    store_run_new second[] = {run_new("{\"n\":2}", "h2"), run_new("{\"n\":3}", "h3")};
    int64_t ids2[2];
    CHECK(store_runs_insert(s, "b", second, 2, ids2, &n_new, err, sizeof err));
    assert_int_equal(n_new, 1);
    assert_int_equal(ids2[0], ids[1]);
    assert_int_equal(count_runs(s, "a", -1), 2);
    assert_int_equal(count_runs(s, "b", -1), 2);
    assert_int_equal(count_runs(s, NULL, -1), 3);
    assert_int_equal(count_runs(s, "nope", -1), 0);

    store_run r;
    CHECK(store_run_get(s, ids[1], &r, err, sizeof err));
    assert_string_equal(r.sweep, "a"); /* the first sweep that asked */
    assert_string_equal(r.config_hash, "h2");
    assert_int_equal(r.status, STORE_PENDING);
    assert_int_equal(r.attempt, 0);
    assert_true(r.acc.training_flops == 7.5e9 && r.acc.wsfr == 4 && isnan(r.acc.state_dim));
    assert_true(r.created > 0 && r.started == 0);
    store_run_clear(&r);

    /* A lone `train` run adopted by a sweep later takes its name. */
    store_run_new lone = run_new("{\"n\":4}", "h4");
    int64_t lone_id;
    CHECK(store_runs_insert(s, "", &lone, 1, &lone_id, &n_new, err, sizeof err));
    CHECK(store_run_get(s, lone_id, &r, err, sizeof err));
    assert_string_equal(r.sweep, "");
    store_run_clear(&r);
    CHECK(store_runs_insert(s, "b", &lone, 1, NULL, &n_new, err, sizeof err));
    assert_int_equal(n_new, 0);
    CHECK(store_run_get(s, lone_id, &r, err, sizeof err));
    assert_string_equal(r.sweep, "b");
    store_run_clear(&r);
    store_close(s);
}

static void test_insert_bad_inputs(void **state) {
    scratch *t = *state;
    store *s = open_fresh(t);
    char err[512] = "";
    CHECK(store_sweep_put(s, "a", "name: a", err, sizeof err));
    store_run_new ok = run_new("{\"n\":1}", "h1"), bad_json = run_new("{\"n\":", "h2"),
                  no_hash = run_new("{}", ""), no_json = run_new(NULL, "h3");
    size_t n_new = 99;
    assert_int_not_equal(store_runs_insert(s, "ghost", &ok, 1, NULL, &n_new, err, sizeof err), 0);
    assert_contains(err, "sweep 'ghost' does not exist");
    assert_int_equal(n_new, 0);
    /* One transaction: the good run before the bad one is not kept either. */
    store_run_new batch[] = {ok, bad_json};
    assert_int_not_equal(store_runs_insert(s, "a", batch, 2, NULL, &n_new, err, sizeof err), 0);
    assert_contains(err, "hash h2");
    assert_contains(err, "not valid JSON");
    assert_int_equal(count_runs(s, NULL, -1), 0);
    assert_int_not_equal(store_runs_insert(s, "a", &no_hash, 1, NULL, NULL, err, sizeof err), 0);
    assert_contains(err, "empty config hash");
    assert_int_not_equal(store_runs_insert(s, "a", &no_json, 1, NULL, NULL, err, sizeof err), 0);
    assert_contains(err, "no config JSON");
    store_run_new clash = run_new("{\"n\":9}", "h1");
    CHECK(store_runs_insert(s, "a", &ok, 1, NULL, NULL, err, sizeof err));
    assert_int_not_equal(store_runs_insert(s, "a", &clash, 1, NULL, NULL, err, sizeof err), 0);
    assert_contains(err, "config hash h1 is already stored for a different config");
    size_t n_cancelled;
    assert_int_not_equal(store_sweep_cancel_pending(s, "ghost", &n_cancelled, err, sizeof err), 0);
    assert_contains(err, "cannot cancel sweep 'ghost': no such sweep");
    assert_int_equal(count_runs(s, NULL, -1), 1);
    assert_int_not_equal(store_sweep_put(s, "", "x", err, sizeof err), 0);
    assert_contains(err, "non-empty name");
    assert_int_equal(count_runs(s, NULL, -1), 1);
    store_run r;
    assert_int_not_equal(store_run_get(s, 42, &r, err, sizeof err), 0);
    assert_contains(err, "no run with id 42");
    store_run_filter f = {NULL, 17, 0};
    store_run *v;
    size_t n;
    assert_int_not_equal(store_runs_list(s, &f, &v, &n, err, sizeof err), 0);
    assert_contains(err, "not a run status");
    store_close(s);
}

static void assert_run(store *s, int64_t id, store_status status, int attempt) {
    char err[512] = "";
    store_run r;
    CHECK(store_run_get(s, id, &r, err, sizeof err));
    if (r.status != status || r.attempt != attempt)
        fail_msg("run %lld: %s attempt %d, want %s attempt %d", (long long)id, store_status_name(r.status),
                 r.attempt, store_status_name(status), attempt);
    store_run_clear(&r);
}

static void test_state_machine(void **state) {
    scratch *t = *state;
    store *s = open_fresh(t);
    char err[512] = "";
    int64_t id = -1;
    CHECK(store_run_claim(s, NULL, "h", "cpu", &id, err, sizeof err));
    assert_int_equal(id, 0); /* nothing pending */
    CHECK(store_sweep_put(s, "a", "name: a", err, sizeof err));
    store_run_new batch[] = {run_new("{\"n\":1}", "h1"), run_new("{\"n\":2}", "h2"), run_new("{\"n\":3}", "h3")};
    int64_t ids[3];
    CHECK(store_runs_insert(s, "a", batch, 3, ids, NULL, err, sizeof err));

    CHECK(store_run_claim(s, "a", "host1", "cpu", &id, err, sizeof err));
    assert_int_equal(id, ids[0]); /* the oldest pending */
    store_run r;
    CHECK(store_run_get(s, id, &r, err, sizeof err));
    assert_true(r.status == STORE_RUNNING && r.attempt == 1 && r.started > 0 && r.heartbeat > 0);
    assert_string_equal(r.host, "host1");
    assert_string_equal(r.device, "cpu");
    store_run_clear(&r);
    assert_int_not_equal(store_run_claim_id(s, ids[0], "x", "cpu", err, sizeof err), 0);
    assert_contains(err, "it is running, not pending");
    CHECK(store_run_heartbeat(s, ids[0], err, sizeof err));
    CHECK(store_run_finish(s, ids[0], 2.5, NAN, 3.0, err, sizeof err));
    CHECK(store_run_get(s, ids[0], &r, err, sizeof err));
    assert_true(r.status == STORE_DONE && r.final_train_loss == 2.5 && isnan(r.final_eval_loss) &&
                r.best_context_loss == 3.0 && r.finished >= r.started);
    store_run_clear(&r);
    assert_int_not_equal(store_run_heartbeat(s, ids[0], err, sizeof err), 0);
    assert_contains(err, "it is done, not running");
    assert_int_not_equal(store_run_requeue(s, ids[0], err, sizeof err), 0);
    assert_int_not_equal(store_run_finish(s, ids[1], 1, 1, 1, err, sizeof err), 0);
    assert_contains(err, "it is pending, not running");

    /* Claims are scoped by sweep. */
    CHECK(store_run_claim(s, "other", "h", "cpu", &id, err, sizeof err));
    assert_int_equal(id, 0);
    CHECK(store_run_claim(s, NULL, "h", "cpu", &id, err, sizeof err));
    assert_int_equal(id, ids[1]);
    CHECK(store_run_end(s, ids[1], STORE_DIVERGED, "loss became NaN at step 40", err, sizeof err));
    CHECK(store_run_get(s, ids[1], &r, err, sizeof err));
    assert_int_equal(r.status, STORE_DIVERGED);
    assert_string_equal(r.error, "loss became NaN at step 40");
    store_run_clear(&r);
    assert_int_not_equal(store_run_end(s, ids[1], STORE_DONE, NULL, err, sizeof err), 0);
    assert_contains(err, "expected failed, diverged or cancelled");

    /* Requeue keeps the attempt; the next claim counts it. */
    CHECK(store_run_requeue(s, ids[1], err, sizeof err));
    assert_run(s, ids[1], STORE_PENDING, 1);
    CHECK(store_run_claim_id(s, ids[1], "h", "cpu", err, sizeof err));
    assert_run(s, ids[1], STORE_RUNNING, 2);

    /* Heartbeat expiry: a fresh heartbeat is not expired ... */
    size_t n = 99;
    CHECK(store_requeue_expired(s, 3600, 3, &n, err, sizeof err));
    assert_int_equal(n, 0);
    /* ... an old one is requeued while attempts remain, then failed. */
    usleep(20000);
    CHECK(store_requeue_expired(s, 0.001, 3, &n, err, sizeof err));
    assert_int_equal(n, 1);
    assert_run(s, ids[1], STORE_PENDING, 2);
    assert_int_not_equal(store_run_heartbeat(s, ids[1], err, sizeof err), 0); /* the worker lost it */
    CHECK(store_run_claim_id(s, ids[1], "h", "cpu", err, sizeof err));
    usleep(20000);
    CHECK(store_requeue_expired(s, 0.001, 3, &n, err, sizeof err));
    assert_int_equal(n, 0);
    assert_run(s, ids[1], STORE_FAILED, 3);
    CHECK(store_run_get(s, ids[1], &r, err, sizeof err));
    assert_string_equal(r.error, "heartbeat expired");
    store_run_clear(&r);
    assert_int_not_equal(store_requeue_expired(s, -1, 3, &n, err, sizeof err), 0);
    assert_int_not_equal(store_requeue_expired(s, 10, 0, &n, err, sizeof err), 0);

    /* Cancel the pending rest of the sweep. */
    CHECK(store_sweep_cancel_pending(s, "a", &n, err, sizeof err));
    assert_int_equal(n, 1);
    assert_run(s, ids[2], STORE_CANCELLED, 0);
    assert_int_equal(count_runs(s, "a", STORE_CANCELLED), 1);
    assert_int_equal(count_runs(s, "a", STORE_PENDING), 0);
    size_t counts[STORE_STATUS_COUNT];
    CHECK(store_run_counts(s, "a", counts, err, sizeof err));
    size_t want[STORE_STATUS_COUNT] = {[STORE_DONE] = 1, [STORE_FAILED] = 1, [STORE_CANCELLED] = 1};
    assert_memory_equal(counts, want, sizeof want);
    CHECK(store_run_counts(s, "nothing", counts, err, sizeof err));
    assert_int_equal(counts[STORE_DONE] + counts[STORE_FAILED] + counts[STORE_CANCELLED], 0);
    CHECK(store_run_counts(s, NULL, counts, err, sizeof err));
    assert_int_equal(counts[STORE_DONE], 1);

    assert_int_not_equal(store_run_claim_id(s, 999, "h", "cpu", err, sizeof err), 0);
    assert_contains(err, "no such run");
    assert_int_not_equal(store_run_set_dir(s, 999, "x", err, sizeof err), 0);
    store_close(s);
}

/* The trainer's report (store_run_set_device): "cpu" stays "cpu"; a GPU claim keeps its
 * index and gains the precision, replaced (not appended) on a later report; a "cpu"
 * claim that trained on CUDA (a standalone train) becomes "cuda PRECISION". */
static void test_set_device(void **state) {
    scratch *t = *state;
    store *s = open_fresh(t);
    char err[512] = "";
    store_run_new batch[] = {run_new("{\"n\":1}", "h1"), run_new("{\"n\":2}", "h2")};
    int64_t ids[2];
    CHECK(store_runs_insert(s, NULL, batch, 2, ids, NULL, err, sizeof err));
    CHECK(store_run_claim_id(s, ids[0], "h", "cpu", err, sizeof err));
    CHECK(store_run_claim_id(s, ids[1], "h", "cuda:3", err, sizeof err));
    const struct { int run; const char *dev, *prec, *want; } steps[] = {
        {0, "cpu", "fp32", "cpu"}, {0, "cuda", "bf16", "cuda bf16"}, {0, "cuda", "fp32", "cuda fp32"},
        {1, "cuda", "bf16", "cuda:3 bf16"}, {1, "cuda", "fp32", "cuda:3 fp32"}};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        store_run r;
        CHECK(store_run_set_device(s, ids[steps[i].run], steps[i].dev, steps[i].prec, err, sizeof err));
        CHECK(store_run_get(s, ids[steps[i].run], &r, err, sizeof err));
        assert_string_equal(r.device, steps[i].want);
        store_run_clear(&r);
    }
    assert_int_not_equal(store_run_set_device(s, 999, "cpu", "fp32", err, sizeof err), 0);
    store_close(s);
}

static void test_status_names(void **state) {
    (void)state;
    for (int i = 0; i < STORE_STATUS_COUNT; i++) {
        store_status st;
        assert_int_equal(store_status_parse(store_status_name((store_status)i), &st), 0);
        assert_int_equal(st, i);
    }
    store_status st;
    assert_int_equal(store_status_parse("finished", &st), -1);
    assert_int_equal(store_status_parse(NULL, &st), -1);
}

/* ------------------------------------------------------- metrics, fits */

static void test_metrics_round_trip(void **state) {
    scratch *t = *state;
    store *s = open_fresh(t);
    char err[512] = "";
    store_run_new rn = run_new("{}", "h");
    int64_t run;
    CHECK(store_runs_insert(s, "", &rn, 1, &run, NULL, err, sizeof err));
    store_metric rows[20];
    for (int i = 0; i < 20; i++)
        rows[i] = (store_metric){i * 10, i * 1024.0, i * 0.5, 5.0 - 0.1 * i, 1e-3, 0.7, 3e4, i % 5 ? NAN : 4.2};
    rows[3].loss = NAN;
    CHECK(store_metrics_append(s, run, rows, 20, err, sizeof err));
    /* A resumed run re-logs steps 150 and 190: replaced, not duplicated. */
    store_metric again[2] = {rows[15], rows[19]};
    again[0].loss = again[1].loss = 1.25;
    CHECK(store_metrics_append(s, run, again, 2, err, sizeof err));
    store_metric *got;
    size_t n;
    CHECK(store_metrics_list(s, run, &got, &n, err, sizeof err));
    assert_int_equal(n, 20);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(got[i].step, i * 10);
        assert_true(got[i].tokens == rows[i].tokens && got[i].lr == 1e-3 && got[i].tokens_per_second == 3e4);
        double want = i == 15 || i == 19 ? 1.25 : rows[i].loss;
        assert_true(isnan(want) ? isnan(got[i].loss) : got[i].loss == want);
        assert_true(i % 5 ? isnan(got[i].eval_loss) : got[i].eval_loss == 4.2);
    }
    free(got);

    store_metric bad[2] = {rows[0], rows[1]};
    bad[0].step = 1000;
    bad[1].step = -1;
    assert_int_not_equal(store_metrics_append(s, run, bad, 2, err, sizeof err), 0);
    assert_contains(err, "step -1 is negative");
    assert_int_not_equal(store_metrics_append(s, run + 1, rows, 1, err, sizeof err), 0);
    assert_contains(err, "no run with id");
    CHECK(store_metrics_list(s, run, &got, &n, err, sizeof err));
    assert_int_equal(n, 20); /* the bad batch left nothing */
    free(got);

    store_position_loss pl[] = {{100, 1, 5.0}, {100, 2, 4.0}, {100, 4, NAN}, {200, 1, 4.5}};
    CHECK(store_position_loss_put(s, run, pl, 4, err, sizeof err));
    pl[0].loss = 4.75;
    CHECK(store_position_loss_put(s, run, pl, 1, err, sizeof err));
    store_position_loss *pg;
    CHECK(store_position_loss_list(s, run, &pg, &n, err, sizeof err));
    assert_int_equal(n, 4);
    assert_true(pg[0].loss == 4.75 && pg[1].position == 2 && isnan(pg[2].loss) && pg[3].step == 200);
    free(pg);
    store_position_loss neg = {1, -2, 1.0};
    assert_int_not_equal(store_position_loss_put(s, run, &neg, 1, err, sizeof err), 0);
    assert_contains(err, "must be >= 0");
    store_close(s);
}

static void test_fits_round_trip(void **state) {
    scratch *t = *state;
    store *s = open_fresh(t);
    char err[512] = "";
    store_fit got;
    assert_int_not_equal(store_fit_get(s, 0, &got, err, sizeof err), 0);
    assert_contains(err, "no fits stored yet");
    store_fit f = {0, 0, "powerlaw", "sweep:demo", "{\"x\":\"C\"}", "{\"E\":1.5,\"A\":400,\"a\":0.3}",
                   "{\"a\":[0.25,0.35]}", "[0.01,-0.02]", 1.5e-4, 0.012, 12, "weak",
                   "{\"verdict\":\"weak\",\"reasons\":[\"a spans 3x\"]}"};
    int64_t id1, id2;
    CHECK(store_fit_insert(s, &f, &id1, err, sizeof err));
    store_fit g = {0, 0, "chinchilla", NULL, NULL, "{}", NULL, NULL, NAN, NAN, 3, NULL, NULL};
    CHECK(store_fit_insert(s, &g, &id2, err, sizeof err));
    assert_true(id2 > id1);
    CHECK(store_fit_get(s, 0, &got, err, sizeof err));
    assert_int_equal(got.id, id2);
    assert_string_equal(got.form, "chinchilla");
    assert_string_equal(got.source, "");
    assert_null(got.inputs_json);
    assert_null(got.verdict);
    assert_true(isnan(got.objective) && got.n_points == 3);
    store_fit_clear(&got);
    CHECK(store_fit_get(s, id1, &got, err, sizeof err));
    assert_string_equal(got.form, "powerlaw");
    assert_string_equal(got.source, "sweep:demo");
    assert_string_equal(got.params_json, f.params_json);
    assert_string_equal(got.intervals_json, f.intervals_json);
    assert_string_equal(got.residuals_json, f.residuals_json);
    assert_true(got.objective == 1.5e-4 && got.rmse_log == 0.012 && got.n_points == 12 && got.created > 0);
    assert_string_equal(got.verdict, "weak");
    assert_string_equal(got.diagnostics_json, f.diagnostics_json);
    store_fit_clear(&got);
    assert_int_not_equal(store_fit_get(s, 999, &got, err, sizeof err), 0);
    assert_contains(err, "no fit with id 999");
    store_fit bad = f;
    bad.params_json = "{E: 1}";
    assert_int_not_equal(store_fit_insert(s, &bad, NULL, err, sizeof err), 0);
    assert_contains(err, "params_json is not valid JSON");
    bad = f;
    bad.verdict = "fine";
    assert_int_not_equal(store_fit_insert(s, &bad, NULL, err, sizeof err), 0);
    assert_contains(err, "verdict 'fine' is not ok, weak or unconstrained");
    bad = f;
    bad.form = "";
    assert_int_not_equal(store_fit_insert(s, &bad, NULL, err, sizeof err), 0);
    assert_contains(err, "needs a form");
    store_close(s);
}

static void test_sweeps(void **state) {
    scratch *t = *state;
    store *s = open_fresh(t);
    char err[512] = "", *spec;
    CHECK(store_sweep_get(s, "b", &spec, err, sizeof err));
    assert_null(spec);
    CHECK(store_sweep_put(s, "b", "v: 1", err, sizeof err));
    CHECK(store_sweep_put(s, "a", "v: 2", err, sizeof err));
    CHECK(store_sweep_put(s, "b", "v: 3", err, sizeof err));
    CHECK(store_sweep_get(s, "b", &spec, err, sizeof err));
    assert_string_equal(spec, "v: 3");
    free(spec);
    char **names;
    size_t n;
    CHECK(store_sweeps_list(s, &names, &n, err, sizeof err));
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "a");
    assert_string_equal(names[1], "b");
    store_strings_free(names, n);
    assert_int_not_equal(store_sweep_put(s, "c", NULL, err, sizeof err), 0);
    assert_contains(err, "no spec text");
    store_close(s);
}

/* Members of a sweep, ascending, as "1,2,3". */
static void members(store *s, const char *sweep, char *out, size_t len) {
    store_run_filter f = {.sweep = sweep, .status = -1};
    store_run *runs;
    size_t n;
    char err[512] = "";
    CHECK(store_runs_list(s, &f, &runs, &n, err, sizeof err));
    out[0] = 0;
    for (size_t i = 0; i < n; i++)
        snprintf(out + strlen(out), len - strlen(out), "%s%lld", i ? "," : "", (long long)runs[i].id);
    store_runs_free(runs, n);
}

/* Spec versions: a changed text is the next version, an unchanged one is not; runs
 * the plan leaves out leave the membership (a pending one no other sweep holds is
 * cancelled), come back when planned again; a preview writes nothing. */
static void test_sweep_versions(void **state) {
    scratch *t = *state;
    store *s = open_fresh(t);
    char err[512] = "", got[64];
    CHECK(store_sweep_put(s, "a", "v: 1", err, sizeof err));
    CHECK(store_sweep_put(s, "b", "name: b", err, sizeof err));
    store_run_new batch[] = {run_new("{\"n\":1}", "h1"), run_new("{\"n\":2}", "h2"), run_new("{\"n\":3}", "h3")};
    int64_t ids[3];
    size_t n_new;
    CHECK(store_runs_insert(s, "a", batch, 3, ids, &n_new, err, sizeof err));
    CHECK(store_runs_insert(s, "b", batch + 2, 1, ids + 2, &n_new, err, sizeof err)); /* h3 is b's too */

    const char *plan2[] = {"h1", "h4"};
    store_sweep_change u;
    CHECK(store_sweep_update(s, "a", "v: 2", plan2, 2, 0, &u, err, sizeof err)); /* preview */
    assert_true(u.changed && u.prev_version == 1 && u.version == 2 && u.prev_created > 0);
    assert_int_equal(u.n_dropped, 2);
    assert_true(u.dropped[0] == ids[1] && u.dropped[1] == ids[2]);
    store_sweep_update_clear(&u);
    store_sweep_version *v;
    size_t nv;
    CHECK(store_sweep_versions(s, "a", &v, &nv, err, sizeof err));
    assert_int_equal(nv, 1);
    store_sweep_versions_free(v, nv);
    members(s, "a", got, sizeof got);
    assert_string_equal(got, "1,2,3");

    CHECK(store_sweep_update(s, "a", "v: 2", plan2, 2, 1, &u, err, sizeof err));
    assert_true(u.changed && u.version == 2 && u.n_dropped == 2);
    store_sweep_update_clear(&u);
    members(s, "a", got, sizeof got);
    assert_string_equal(got, "1");
    int64_t *dropped;
    int *dv;
    size_t nd;
    CHECK(store_sweep_dropped(s, "a", &dropped, &dv, &nd, err, sizeof err));
    assert_true(nd == 2 && dropped[0] == ids[1] && dv[0] == 2 && dropped[1] == ids[2] && dv[1] == 2);
    free(dropped), free(dv);
    store_run r;
    CHECK(store_run_get(s, ids[1], &r, err, sizeof err));
    assert_int_equal(r.status, STORE_CANCELLED); /* pending, and no other sweep plans it */
    assert_string_equal(r.error, "not planned by sweep a since spec version 2");
    store_run_clear(&r);
    CHECK(store_run_get(s, ids[2], &r, err, sizeof err));
    assert_int_equal(r.status, STORE_PENDING); /* sweep b still plans it */
    store_run_clear(&r);

    CHECK(store_sweep_update(s, "a", "v: 2", plan2, 2, 1, &u, err, sizeof err)); /* unchanged */
    assert_true(!u.changed && u.version == 2 && u.prev_version == 2 && u.n_dropped == 0);
    store_sweep_update_clear(&u);

    const char *plan3[] = {"h1", "h2"};
    CHECK(store_sweep_update(s, "a", "v: 1", plan3, 2, 1, &u, err, sizeof err)); /* back to the first text */
    assert_true(u.changed && u.version == 3 && u.n_dropped == 0);
    store_sweep_update_clear(&u);
    members(s, "a", got, sizeof got);
    assert_string_equal(got, "1,2");
    CHECK(store_sweep_dropped(s, "a", &dropped, &dv, &nd, err, sizeof err));
    assert_true(nd == 1 && dropped[0] == ids[2] && dv[0] == 2);
    free(dropped), free(dv);
    CHECK(store_sweep_versions(s, "a", &v, &nv, err, sizeof err));
    assert_int_equal(nv, 3);
    assert_string_equal(v[0].spec, "v: 1");
    assert_string_equal(v[1].spec, "v: 2");
    assert_string_equal(v[2].spec, "v: 1");
    assert_true(v[2].version == 3 && v[0].created <= v[2].created);
    store_sweep_versions_free(v, nv);
    CHECK(store_integrity_check(s, err, sizeof err));
    store_close(s);
}

/* Scheduler claims: a live holder refuses, a dead one on this host is taken over,
 * one elsewhere only once its heartbeat is stale; release and heartbeat. */
static int alive_if_odd(void *ctx, int64_t pid) {
    (void)ctx;
    return pid % 2 == 1;
}

static void test_scheduler_claims(void **state) {
    scratch *t = *state;
    store *s = open_fresh(t);
    char err[512] = "";
    int claimed;
    store_scheduler h;
    CHECK(store_scheduler_claim(s, "sw", "a", 11, "runs", 60, alive_if_odd, NULL, &claimed, &h, err, sizeof err));
    assert_true(claimed);
    CHECK(store_scheduler_claim(s, "sw", "a", 11, "runs", 60, alive_if_odd, NULL, &claimed, &h, err, sizeof err));
    assert_true(claimed); /* the holder itself again */
    CHECK(store_scheduler_claim(s, "sw", "a", 13, "other", 60, alive_if_odd, NULL, &claimed, &h, err, sizeof err));
    assert_false(claimed);
    assert_string_equal(h.host, "a");
    assert_int_equal(h.pid, 11);
    assert_string_equal(h.runs_dir, "runs");
    CHECK(store_scheduler_claim(s, "sw", "b", 14, "runs", 60, alive_if_odd, NULL, &claimed, &h, err, sizeof err));
    assert_false(claimed); /* another host: only a stale heartbeat lets it in */
    CHECK(store_scheduler_claim(s, "other", "a", 13, "runs", 60, alive_if_odd, NULL, &claimed, &h, err, sizeof err));
    assert_true(claimed); /* claims are per sweep */
    CHECK(store_scheduler_heartbeat(s, "sw", "a", 11, err, sizeof err));
    assert_int_not_equal(store_scheduler_heartbeat(s, "sw", "a", 12, err, sizeof err), 0);
    CHECK(store_scheduler_release(s, "sw", "a", 11, err, sizeof err));
    int found;
    CHECK(store_scheduler_get(s, "sw", &h, &found, err, sizeof err));
    assert_false(found);
    /* a dead holder (even pid) on this host is taken over */
    CHECK(store_scheduler_claim(s, "sw", "a", 20, "runs", 60, alive_if_odd, NULL, &claimed, &h, err, sizeof err));
    assert_true(claimed);
    CHECK(store_scheduler_claim(s, "sw", "a", 21, "runs", 60, alive_if_odd, NULL, &claimed, &h, err, sizeof err));
    assert_true(claimed);
    /* from another host once the heartbeat is older than stale_s */
    assert_int_equal(raw_exec(t->db, "UPDATE schedulers SET heartbeat = heartbeat - 100"), 0);
    CHECK(store_scheduler_claim(s, "sw", "b", 22, "runs", 60, alive_if_odd, NULL, &claimed, &h, err, sizeof err));
    assert_true(claimed);
    store_close(s);
}

/* The store's identity exists from creation, is random and survives reopening;
 * --retry-failed's requeue resets attempts of failed runs only. */
static void test_store_id_and_retry(void **state) {
    scratch *t = *state;
    store *s = open_fresh(t);
    char err[512] = "", id[64];
    snprintf(id, sizeof id, "%s", store_id(s));
    assert_int_equal(strlen(id), 16);
    store_close(s);
    CHECK(store_open(t->db, &s, err, sizeof err));
    assert_string_equal(store_id(s), id);
    CHECK(store_sweep_put(s, "sw", "name: sw", err, sizeof err));
    store_run_new rn[2] = {{.config_json = "{\"a\":1}", .config_hash = "h1"},
                           {.config_json = "{\"a\":2}", .config_hash = "h2"}};
    int64_t ids[2];
    size_t n_new, n;
    CHECK(store_runs_insert(s, "sw", rn, 2, ids, &n_new, err, sizeof err));
    int64_t got;
    CHECK(store_run_claim(s, "sw", "h", "cpu", &got, err, sizeof err));
    CHECK(store_run_end(s, got, STORE_FAILED, "boom", err, sizeof err));
    CHECK(store_run_claim(s, "sw", "h", "cpu", &got, err, sizeof err));
    CHECK(store_sweep_requeue_failed(s, "sw", &n, err, sizeof err));
    assert_int_equal(n, 1);
    store_run r;
    CHECK(store_run_get(s, ids[0], &r, err, sizeof err));
    assert_int_equal(r.status, STORE_PENDING);
    assert_int_equal(r.attempt, 0);
    assert_string_equal(r.error, "");
    store_run_clear(&r);
    CHECK(store_run_get(s, ids[1], &r, err, sizeof err));
    assert_int_equal(r.status, STORE_RUNNING);
    store_run_clear(&r);
    assert_int_not_equal(store_sweep_requeue_failed(s, "nope", &n, err, sizeof err), 0);
    store_close(s);
    scratch other;
    assert_int_equal(scratch_make(&other), 0);
    CHECK(store_open(other.db, &s, err, sizeof err));
    assert_string_not_equal(store_id(s), id);
    store_close(s);
    scratch_remove(&other);
}

/* A stored fit's inputs come back through SQLite's JSON functions: the top-level members
 * only (a nested "form", "x_cols" or "theta" written first never stands in for them), names
 * in UTF-8 whether written raw or as \u escapes (surrogate pairs too), numbers bit for bit. */
static void test_fit_inputs_read(void **state) {
    scratch *t = *state;
    store *s;
    char err[512];
    assert_int_equal(store_open(t->db, &s, err, sizeof err), 0);
    const char *json =
        "{\"grid\": {\"form\": \"powerlaw\", \"x_cols\": [\"wrong\"], \"theta\": [9, 9, 9], \"source\": \"wrong\"},"
        " \"diagnostics\": {\"x_span\": {\"Taille \\u00e9\": {\"x_cols\": [\"nested\"]}}},"
        " \"source\": \"csv:donn\\u00e9es/\xe6\xbc\xa2.csv\", \"form\": \"additive\","
        " \"x_cols\": [\"Taille \xc3\xa9\", \"\\u6f22\\ud83d\\ude00\"], \"y_col\": \"perte \xc3\xa9\","
        " \"theta\": [0.30000000000000004, -1e-300, 1.7976931348623157e308, 2, 3],"
        " \"boot_theta\": [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]}";
    store_fit_inputs in;
    if (store_fit_inputs_read(s, json, &in, err, sizeof err)) fail_msg("%s", err);
    assert_string_equal(in.form, "additive");
    assert_string_equal(in.source, "csv:donn\xc3\xa9" "es/\xe6\xbc\xa2.csv");
    assert_string_equal(in.y_col, "perte \xc3\xa9");
    assert_int_equal(in.n_x, 2);
    assert_string_equal(in.x_cols[0], "Taille \xc3\xa9");
    assert_string_equal(in.x_cols[1], "\xe6\xbc\xa2\xf0\x9f\x98\x80");
    assert_int_equal(in.n_theta, 5);
    const double theta[5] = {0.30000000000000004, -1e-300, 1.7976931348623157e308, 2, 3};
    assert_memory_equal(in.theta, theta, sizeof theta);
    assert_int_equal(in.n_boot_values, 10);
    assert_true(in.boot_theta[9] == 10);
    store_fit_inputs_free(&in);
    /* a nested member of the same name is read by its own path, never by another's */
    double v;
    assert_int_equal(store_json_number(s, json, "$.grid.theta[1]", &v, err, sizeof err), 0);
    assert_true(v == 9);
    assert_int_not_equal(store_json_number(s, json, "$.form", &v, err, sizeof err), 0);
    /* without the top-level members it is not a law, however many nested ones it holds */
    assert_int_not_equal(store_fit_inputs_read(s, "{\"grid\": {\"form\": \"powerlaw\", \"x_cols\": [\"N\"], "
                                                  "\"theta\": [1, 2, 3]}}", &in, err, sizeof err), 0);
    assert_non_null(strstr(err, "$.form"));
    assert_int_not_equal(store_fit_inputs_read(s, "{\"form\": ", &in, err, sizeof err), 0);
    store_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_schema, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_from_v1, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_from_v1_without_application_id, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_refuse_newer_version, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_refuse_foreign_sqlite, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_refuse_not_sqlite, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_insert_dedupe, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_insert_bad_inputs, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_state_machine, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_set_device, scratch_setup, scratch_teardown),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test_setup_teardown(test_metrics_round_trip, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_fits_round_trip, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_sweeps, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_sweep_versions, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_scheduler_claims, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_store_id_and_retry, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_fit_inputs_read, scratch_setup, scratch_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
