/* sweep/slurm_queue: Slurm's queue as the coordinator (slurm.c), `sweep status` and `sweep
 * cancel` (sched_shared.c) see it: squeue (sweep_slurm_states), scancel (sweep_slurm_cancel),
 * and ingesting what finished tasks wrote (sweep_slurm_ingest). Apart from slurm.c so that the
 * schedulers' shared code can ask Slurm without depending on the backend that depends on it:
 * this file needs only the store, the spec reader and sched_failures.c. External programs
 * are started with posix_spawnp, never through a shell. */
#include "sweep/sweep_internal.h"

#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"

extern char **environ;

/* Runs argv (PATH lookup), capturing stdout (and stderr) into out; returns the exit status or -1. */
int sweep_spawn_capture(char *const argv[], util_buf *out) {
    int fds[2];
    if (pipe(fds)) return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc) {
        close(fds[0]);
        util_buf_printf(out, "cannot run %s: %s", argv[0], strerror(rc));
        return -1;
    }
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0) util_buf_append(out, buf, (size_t)n);
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int sweep_run_file_text(const char *dir, const char *name, char **text) {
    char path[4300];
    size_t len;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return util_read_file(path, text, &len, NULL, 0);
}

/* "JOB_TASK" of a run submitted to Slurm (RUN_DIR/slurm_job), or "" when it was not. */
static void slurm_job_of(const char *dir, char *out, size_t outlen) {
    char *t;
    out[0] = 0;
    if (sweep_run_file_text(dir, "slurm_job", &t)) return;
    snprintf(out, outlen, "%.*s", (int)strcspn(t, "\n"), t);
    free(t);
}

/* ---- ingest ------------------------------------------------------------------- */

/* Column index of each wanted name in a TSV header, -1 when missing. */
static void header_columns(char *header, const char *const *names, int *cols, int n) {
    for (int k = 0; k < n; k++) cols[k] = -1;
    int c = 0;
    for (char *tok = strtok(header, "\t\r"); tok; tok = strtok(NULL, "\t\r"), c++)
        for (int k = 0; k < n; k++)
            if (!strcmp(tok, names[k])) cols[k] = c;
}

/* Splits a TSV line into at most max fields (in place). */
static int fields(char *line, char **f, int max) {
    int n = 0;
    for (char *p = line; n < max;) {
        f[n++] = p;
        p = strchr(p, '\t');
        if (!p) break;
        *p++ = 0;
    }
    return n;
}

static double field_num(char **f, int n, int col) {
    if (col < 0 || col >= n || !*f[col]) return NAN;
    return strtod(f[col], NULL);
}

/* Reads DIR/NAME, a TSV with a header, into a row-major table of the named
 * columns (NAN where a column or value is missing). Rows whose first n_keys
 * columns are not all numbers are skipped: a killed task may leave a torn last
 * line. A missing file is an empty table. */
static int read_tsv(const char *dir, const char *name, const char *const *names, int n_cols, int n_keys,
                    double **table, size_t *n_rows, char *err, size_t errlen) {
    *table = NULL;
    *n_rows = 0;
    char *text;
    if (sweep_run_file_text(dir, name, &text)) return 0;
    size_t n = 0, cap = 0;
    int cols[16];
    char *save, *line = strtok_r(text, "\n", &save);
    if (line) header_columns(line, names, cols, n_cols);
    while ((line = strtok_r(NULL, "\n", &save))) {
        char *f[16];
        int nf = fields(line, f, 16);
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            double *g = realloc(*table, cap * (size_t)n_cols * sizeof *g);
            if (!g) {
                free(*table), free(text);
                *table = NULL;
                return util_err(err, errlen, "%s/%s: out of memory", dir, name);
            }
            *table = g;
        }
        double *row = *table + n * (size_t)n_cols;
        int keyed = 1;
        for (int k = 0; k < n_cols; k++) {
            row[k] = field_num(f, nf, cols[k]);
            if (k < n_keys && !isfinite(row[k])) keyed = 0;
        }
        n += (size_t)keyed;
    }
    free(text);
    *n_rows = n;
    return 0;
}

static int ingest_metrics(store *st, int64_t id, const char *dir, char *err, size_t errlen) {
    static const char *const names[] = {"step", "tokens", "wall_seconds", "loss", "lr", "grad_norm",
                                        "tokens_per_second", "eval_loss"};
    double *t;
    size_t n;
    if (read_tsv(dir, "metrics.tsv", names, 8, 1, &t, &n, err, errlen)) return -1;
    store_metric *rows = n ? malloc(n * sizeof *rows) : NULL;
    if (n && !rows) {
        free(t);
        return util_err(err, errlen, "%s/metrics.tsv: out of memory", dir);
    }
    for (size_t i = 0; i < n; i++) {
        const double *r = t + i * 8;
        rows[i] = (store_metric){(int64_t)r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]};
    }
    int rc = n ? store_metrics_append(st, id, rows, n, err, errlen) : 0;
    free(rows);
    free(t);
    return rc;
}

