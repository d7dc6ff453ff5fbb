/* sweep/slurm: the Slurm backend. The coordinator (this host, the only writer of
 * the SQLite file) claims the pending runs, writes a task list and submits one
 * job array (sbatch --array=0-N%M); task i runs `scalelab sweep task LIST i`,
 * which execs `scalelab train ... --sink files` in run i's folder. Tasks write
 * only their own files (metrics.tsv, position_loss.tsv, result.tsv); the
 * coordinator ingests them. Ingesting is idempotent: metric rows replace rows of
 * the same step, a run's state changes only while it is `running`, and
 * result.tsv is renamed once ingested (and removed before a run is resubmitted).
 * External programs (sbatch, squeue, scancel) are started with posix_spawnp,
 * never through a shell. */
#include "sweep/sweep_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <signal.h>
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
static int run_capture(char *const argv[], util_buf *out) {
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

static int file_text(const char *dir, const char *name, char **text) {
    char path[4300];
    size_t len;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return util_read_file(path, text, &len, NULL, 0);
}

/* "JOB_TASK" of a run submitted to Slurm (RUN_DIR/slurm_job), or "" when it was not. */
static void slurm_job_of(const char *dir, char *out, size_t outlen) {
    char *t;
    out[0] = 0;
    if (file_text(dir, "slurm_job", &t)) return;
    snprintf(out, outlen, "%.*s", (int)strcspn(t, "\n"), t);
    free(t);
}

/* ---- the task side ------------------------------------------------------------ */

enum { TASK_MAX_RUNS = 1000 }; /* runs of one array task (sweep_slurm_check refuses more) */

/* Trainer threads of a task: --threads (the coordinator's --threads-per-job), else
 * SLURM_CPUS_PER_TASK (what Slurm gave the task), else 0: the trainer's own default. */
static int task_threads(int flag, const char **from) {
    *from = "--threads-per-job";
    if (flag > 0) return flag;
    const char *e = getenv("SLURM_CPUS_PER_TASK");
    long n = e ? strtol(e, NULL, 10) : 0;
    *from = "SLURM_CPUS_PER_TASK";
    if (n > 0 && n <= 100000) return (int)n;
    *from = "the trainer's default: all cores";
    return 0;
}

/* The trainer's argv for run id in dir (strings in the caller's buffers). */
static void trainer_args(char **args, char *exe, char *config, const char *dir, const char *id, const char *device,
                         char *threads) {
    int k = 0;
    args[k++] = exe, args[k++] = "train", args[k++] = config, args[k++] = "--run-id", args[k++] = (char *)id;
    args[k++] = "--run-dir", args[k++] = (char *)dir, args[k++] = "--sink", args[k++] = "files";
    args[k++] = "--device", args[k++] = (char *)device;
    if (*threads) args[k++] = "--threads", args[k++] = threads;
    args[k++] = "--quiet"; /* stdout is train.log, which the trainer also writes itself */
    args[k] = NULL;
}

static void task_log(const char *dir, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void task_log(const char *dir, const char *fmt, ...) {
    char path[4300];
    snprintf(path, sizeof path, "%s/train.log", dir);
    FILE *f = fopen(path, "a");
    if (!f) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
}

/* The trainer a multi-run task waits for; SIGTERM (Slurm's --signal, scancel) is
 * passed on to it and no further run starts. */
static volatile sig_atomic_t task_stop;
static volatile pid_t task_child;
static void task_on_signal(int sig) {
    task_stop = 1;
    if (task_child > 0) kill(task_child, sig);
}

static void task_result(const char *dir, const char *status, const char *why) {
    char path[4300], text[600];
    snprintf(path, sizeof path, "%s/result.tsv", dir);
    int len = snprintf(text, sizeof text, "status\t%s\nerror\t%s\n", status, why);
    util_write_file_atomic(path, text, (size_t)len, NULL, 0);
}

int sweep_slurm_task(int argc, char **argv) {
    const char *usage = "usage: scalelab sweep task TASK_LIST INDEX [DEVICE] [--runs-per-task K] [--threads T]   "
                        "(run by Slurm array tasks)\n";
    if (argc < 3) return fputs(usage, stderr), 2;
    char *device = "auto";
    long per_task = 1, threads_flag = 0;
    for (int a = 3; a < argc; a++) {
        if (!strcmp(argv[a], "--runs-per-task") && a + 1 < argc) per_task = strtol(argv[++a], NULL, 10);
        else if (!strcmp(argv[a], "--threads") && a + 1 < argc) threads_flag = strtol(argv[++a], NULL, 10);
        else if (argv[a][0] != '-') device = argv[a];
        else return fputs(usage, stderr), 2;
    }
    if (per_task < 1 || threads_flag < 0) return fputs(usage, stderr), 2;
    char *list;
    size_t len;
    char err[512];
    if (util_read_file(argv[1], &list, &len, err, sizeof err)) {
        fprintf(stderr, "scalelab: sweep task: %s\n", err);
        return 1;
    }
    /* runs INDEX*K .. INDEX*K+K-1 of the list (lines "ID<TAB>DIR") */
    long index = strtol(argv[2], NULL, 10), first = index * per_task, i = 0;
    char *ids[TASK_MAX_RUNS], *dirs[TASK_MAX_RUNS];
    long n = 0;
    if (per_task > TASK_MAX_RUNS) return fputs(usage, stderr), 2;
    for (char *line = list, *next; line && *line && n < per_task; line = next, i++) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        char *tab = strchr(line, '\t');
        if (i < first || !tab) continue;
        *tab = 0;
        ids[n] = line, dirs[n] = tab + 1, n++;
    }
    if (index < 0 || n == 0) {
        fprintf(stderr, "scalelab: sweep task: %s has no task %s\n", argv[1], argv[2]);
        free(list);
        return 1;
    }
    char exe[4096], config[4300], log[4300], threads[16] = "", job[64];
    ssize_t got = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[got > 0 ? got : 0] = 0;
    const char *from;
    int t = task_threads((int)threads_flag, &from);
    if (t > 0) {
        snprintf(threads, sizeof threads, "%d", t);
        setenv("OMP_NUM_THREADS", threads, 1);
        setenv("OPENBLAS_NUM_THREADS", threads, 1);
    }
    const char *aid = getenv("SLURM_ARRAY_JOB_ID"), *tid = getenv("SLURM_ARRAY_TASK_ID");
    snprintf(job, sizeof job, "%s_%s", aid ? aid : "?", tid ? tid : argv[2]);
    char *args[16];
    if (per_task == 1) {
        const char *dir = dirs[0];
        snprintf(config, sizeof config, "%s/config.json", dir);
        snprintf(log, sizeof log, "%s/train.log", dir);
        task_log(dir, "sweep task: run %s in Slurm task %s (1 run per task), %s threads (%s)\n", ids[0], job,
                 *threads ? threads : "all", from);
        sweep_pid_write(dir, getpid(), NULL, 0); /* the trainer's PID once we exec it, on this task's node */
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) dup2(fd, 1), dup2(fd, 2), close(fd);
        trainer_args(args, exe, config, dir, ids[0], device, threads);
        execv(exe, args); /* the trainer takes this process over: Slurm's signals reach it */
        fprintf(stderr, "scalelab: sweep task: cannot exec %s: %s\n", exe, strerror(errno));
        free(list);
        return 1;
    }
    /* Several runs: one after another, each trainer with every CPU of the task. This
     * process stays (the batch shell Slurm signals) and passes SIGTERM on; runs not
     * started by then are written "stopped" (requeued, not failed). */
    struct sigaction sa = {.sa_handler = task_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    int any_failed = 0;
    for (long k = 0; k < n; k++) {
        const char *dir = dirs[k];
        if (task_stop) {
            task_log(dir, "sweep task: Slurm task %s was stopped before run %s started\n", job, ids[k]);
            task_result(dir, "stopped", "its Slurm task was stopped before it started");
            continue;
        }
        snprintf(config, sizeof config, "%s/config.json", dir);
        snprintf(log, sizeof log, "%s/train.log", dir);
        task_log(dir, "sweep task: run %s in Slurm task %s (run %ld of %ld, one after another), %s threads (%s)\n",
                 ids[k], job, k + 1, n, *threads ? threads : "all", from);
        trainer_args(args, exe, config, dir, ids[k], device, threads);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        pid_t pid;
        int rc = posix_spawn(&pid, exe, &fa, NULL, args, environ);
        posix_spawn_file_actions_destroy(&fa);
        if (rc) {
            task_result(dir, "failed", strerror(rc));
            any_failed = 1;
            continue;
        }
        task_child = pid;
        if (task_stop) kill(pid, SIGTERM); /* the signal came between the check and the spawn */
        sweep_pid_write(dir, pid, NULL, 0);
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        task_child = 0;
        char *result;
        if (!file_text(dir, "result.tsv", &result)) {
            free(result);
            continue;
        }
        char why[128];
        if (WIFSIGNALED(status)) snprintf(why, sizeof why, "the trainer was killed by signal %d", WTERMSIG(status));
        else snprintf(why, sizeof why, "the trainer exited with status %d without a result", WEXITSTATUS(status));
        task_result(dir, task_stop ? "stopped" : "failed", why);
        any_failed = 1;
    }
    free(list);
    return any_failed;
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
    if (file_text(dir, name, &text)) return 0;
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
    if (file_text(r->run_dir, "result.tsv", &result)) return 0;
    char status[32], why[1024];
    result_value(result, "status", status, sizeof status);
    result_value(result, "error", why, sizeof why);
    int rc = ingest_metrics(st, r->id, r->run_dir, err, errlen) || ingest_positions(st, r->id, r->run_dir, err, errlen);
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

/* ---- submit and coordinate ---------------------------------------------------- */

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
    int rc = run_capture(argv, &text);
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

/* Single-quoted for the batch script (the only shell involved: Slurm's own). */
static void sh_quote(util_buf *b, const char *s) {
    util_buf_puts(b, "'");
    for (; *s; s++) *s == '\'' ? util_buf_puts(b, "'\\''") : util_buf_append(b, s, 1);
    util_buf_puts(b, "'");
}

/* ---- options: checks, merge, the batch script --------------------------------- */

long sweep_slurm_time_seconds(const char *t) {
    /* D-H[:M[:S]] or M, M:S, H:M:S */
    long v[4];
    int n = 0, days = -1;
    const char *p = t;
    if (!*p) return -1;
    for (;;) {
        if (*p < '0' || *p > '9') return -1;
        char *end;
        long x = strtol(p, &end, 10);
        if (x > 10000000 || n == 4) return -1;
        p = end;
        if (*p == '-' && days < 0 && n == 0) { days = (int)(x > 100000 ? 100000 : x); p++; continue; }
        v[n++] = x;
        if (!*p) break;
        if (*p != ':') return -1;
        p++;
    }
    if (days >= 0) { /* D-H, D-H:M, D-H:M:S */
        if (n > 3) return -1;
        return days * 86400L + v[0] * 3600 + (n > 1 ? v[1] * 60 : 0) + (n > 2 ? v[2] : 0);
    }
    if (n == 1) return v[0] * 60;
    if (n == 2) return v[0] * 60 + v[1];
    if (n == 3) return v[0] * 3600 + v[1] * 60 + v[2];
    return -1;
}

static int only(const char *v, const char *allowed) {
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr(allowed, *p)))
            return 0;
    return 1;
}

