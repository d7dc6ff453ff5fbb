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

int sweep_slurm_task(int argc, char **argv) {
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: scalelab sweep task TASK_LIST INDEX [DEVICE]   (run by Slurm array tasks)\n");
        return 2;
    }
    char *device = argc == 4 ? argv[3] : "auto";
    char *list;
    size_t len;
    char err[512];
    if (util_read_file(argv[1], &list, &len, err, sizeof err)) {
        fprintf(stderr, "scalelab: sweep task: %s\n", err);
        return 1;
    }
    long want = strtol(argv[2], NULL, 10), i = 0;
    char *line = list, *id = NULL, *dir = NULL;
    for (; line && *line; i++) {
        char *next = strchr(line, '\n');
        if (next) *next++ = 0;
        if (i == want) {
            id = line;
            dir = strchr(line, '\t');
            if (dir) *dir++ = 0;
            break;
        }
        line = next;
    }
    if (!id || !dir) {
        fprintf(stderr, "scalelab: sweep task: %s has no task %s\n", argv[1], argv[2]);
        free(list);
        return 1;
    }
    char exe[4096], config[4300], log[4300];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    snprintf(config, sizeof config, "%s/config.json", dir);
    snprintf(log, sizeof log, "%s/train.log", dir);
    sweep_pid_write(dir, getpid(), NULL, 0); /* the trainer's PID once we exec it, on this task's node */
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) dup2(fd, 1), dup2(fd, 2), close(fd);
    /* --quiet: stdout is train.log, which the trainer also writes itself */
    char *args[] = {exe, "train", config, "--run-id", id, "--run-dir", dir, "--sink", "files", "--device", device,
                    "--quiet", NULL};
    execv(exe, args); /* the trainer takes this process over: Slurm's signals reach it */
    fprintf(stderr, "scalelab: sweep task: cannot exec %s: %s\n", exe, strerror(errno));
    free(list);
    return 1;
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
        ids = realloc(ids, (n + 1) * sizeof *ids);
        dirs = realloc(dirs, (n + 1) * sizeof *dirs);
        if (!ids || !dirs) abort();
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
    char base[4300], tasks[4400], script[4400], out_pattern[4400];
    snprintf(base, sizeof base, "%s/%s/slurm-%.0f", o->runs_dir, sweep, util_now() * 1000);
    snprintf(tasks, sizeof tasks, "%s.tasks", base);
    snprintf(script, sizeof script, "%s.sh", base);
    snprintf(out_pattern, sizeof out_pattern, "%s-%%a.out", base);
    util_buf sh = {0}, out = {0};
    if (!rc && n) {
        util_buf_puts(&sh, "#!/bin/sh\n# written by scalelab sweep run: one array task per run\nexec ");
        sh_quote(&sh, o->exe);
        util_buf_puts(&sh, " sweep task ");
        sh_quote(&sh, tasks);
        util_buf_puts(&sh, " \"$SLURM_ARRAY_TASK_ID\"");
        if (o->device) util_buf_printf(&sh, " %s", o->device); /* checked: cpu, cuda or auto */
        util_buf_puts(&sh, "\n");
        rc = util_write_file_atomic(tasks, list.data, list.len, err, errlen) ||
             util_write_file_atomic(script, sh.data, sh.len, err, errlen);
    }
    if (!rc && n) {
        char array[64], name[300];
        if (o->max_parallel > 0) snprintf(array, sizeof array, "--array=0-%zu%%%d", n - 1, o->max_parallel);
        else snprintf(array, sizeof array, "--array=0-%zu", n - 1);
        snprintf(name, sizeof name, "--job-name=scalelab-%s", sweep);
        char *argv[20];
        int k = 0;
        argv[k++] = "sbatch", argv[k++] = "--parsable", argv[k++] = array, argv[k++] = name;
        argv[k++] = "--output", argv[k++] = out_pattern;
        if (o->partition) argv[k++] = "--partition", argv[k++] = (char *)o->partition;
        if (o->time_limit) argv[k++] = "--time", argv[k++] = (char *)o->time_limit;
        if (o->gres) argv[k++] = "--gres", argv[k++] = (char *)o->gres;
        argv[k++] = script;
        argv[k] = NULL;
        int st_rc = run_capture(argv, &out);
        long job = out.data ? strtol(out.data, NULL, 10) : 0;
        if (st_rc != 0 || job <= 0) {
            rc = util_err(err, errlen, "sbatch failed: %s", out.data ? out.data : "no output");
        } else {
            for (size_t i = 0; i < n && !rc; i++) {
                char path[4300], text[64];
                snprintf(path, sizeof path, "%s/slurm_job", dirs[i]);
                int len = snprintf(text, sizeof text, "%ld_%zu\n", job, i);
                rc = util_write_file_atomic(path, text, (size_t)len, err, errlen);
            }
            printf("sweep %s: submitted %zu runs as Slurm job array %ld\n", sweep, n, job);
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
    if (!q) abort();
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
    if (!q) abort();
    char **pending = calloc(n + 2, sizeof *pending), **active = calloc(n + 4, sizeof *active);
    if (!pending || !active) abort();
    size_t n_pending = 0, n_active = 0;
    pending[n_pending++] = "scancel";
    active[n_active++] = "scancel", active[n_active++] = "--signal=TERM", active[n_active++] = "--full";
    if (sweep_slurm_states(runs, n, q, NULL, 0)) /* squeue failed: cancel them all the plain way */
        for (size_t i = 0; i < n; i++) slurm_job_of(runs[i].run_dir, q[i].job, sizeof q[i].job);
    for (size_t i = 0; i < n; i++) {
        if (!*q[i].job) continue;
        if (!strcmp(q[i].state, "PENDING")) pending[n_pending++] = q[i].job;
        else active[n_active++] = q[i].job;
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