static int ingest_positions(store *st, int64_t id, const char *dir, char *err, size_t errlen) {
    static const char *const names[] = {"step", "position", "loss"};
    double *t;
    size_t n;
    if (read_tsv(dir, "position_loss.tsv", names, 3, 2, &t, &n, err, errlen)) return -1;
    store_position_loss *rows = n ? malloc(n * sizeof *rows) : NULL;
    if (n && !rows) {
        free(t);
        return util_err(err, errlen, "%s/position_loss.tsv: out of memory", dir);
    }
    for (size_t i = 0; i < n; i++) {
        const double *r = t + i * 3;
        rows[i] = (store_position_loss){(int64_t)r[0], (int64_t)r[1], r[2]};
    }
    int rc = n ? store_position_loss_put(st, id, rows, n, err, errlen) : 0;
    free(rows);
    free(t);
    return rc;
}

/* key<TAB>value lines of result.tsv */
static void result_value(const char *text, const char *key, char *out, size_t outlen) {
    out[0] = 0;
    size_t k = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (!strncmp(p, key, k) && p[k] == '\t') {
            snprintf(out, outlen, "%.*s", (int)strcspn(p + k + 1, "\n"), p + k + 1);
            return;
        }
}

static double result_num(const char *text, const char *key) {
    char v[64];
    result_value(text, key, v, sizeof v);
    return *v ? strtod(v, NULL) : NAN;
}

/* One run: returns 1 when its result was ingested (the run left `running`). */
static int ingest_run(store *st, const store_run *r, int retries, char *err, size_t errlen) {
    char *result;
    if (sweep_run_file_text(r->run_dir, "result.tsv", &result)) return 0;
    char status[32], why[1024];
    result_value(result, "status", status, sizeof status);
    result_value(result, "error", why, sizeof why);
    int rc = ingest_metrics(st, r->id, r->run_dir, err, errlen) || ingest_positions(st, r->id, r->run_dir, err, errlen);
    char *dev_text;
    if (!rc && !sweep_run_file_text(r->run_dir, "device.tsv", &dev_text)) { /* what the trainer chose (absent: older trainers) */
        char dev[32], prec[32];
        result_value(dev_text, "device", dev, sizeof dev);
        result_value(dev_text, "precision", prec, sizeof prec);
        if (*dev && *prec) rc = store_run_set_device(st, r->id, dev, prec, err, errlen);
        free(dev_text);
    }
    if (!rc) {
        if (!strcmp(status, "done")) {
            rc = store_run_finish(st, r->id, result_num(result, "final_train_loss"),
                                  result_num(result, "final_eval_loss"), result_num(result, "best_context_loss"), err,
                                  errlen);
        } else if (!strcmp(status, "diverged")) {
            rc = store_run_end(st, r->id, STORE_DIVERGED, why, err, errlen);
        } else if (!strcmp(status, "stopped")) {
            rc = store_run_requeue(st, r->id, err, errlen); /* resumes from its checkpoint */
        } else {
            int requeued;
            rc = sweep_run_failed(st, r, retries, *why ? why : "the trainer failed", &requeued, err, errlen);
        }
    }
    free(result);
    if (rc) return -1;
    /* Keep the ingested file, under a name that is never ingested again. */
    char from[4300], to[4300];
    snprintf(from, sizeof from, "%s/result.tsv", r->run_dir);
    snprintf(to, sizeof to, "%s/result.attempt%d.tsv", r->run_dir, r->attempt);
    rename(from, to);
    return 1;
}

/* The sweep's retries, from its stored spec (default 1). */
static int stored_retries(store *st, const char *sweep) {
    char *text = NULL;
    int retries = 1;
    if (store_sweep_get(st, sweep, &text, NULL, 0) || !text) return retries;
    sweep_spec spec;
    if (!sweep_spec_parse(sweep, text, strlen(text), &spec, NULL, 0)) {
        retries = spec.retries;
        sweep_spec_free(&spec);
    }
    free(text);
    return retries;
}

int sweep_slurm_ingest(store *st, const char *sweep, size_t *n_ended, char *err, size_t errlen) {
    store_run *runs;
    size_t n;
    *n_ended = 0;
    store_run_filter f = {.sweep = sweep, .status = STORE_RUNNING};
    if (store_runs_list(st, &f, &runs, &n, err, errlen)) return -1;
    int rc = 0, retries = -1;
    for (size_t i = 0; i < n && !rc; i++) {
        char job[64];
        slurm_job_of(runs[i].run_dir, job, sizeof job);
        if (!*job) continue;
        if (retries < 0) retries = stored_retries(st, sweep);
        int r = ingest_run(st, &runs[i], retries, err, errlen);
        if (r < 0) rc = -1;
        else *n_ended += (size_t)r;
    }
    store_runs_free(runs, n);
    return rc;
}

/* ---- squeue and scancel -------------------------------------------------------- */