int sweep_slurm_check(const char *key, const char *v, char *err, size_t errlen) {
    size_t n = strlen(v);
    if (n == 0) return util_err(err, errlen, "empty value");
    if (n > 256) return util_err(err, errlen, "%zu characters, longer than 256", n);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x21 || *p > 0x7e || strchr("'\"\\$`;<>", *p))
            return util_err(err, errlen, "character %zu (byte 0x%02x) is not allowed: no whitespace, "
                            "newlines, quotes, backslash, $, `, ;, < or > (values go into #SBATCH lines as they are)",
                            (size_t)(p - (const unsigned char *)v) + 1, *p);
    char *end;
    if (!strcmp(key, "account") || !strcmp(key, "qos")) {
        if (!only(v, "._-")) return util_err(err, errlen, "'%s': expected a name of [A-Za-z0-9._-]", v);
    } else if (!strcmp(key, "partition")) {
        if (!only(v, "._-,")) return util_err(err, errlen, "'%s': expected partition names of [A-Za-z0-9._-], "
                                              "comma-separated", v);
    } else if (!strcmp(key, "time")) {
        if (sweep_slurm_time_seconds(v) <= 0)
            return util_err(err, errlen, "'%s': expected a Slurm time limit (minutes, M:S, H:M:S, D-H, D-H:M or "
                            "D-H:M:S) above 0", v);
    } else if (!strcmp(key, "mem")) {
        long x = strtol(v, &end, 10);
        if (end == v || x < 0 || (*end && (end[1] || !strchr("KMGTkmgt", *end))))
            return util_err(err, errlen, "'%s': expected megabytes or a number with K, M, G or T (e.g. 16G)", v);
    } else if (!strcmp(key, "constraint")) {
        if (!only(v, "._-&|,*[]():!"))
            return util_err(err, errlen, "'%s': expected features of [A-Za-z0-9._-] joined by & | , * [ ] ( ) :", v);
    } else if (!strcmp(key, "gres")) {
        if (!only(v, "._:,=-")) return util_err(err, errlen, "'%s': expected a gres list such as gpu:1 or gpu:h100:2", v);
    } else if (!strcmp(key, "cpus_per_task") || !strcmp(key, "runs_per_task") || !strcmp(key, "signal")) {
        /* runs_per_task: a task holds at most TASK_MAX_RUNS runs */
        long x = strtol(v, &end, 10), lo = strcmp(key, "signal") ? 1 : 0,
             hi = !strcmp(key, "signal") ? 65535 : !strcmp(key, "runs_per_task") ? TASK_MAX_RUNS : 100000;
        if (end == v || *end || x < lo || x > hi)
            return util_err(err, errlen, "'%s': expected a whole number from %ld to %ld%s", v, lo, hi,
                            strcmp(key, "signal") ? "" : " (seconds before the time limit; 0: no signal)");
    } else if (!strcmp(key, "extra")) {
        static const char *const owned[] = {"array", "output", "error", "job-name", "parsable", "wrap", "signal",
                                            "o", "e", "J", "a"};
        const char *name = v + 2;
        size_t name_len = strncmp(v, "--", 2) ? 0 : strcspn(name, "=");
        if (name_len == 0)
            return util_err(err, errlen, "'%s': expected a long sbatch option, --name or --name=value", v);
        for (size_t i = 0; i < name_len; i++)
            if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '-'))
                return util_err(err, errlen, "'%s': an option name uses [a-z0-9-]", v);
        for (size_t i = 0; i < sizeof owned / sizeof *owned; i++)
            if (strlen(owned[i]) == name_len && !strncmp(name, owned[i], name_len))
                return util_err(err, errlen, "'%s': scalelab sets --%s itself%s", v, owned[i],
                                strcmp(owned[i], "signal") ? "" : " (use slurm.signal or --signal SECONDS)");
    } else {
        return util_err(err, errlen, "unknown Slurm option %s", key);
    }
    return 0;
}

