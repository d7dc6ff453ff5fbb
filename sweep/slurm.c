/* sweep/slurm: the Slurm backend. The coordinator (this host, the only writer of
 * the SQLite file) claims the pending runs, writes a task list and submits one
 * job array (sbatch --array=0-N%M); task i runs `scalelab sweep task LIST i`,
 * which execs `scalelab train ... --sink files` in run i's folder. Tasks write
 * only their own files (metrics.tsv, position_loss.tsv, result.tsv); the
 * coordinator ingests them. Ingesting is idempotent: metric rows replace rows of
 * the same step, a run's state changes only while it is `running`, and
 * result.tsv is renamed once ingested (and removed before a run is resubmitted).
 * External programs (sbatch, squeue, scancel) are started with posix_spawnp,
 * never through a shell. Ingesting, squeue and scancel are slurm_queue.c and the checks
 * of the slurm: options slurm_opts.c, so that sched_shared.c and spec.c need not call
 * this file, which calls them. */
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

/* ---- the task side ------------------------------------------------------------ */

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
    char *ids[SWEEP_SLURM_TASK_MAX_RUNS], *dirs[SWEEP_SLURM_TASK_MAX_RUNS];
    long n = 0;
    if (per_task > SWEEP_SLURM_TASK_MAX_RUNS) return fputs(usage, stderr), 2;
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
        if (!sweep_run_file_text(dir, "result.tsv", &result)) {
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

/* ---- options: merge and the batch script (the checks are slurm_opts.c) ---------- */

/* Single-quoted for the batch script (the only shell involved: Slurm's own). */
static void sh_quote(util_buf *b, const char *s) {
    util_buf_puts(b, "'");
    for (; *s; s++) *s == '\'' ? util_buf_puts(b, "'\\''") : util_buf_append(b, s, 1);
    util_buf_puts(b, "'");
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

/* ---- submit and coordinate (Slurm's queue: slurm_queue.c) ------------------------- */

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
        int st_rc = sweep_spawn_capture(argv, &out);
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
        if (!sweep_run_file_text(runs[i].run_dir, "result.tsv", &result)) {
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