int sweep_slurm_states(const store_run *runs, size_t n, sweep_slurm_state *out, char *err, size_t errlen) {
    /* one squeue call for every array involved: -r lists one task per line */
    util_buf ids = {0}, text = {0};
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        if (!runs[i].run_dir) continue;
        slurm_job_of(runs[i].run_dir, out[i].job, sizeof out[i].job);
        if (!*out[i].job) continue;
        char array[64]; /* ",JOB," : ids is ",JOB1,JOB2," */
        snprintf(array, sizeof array, ",%.*s,", (int)strcspn(out[i].job, "_"), out[i].job);
        if (!ids.data) util_buf_puts(&ids, ",");
        if (!strstr(ids.data, array)) util_buf_puts(&ids, array + 1);
    }
    if (!ids.data) return 0;
    ids.data[ids.len - 1] = 0; /* the trailing comma */
    char *argv[] = {"squeue", "-h", "-r", "-j", ids.data + 1, "-o", "%i %T %r", NULL};
    int rc = sweep_spawn_capture(argv, &text);
    /* squeue refuses a single job id that left the queue; its tasks are simply gone */
    int gone = rc != 0 && text.data && strstr(text.data, "Invalid job id");
    if (rc != 0 && !gone) {
        util_err(err, errlen, "squeue -j %s failed: %s", ids.data + 1, text.data ? text.data : "no output");
        util_buf_free(&ids);
        util_buf_free(&text);
        return -1;
    }
    for (char *line = gone ? NULL : text.data, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        char task[64], state[32], reason[64] = "";
        if (sscanf(line, "%63s %31s %63s", task, state, reason) < 2) continue;
        for (size_t i = 0; i < n; i++)
            if (!strcmp(out[i].job, task)) {
                snprintf(out[i].state, sizeof out[i].state, "%s", state);
                snprintf(out[i].reason, sizeof out[i].reason, "%s", strcmp(reason, "None") ? reason : "");
            }
    }
    util_buf_free(&ids);
    util_buf_free(&text);
    return 0;
}

int sweep_slurm_cancel(store *st, const char *sweep, size_t *n_cancelled, char *err, size_t errlen) {
    store_run *runs;
    size_t n;
    *n_cancelled = 0;
    store_run_filter f = {.sweep = sweep, .status = STORE_RUNNING};
    if (store_runs_list(st, &f, &runs, &n, err, errlen)) return -1;
    /* Pending tasks go first, in one call, so the array throttle starts none of them;
     * then the running ones get SIGTERM (the trainer checkpoints; Slurm sends SIGKILL
     * after its KillWait). scancel retries a signal for a pending task for seconds, so
     * signals only go to tasks that run. */
    sweep_slurm_state *q = calloc(n ? n : 1, sizeof *q);
    char **pending = calloc(n + 2, sizeof *pending), **active = calloc(n + 4, sizeof *active);
    if (!q || !pending || !active) {
        free(q), free(pending), free(active);
        store_runs_free(runs, n);
        return util_err(err, errlen, "sweep %s: cancel: out of memory", sweep);
    }
    size_t n_pending = 0, n_active = 0;
    pending[n_pending++] = "scancel";
    active[n_active++] = "scancel", active[n_active++] = "--signal=TERM", active[n_active++] = "--full";
    if (sweep_slurm_states(runs, n, q, NULL, 0)) /* squeue failed: cancel them all the plain way */
        for (size_t i = 0; i < n; i++) slurm_job_of(runs[i].run_dir, q[i].job, sizeof q[i].job);
    for (size_t i = 0; i < n; i++) {
        if (!*q[i].job) continue;
        char **to = !strcmp(q[i].state, "PENDING") ? pending : active;
        size_t *nt = to == pending ? &n_pending : &n_active, dup = 0;
        for (size_t j = 0; j < *nt && !dup; j++) dup = !strcmp(to[j], q[i].job); /* runs sharing a task */
        if (!dup) to[(*nt)++] = q[i].job;
    }
    pending[n_pending] = active[n_active] = NULL;
    util_buf out = {0};
    if (n_pending > 1) sweep_spawn_capture(pending, &out);
    if (n_active > 3) {
        sweep_spawn_capture(active, &out);
        active[2] = "scancel"; /* then the plain cancel of the same tasks */
        sweep_spawn_capture(active + 2, &out);
    }
    util_buf_free(&out);
    free(pending);
    free(active);
    /* Wait (at most a minute) for the tasks to leave the queue, ingest what they wrote,
     * and mark the rest cancelled (their checkpoints stay for a later resume). */
    for (double t0 = util_monotonic(); util_monotonic() - t0 < 60;) {
        size_t queued = 0;
        if (!sweep_slurm_states(runs, n, q, NULL, 0))
            for (size_t i = 0; i < n; i++) queued += *q[i].state != 0;
        if (!queued) break;
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    free(q);
    size_t ended;
    int rc = sweep_slurm_ingest(st, sweep, &ended, err, errlen);
    for (size_t i = 0; i < n && !rc; i++) {
        char job[64];
        slurm_job_of(runs[i].run_dir, job, sizeof job);
        store_run now;
        if (!*job || store_run_get(st, runs[i].id, &now, err, errlen)) continue;
        if (now.status == STORE_RUNNING && !(rc = store_run_end(st, runs[i].id, STORE_CANCELLED, "cancelled", err, errlen)))
            (*n_cancelled)++;
        store_run_clear(&now);
    }
    store_runs_free(runs, n);
    return rc;
}