void sweep_slurm_spec_free(sweep_slurm_spec *s) {
    free(s->account), free(s->qos), free(s->partition), free(s->time), free(s->mem), free(s->constraint);
    free(s->gres);
    for (size_t i = 0; i < s->n_extra; i++) free(s->extra[i]);
    free(s->extra);
    memset(s, 0, sizeof *s);
}

int sweep_slurm_opts_merge(const sweep_spec *spec, sweep_run_opts *o, char *err, size_t errlen) {
    const sweep_slurm_spec *sl = spec->slurm;
    if (sl) {
        if (!o->account) o->account = sl->account;
        if (!o->qos) o->qos = sl->qos;
        if (!o->partition) o->partition = sl->partition;
        if (!o->time_limit) o->time_limit = sl->time;
        if (!o->mem) o->mem = sl->mem;
        if (!o->constraint) o->constraint = sl->constraint;
        if (!o->gres) o->gres = sl->gres;
        if (o->cpus_per_task < 0) o->cpus_per_task = sl->cpus_per_task;
        if (o->signal_s < 0) o->signal_s = sl->signal_s;
        if (o->runs_per_task < 0) o->runs_per_task = sl->runs_per_task;
        o->spec_extra = (const char *const *)sl->extra;
        o->n_spec_extra = sl->n_extra;
    }
    if (o->cpus_per_task < 0) o->cpus_per_task = 0;
    if (o->signal_s < 0) o->signal_s = 120;
    if (o->runs_per_task < 1) o->runs_per_task = 1;
    long limit = o->time_limit ? sweep_slurm_time_seconds(o->time_limit) : -1;
    if (o->signal_s > 0 && limit > 0 && limit <= o->signal_s)
        return util_err(err, errlen, "signal %d s before a time limit of %s (%ld s) leaves no time to train: "
                        "lengthen --time / slurm.time or lower --signal / slurm.signal (0: none)",
                        o->signal_s, o->time_limit, limit);
    return 0;
}

void sweep_slurm_script(const char *sweep, const sweep_run_opts *o, const char *tasks_path, size_t n_runs,
                        util_buf *sh) {
    int k = o->runs_per_task > 0 ? o->runs_per_task : 1;
    size_t n_tasks = (n_runs + (size_t)k - 1) / (size_t)k;
    util_buf_puts(sh, "#!/bin/sh\n");
    if (k == 1) util_buf_puts(sh, "# written by scalelab sweep run: one array task per run\n");
    else util_buf_printf(sh, "# written by scalelab sweep run: %d runs per array task, one after another\n", k);
    /* every value below passed sweep_slurm_check: no whitespace, quotes or shell characters */
    util_buf_printf(sh, "#SBATCH --job-name=scalelab-%s\n", sweep);
    if (o->max_parallel > 0) util_buf_printf(sh, "#SBATCH --array=0-%zu%%%d\n", n_tasks - 1, o->max_parallel);
    else util_buf_printf(sh, "#SBATCH --array=0-%zu\n", n_tasks - 1);
    const struct { const char *opt, *v; } s[] = {{"partition", o->partition}, {"time", o->time_limit},
                                                  {"account", o->account},    {"qos", o->qos},
                                                  {"mem", o->mem},            {"constraint", o->constraint},
                                                  {"gres", o->gres}};
    for (size_t i = 0; i < sizeof s / sizeof *s; i++)
        if (s[i].v) util_buf_printf(sh, "#SBATCH --%s=%s\n", s[i].opt, s[i].v);
    if (o->cpus_per_task > 0) util_buf_printf(sh, "#SBATCH --cpus-per-task=%d\n", o->cpus_per_task);
    /* B: the batch shell is `sweep task` itself (exec), or the trainer it became */
    if (o->signal_s > 0) util_buf_printf(sh, "#SBATCH --signal=B:TERM@%d\n", o->signal_s);
    for (size_t i = 0; i < o->n_spec_extra; i++) util_buf_printf(sh, "#SBATCH %s\n", o->spec_extra[i]);
    for (size_t i = 0; i < o->n_sbatch_extra; i++) util_buf_printf(sh, "#SBATCH %s\n", o->sbatch_extra[i]);
    util_buf_puts(sh, "exec ");
    sh_quote(sh, o->exe ? o->exe : "scalelab");
    util_buf_puts(sh, " sweep task ");
    sh_quote(sh, tasks_path);
    util_buf_puts(sh, " \"$SLURM_ARRAY_TASK_ID\"");
    if (o->device) util_buf_printf(sh, " %s", o->device); /* checked: cpu, cuda or auto */
    if (k > 1) util_buf_printf(sh, " --runs-per-task %d", k);
    if (o->threads_per_job > 0) util_buf_printf(sh, " --threads %d", o->threads_per_job);
    util_buf_puts(sh, "\n");
}

void sweep_slurm_dry_run(const sweep_spec *spec, const sweep_plan *plan, const sweep_run_opts *o, FILE *out) {
    int k = o->runs_per_task > 0 ? o->runs_per_task : 1;
    char base[4300], tasks[4400];
    snprintf(base, sizeof base, "%s/%s/slurm-TIME", o->runs_dir, spec->name);
    snprintf(tasks, sizeof tasks, "%s.tasks", base);
    util_buf sh = {0}, cmd = {0};
    if (plan->n_runs) sweep_slurm_script(spec->name, o, tasks, plan->n_runs, &sh);
    util_buf_puts(&cmd, "sbatch --parsable --output ");
    char pattern[4400];
    snprintf(pattern, sizeof pattern, "%s-%%a.out", base);
    sh_quote(&cmd, pattern);
    util_buf_printf(&cmd, " %s.sh", base);
    fprintf(out, "sweep %s: dry run: %zu planned runs as %zu array tasks of %d run%s; nothing is submitted or stored\n"
                 "(runs the store already holds as done are left out when it is submitted; TIME is the submission "
                 "time, run ids come from the store)\n\n$ %s\n--- %s.sh\n%s--- %s\n",
            spec->name, plan->n_runs, (plan->n_runs + (size_t)k - 1) / (size_t)k, k, k == 1 ? "" : "s", cmd.data,
            base, sh.data ? sh.data : "(no runs: nothing to submit)\n", tasks);
    for (size_t i = 0; i < plan->n_runs; i++) {
        char *label = sweep_point_label(&plan->points.v[plan->runs[i].point], spec);
        fprintf(out, "task %zu: run %zu  %s/%s/ID-%s  %s\n", i / (size_t)k, i + 1, o->runs_dir, spec->name,
                plan->runs[i].hash, label);
        free(label);
    }
    util_buf_free(&sh);
    util_buf_free(&cmd);
}

/* Claims every pending run of the sweep and submits them as one array. *n_submitted = 0 when none. */
static int submit_array(store *st, const char *sweep, const sweep_run_opts *o, size_t *n_submitted, char *err,
                        size_t errlen) {
    *n_submitted = 0;
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    util_buf list = {0};
    int64_t *ids = NULL;
    char (*dirs)[4200] = NULL;
    size_t n = 0;
    int rc = 0;
    for (;;) {
        int64_t id;
        if (store_run_claim(st, sweep, host, "slurm", &id, err, errlen)) { rc = -1; break; }
        if (!id) break;
        store_run r;
        if (store_run_get(st, id, &r, err, errlen)) { rc = -1; break; }
        int64_t *more_ids = realloc(ids, (n + 1) * sizeof *ids);
        if (more_ids) ids = more_ids;
        char(*more_dirs)[4200] = more_ids ? realloc(dirs, (n + 1) * sizeof *dirs) : NULL;
        if (more_dirs) dirs = more_dirs;
        if (!more_ids || !more_dirs) { /* run id is claimed but not in ids: give it back here */
            store_run_clear(&r);
            store_run_requeue(st, id, NULL, 0);
            rc = util_err(err, errlen, "sweep %s: submitting: out of memory", sweep);
            break;
        }
        ids[n] = id;
        sweep_run_dir_name(o->runs_dir, sweep, &r, dirs[n], sizeof dirs[n]);
        char stale[4300];
        snprintf(stale, sizeof stale, "%s/result.tsv", dirs[n]);
        char moved[4400] = "";
        rc = sweep_run_dir_claim(dirs[n], store_id(st), id, *r.run_dir != 0, moved, sizeof moved, err, errlen) ||
             store_run_set_dir(st, id, dirs[n], err, errlen) || sweep_run_prepare_dir(&r, dirs[n], err, errlen);
        if (*moved) printf("[%s] run %lld: its folder held another store's run; moved aside to %s (starts fresh)\n",
                           sweep, (long long)id, moved);
        unlink(stale); /* a result of an earlier attempt must not be taken for this one's */
        store_run_clear(&r);
        util_buf_printf(&list, "%lld\t%s\n", (long long)id, dirs[n]);
        n++;
        if (rc) break;
    }
    size_t k = o->runs_per_task > 1 ? (size_t)o->runs_per_task : 1;
    char base[4300], tasks[4400], script[4400], out_pattern[4400];
    snprintf(base, sizeof base, "%s/%s/slurm-%.0f", o->runs_dir, sweep, util_now() * 1000);
    snprintf(tasks, sizeof tasks, "%s.tasks", base);
    snprintf(script, sizeof script, "%s.sh", base);
    snprintf(out_pattern, sizeof out_pattern, "%s-%%a.out", base);
    util_buf sh = {0}, out = {0};
    if (!rc && n) {
        sweep_slurm_script(sweep, o, tasks, n, &sh);
        rc = util_write_file_atomic(tasks, list.data, list.len, err, errlen) ||
             util_write_file_atomic(script, sh.data, sh.len, err, errlen);
    }
    if (!rc && n) {
        /* every other option is an #SBATCH line of the script; the output path may hold spaces */
        char *argv[] = {"sbatch", "--parsable", "--output", out_pattern, script, NULL};
        int st_rc = run_capture(argv, &out);
        long job = out.data ? strtol(out.data, NULL, 10) : 0;
        if (st_rc != 0 || job <= 0) {
            rc = util_err(err, errlen, "sbatch failed: %s", out.data ? out.data : "no output");
        } else {
            for (size_t i = 0; i < n && !rc; i++) {
                char path[4300], text[64];
                snprintf(path, sizeof path, "%s/slurm_job", dirs[i]);
                int len = snprintf(text, sizeof text, "%ld_%zu\n", job, i / k);
                rc = util_write_file_atomic(path, text, (size_t)len, err, errlen);
            }
            if (k > 1) printf("sweep %s: submitted %zu runs as Slurm job array %ld (%zu tasks of up to %zu runs)\n",
                              sweep, n, job, (n + k - 1) / k, k);
            else printf("sweep %s: submitted %zu runs as Slurm job array %ld\n", sweep, n, job);
            fflush(stdout);
        }
    }
    if (rc) /* nothing was submitted: give the claimed runs back */
        for (size_t i = 0; i < n; i++) store_run_requeue(st, ids[i], NULL, 0);
    else
        *n_submitted = n;
    util_buf_free(&list);
    util_buf_free(&sh);
    util_buf_free(&out);
    free(ids);
    free(dirs);
    return rc;
}

/* Running Slurm runs whose task left the queue without a result (scancel'ed with
 * SIGKILL, its node died, its time ran out): failed attempts, retried per retries. */
static int reap_lost(store *st, const char *sweep, int retries, char *err, size_t errlen) {
    store_run *runs;
    size_t n;
    store_run_filter f = {.sweep = sweep, .status = STORE_RUNNING};
    if (store_runs_list(st, &f, &runs, &n, err, errlen)) return -1;
    sweep_slurm_state *q = calloc(n ? n : 1, sizeof *q);
    if (!q) {
        store_runs_free(runs, n);
        return util_err(err, errlen, "sweep %s: checking Slurm tasks: out of memory", sweep);
    }
    char why_squeue[512];
    /* squeue failing (slurmctld restarting) says nothing about the tasks: ask again next time */
    int rc = 0, asked = !sweep_slurm_states(runs, n, q, why_squeue, sizeof why_squeue);
    for (size_t i = 0; asked && i < n && !rc; i++) {
        char *result;
        if (!*q[i].job) continue;
        if (*q[i].state) {
            store_run_heartbeat(st, runs[i].id, NULL, 0);
            continue;
        }
        if (!file_text(runs[i].run_dir, "result.tsv", &result)) {
            free(result); /* it just finished: ingested on the next pass */
            continue;
        }
        int requeued;
        char why[128];
        snprintf(why, sizeof why, "Slurm task %s ended without a result", q[i].job);
        rc = sweep_run_failed(st, &runs[i], retries, why, &requeued, err, errlen);
        if (!rc) printf("[%s] run %lld failed: %s; %s\n", sweep, (long long)runs[i].id, why,
                        requeued ? "retrying" : "giving up (see its train.log)");
        fflush(stdout);
    }
    free(q);
    store_runs_free(runs, n);
    return rc;
}

int sweep_slurm_run(store *st, const char *sweep, const sweep_run_opts *o, char *err, size_t errlen) {
    sweep_signals sigs;
    if (sweep_signals_open(&sigs, err, errlen)) return -1;
    int rc = 0, stopping = 0;
    size_t ended;
    double t_start = util_monotonic();
    if (sweep_scheduler_claim(st, sweep, o->runs_dir, err, errlen)) {
        sweep_signals_close(&sigs);
        return -1;
    }
    /* cancelled runs resume, like the local backend */
    store_run *runs;
    size_t n;
    store_run_filter f = {.sweep = sweep, .status = STORE_CANCELLED};
    if (store_runs_list(st, &f, &runs, &n, err, errlen)) {
        rc = -1;
    } else {
        for (size_t i = 0; !rc && i < n; i++) rc = store_run_requeue(st, runs[i].id, err, errlen);
        store_runs_free(runs, n);
    }
    while (!rc && !stopping) {
        size_t submitted = 0;
        rc = sweep_slurm_ingest(st, sweep, &ended, err, errlen) || reap_lost(st, sweep, o->retries, err, errlen) ||
             submit_array(st, sweep, o, &submitted, err, errlen);
        if (rc) break;
        sweep_scheduler_beat(st, sweep, NULL, 0);
        store_run_filter fr = {.sweep = sweep, .status = STORE_RUNNING};
        if (store_runs_list(st, &fr, &runs, &n, err, errlen)) { rc = -1; break; }
        store_runs_free(runs, n);
        if (n == 0 && submitted == 0) break;
        /* SIGCHLD here is only squeue's or sbatch's end: sleep on */
        for (double t0 = util_monotonic(), left = o->poll_s; left > 0 && !stopping;
             left = o->poll_s - (util_monotonic() - t0)) {
            int sig = sweep_signals_wait(&sigs, left);
            stopping = sig && sig != SIGCHLD;
        }
    }
    sweep_signals_close(&sigs);
    sweep_scheduler_release(st, sweep);
    size_t n_failed = 0;
    if (rc || sweep_print_summary(st, sweep, o->runs_dir, util_monotonic() - t_start,
                                  stopping ? " (coordinator stopped; Slurm tasks go on: sweep status ingests them)" : "",
                                  &n_failed, err, errlen))
        return -1;
    return n_failed ? 1 : 0;
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
    if (n_pending > 1) run_capture(pending, &out);
    if (n_active > 3) {
        run_capture(active, &out);
        active[2] = "scancel"; /* then the plain cancel of the same tasks */
        run_capture(active + 2, &out);
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
