/* sweep/sched_shared: what the schedulers share: submitting a plan to the store, run
 * folders and PID files, status and cancel. Failure accounting is sched_failures.c; Slurm's
 * queue is asked through slurm_queue.c, never slurm.c (which builds on this file). */
#include "sweep/sweep_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"

int sweep_submit(store *st, const sweep_spec *spec, const sweep_plan *plan, int apply, size_t *n_new,
                 store_sweep_change *u, char *err, size_t errlen) {
    *n_new = 0;
    memset(u, 0, sizeof *u);
    store_run_new *rn = calloc(plan->n_runs ? plan->n_runs : 1, sizeof *rn);
    int64_t *ids = calloc(plan->n_runs ? plan->n_runs : 1, sizeof *ids);
    const char **hashes = calloc(plan->n_runs ? plan->n_runs : 1, sizeof *hashes);
    if (!rn || !ids || !hashes) {
        free(rn), free(ids), free(hashes);
        return util_err(err, errlen, "out of memory");
    }
    for (size_t i = 0; i < plan->n_runs; i++) {
        const sweep_planned_run *r = &plan->runs[i];
        rn[i].config_json = r->config_json;
        rn[i].config_hash = hashes[i] = r->hash;
        rn[i].acc = r->acc;
    }
    /* The version and the membership first, in one transaction: a crash before the
     * insert leaves the new version stored, and running the spec again (now unchanged)
     * inserts its runs. */
    int rc = store_sweep_update(st, spec->name, spec->text, hashes, plan->n_runs, apply, u, err, errlen) ||
             (apply && store_runs_insert(st, spec->name, rn, plan->n_runs, ids, n_new, err, errlen));
    free(rn), free(ids), free(hashes);
    return rc ? -1 : 0;
}

void sweep_run_dir_name(const char *runs_dir, const char *sweep, const store_run *r, char *out, size_t outlen) {
    if (r->run_dir && *r->run_dir) /* an earlier attempt's folder: resume from its checkpoint */
        snprintf(out, outlen, "%s", r->run_dir);
    else
        snprintf(out, outlen, "%s/%s/%lld-%s", runs_dir, sweep, (long long)r->id, r->config_hash);
}

int sweep_run_prepare_dir(const store_run *r, const char *dir, char *err, size_t errlen) {
    char path[4200];
    if (util_mkdir_p(dir, err, errlen)) return -1;
    /* an earlier attempt's Slurm task is not this attempt's (it may now run locally) */
    snprintf(path, sizeof path, "%s/slurm_job", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/config.json", dir);
    return util_write_file_atomic(path, r->config_json, strlen(r->config_json), err, errlen);
}

/* The pid written in DIR/NAME (the scheduler's pid file, the trainer's train.lock), 0 when
 * the file is missing or holds none. */
static pid_t pid_in_file(const char *dir, const char *name) {
    char path[4200], *text;
    size_t len;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (util_read_file(path, &text, &len, NULL, 0)) return 0;
    long pid = strtol(text, NULL, 10);
    free(text);
    return pid > 0 ? (pid_t)pid : 0;
}

pid_t sweep_pid_read(const char *dir) {
    return pid_in_file(dir, "pid");
}

int sweep_pid_write(const char *dir, pid_t pid, char *err, size_t errlen) {
    char path[4200], text[32];
    snprintf(path, sizeof path, "%s/pid", dir);
    int n = snprintf(text, sizeof text, "%ld\n", (long)pid);
    return util_write_file_atomic(path, text, (size_t)n, err, errlen);
}

/* True when /proc/PID/cmdline holds the argument a immediately followed by b. */
static int cmdline_has(pid_t pid, const char *a, const char *b) {
    char path[64], *text;
    size_t len;
    snprintf(path, sizeof path, "/proc/%ld/cmdline", (long)pid);
    if (util_read_file(path, &text, &len, NULL, 0)) return 0;
    int found = 0;
    for (size_t i = 0; i < len && !found; i += strlen(text + i) + 1)
        found = !strcmp(text + i, a) && i + strlen(a) + 1 < len && !strcmp(text + i + strlen(a) + 1, b);
    free(text);
    return found;
}

static int process_alive(pid_t pid) {
    if (pid <= 0 || (kill(pid, 0) && errno == ESRCH)) return 0;
    /* A zombie child (exited, not yet reaped) is dead for our purposes. */
    char path[64], *text;
    size_t len;
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    if (util_read_file(path, &text, &len, NULL, 0)) return 0;
    const char *p = strrchr(text, ')');
    int zombie = p && p[1] == ' ' && p[2] == 'Z';
    free(text);
    return !zombie;
}

int sweep_trainer_alive(pid_t pid, int64_t id) {
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    return process_alive(pid) && cmdline_has(pid, "--run-id", ids);
}

int sweep_pid_gpu(pid_t pid) {
    char path[64], *text;
    size_t len;
    snprintf(path, sizeof path, "/proc/%ld/environ", (long)pid);
    if (util_read_file(path, &text, &len, NULL, 0)) return -1;
    int gpu = -1;
    for (size_t i = 0; i < len; i += strlen(text + i) + 1)
        if (!strncmp(text + i, "CUDA_VISIBLE_DEVICES=", 21)) {
            char *end;
            long g = strtol(text + i + 21, &end, 10);
            if (end != text + i + 21 && g >= 0) gpu = (int)g;
        }
    free(text);
    return gpu;
}

void sweep_format_eta(double s, char *out, size_t outlen) {
    if (!isfinite(s) || s < 0) {
        snprintf(out, outlen, "-");
        return;
    }
    long t = lround(s);
    snprintf(out, outlen, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

/* A scheduler PID of this host that is still a `sweep run` (a recycled PID is not). */
static int scheduler_alive(void *ctx, int64_t pid) {
    (void)ctx;
    return pid > 0 && process_alive((pid_t)pid) && cmdline_has((pid_t)pid, "sweep", "run");
}

static void this_host(char *host, size_t len) {
    if (gethostname(host, len - 1)) snprintf(host, len, "localhost");
    host[len - 1] = 0;
}

int sweep_scheduler_claim(store *st, const char *sweep, const char *runs_dir, char *err, size_t errlen) {
    char host[256] = "";
    this_host(host, sizeof host);
    store_scheduler h;
    int claimed;
    if (store_scheduler_claim(st, sweep, host, getpid(), runs_dir, SWEEP_SCHEDULER_STALE_S, scheduler_alive, NULL,
                              &claimed, &h, err, errlen))
        return -1;
    if (claimed) return 0;
    if (!strcmp(h.host, host))
        return util_err(err, errlen,
                        "sweep %s is already being run by pid %lld on this host (runs in %s/%s); one scheduler per "
                        "sweep and store: wait for it, or stop it with `scalelab sweep cancel %s`",
                        sweep, (long long)h.pid, h.runs_dir, sweep, sweep);
    return util_err(err, errlen,
                    "sweep %s is already being run by pid %lld on host %s (heartbeat %.0f s ago); one scheduler "
                    "per sweep and store",
                    sweep, (long long)h.pid, h.host, util_now() - h.heartbeat);
}

int sweep_scheduler_beat(store *st, const char *sweep, char *err, size_t errlen) {
    char host[256] = "";
    this_host(host, sizeof host);
    return store_scheduler_heartbeat(st, sweep, host, getpid(), err, errlen);
}

void sweep_scheduler_release(store *st, const char *sweep) {
    char host[256] = "";
    this_host(host, sizeof host);
    store_scheduler_release(st, sweep, host, getpid(), NULL, 0);
}

/* ---- finding a run's trainer ------------------------------------------------ */

pid_t sweep_lock_pid(const char *dir) {
    return pid_in_file(dir, "train.lock");
}

int sweep_lock_held(const char *dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/train.lock", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    int held = flock(fd, LOCK_SH | LOCK_NB) && errno == EWOULDBLOCK;
    close(fd); /* drops our shared lock, if we got it */
    return held;
}

/* The trainer of run id in dir: its command line names both. */
static int trainer_of(pid_t pid, int64_t id, const char *dir) {
    return sweep_trainer_alive(pid, id) && cmdline_has(pid, "--run-dir", dir);
}

pid_t sweep_trainer_find(const char *dir, int64_t id) {
    if (!dir || !*dir) return 0;
    pid_t pid = sweep_pid_read(dir);
    if (trainer_of(pid, id, dir)) return pid;
    pid = sweep_lock_pid(dir); /* written by the trainer once it holds train.lock */
    if (trainer_of(pid, id, dir)) return pid;
    /* Started but not yet recorded anywhere (its scheduler died between the spawn and
     * the PID file, before the trainer took its lock): look through /proc. */
    DIR *d = opendir("/proc");
    if (!d) return 0;
    pid_t found = 0;
    for (struct dirent *e; !found && (e = readdir(d));) {
        char *end;
        long p = strtol(e->d_name, &end, 10);
        if (*end || p <= 0 || p == getpid()) continue;
        if (trainer_of((pid_t)p, id, dir)) found = (pid_t)p;
    }
    closedir(d);
    return found;
}

/* ---- run folders and the store they belong to -------------------------------- */

/* DIR/owner: "store STORE_ID\nrun ID\n". */
static int owner_read(const char *dir, char *store_id, size_t idlen, int64_t *run) {
    char path[4200], *text;
    size_t len;
    snprintf(path, sizeof path, "%s/owner", dir);
    *store_id = 0;
    *run = 0;
    if (util_read_file(path, &text, &len, NULL, 0)) return -1;
    char sid[64] = "";
    long long r = 0;
    int ok = sscanf(text, "store %63s run %lld", sid, &r) == 2;
    free(text);
    if (!ok) return -1;
    snprintf(store_id, idlen, "%s", sid);
    *run = r;
    return 0;
}

static int owner_write(const char *dir, const char *store_id, int64_t run, char *err, size_t errlen) {
    char path[4200], text[128];
    snprintf(path, sizeof path, "%s/owner", dir);
    int n = snprintf(text, sizeof text, "store %s\nrun %lld\n", store_id, (long long)run);
    return util_write_file_atomic(path, text, (size_t)n, err, errlen);
}

/* Work a folder may hold: a checkpoint, run files, a result. */
static int holds_work(const char *dir) {
    static const char *const files[] = {"checkpoint.bin", "metrics.tsv", "position_loss.tsv", "result.tsv"};
    char path[4200];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (!access(path, F_OK)) return 1;
    }
    return 0;
}

int sweep_run_dir_claim(const char *dir, const char *store_id, int64_t run, int known, char *moved, size_t movedlen,
                      char *err, size_t errlen) {
    if (moved && movedlen) *moved = 0;
    if (!store_id || !*store_id) return 0; /* a store without an identity (read-only, old): nothing to compare */
    struct stat sb;
    if (stat(dir, &sb)) return util_mkdir_p(dir, err, errlen) || owner_write(dir, store_id, run, err, errlen) ? -1 : 0;
    char sid[64];
    int64_t owner_run;
    int has_owner = owner_read(dir, sid, sizeof sid, &owner_run) == 0;
    if (has_owner && !strcmp(sid, store_id) && owner_run == run) return 0;
    /* No owner record: a folder from before owners were written. It is this run's
     * when the store already sent this run there, or when it holds no work. */
    if (!has_owner && (known || !holds_work(dir))) return owner_write(dir, store_id, run, err, errlen);
    if (has_owner && !holds_work(dir) && !strcmp(sid, store_id)) return owner_write(dir, store_id, run, err, errlen);
    /* Another store's (or another run's) work: never taken for this run's. */
    char aside[4300];
    for (int k = 0; k < 1000; k++) {
        snprintf(aside, sizeof aside, "%s.stale-%s%s%.0d", dir, has_owner ? sid : "unknown", k ? "-" : "", k);
        if (access(aside, F_OK)) break;
    }
    if (rename(dir, aside))
        return util_err(err, errlen, "%s holds the work of %s; cannot move it aside to %s: %s", dir,
                        has_owner ? "another store's run" : "a run of an unknown store", aside, strerror(errno));
    if (moved) snprintf(moved, movedlen, "%s", aside);
    return util_mkdir_p(dir, err, errlen) || owner_write(dir, store_id, run, err, errlen) ? -1 : 0;
}

int sweep_retry_failed(store *st, const char *sweep, size_t *n, char *err, size_t errlen) {
    store_run *runs;
    size_t nr;
    store_run_filter f = {.sweep = sweep, .status = STORE_FAILED};
    if (store_runs_list(st, &f, &runs, &nr, err, errlen)) return -1;
    /* the folder's failure count restarts with the store's attempts */
    for (size_t i = 0; i < nr; i++) {
        char path[4200];
        if (!*runs[i].run_dir) continue;
        snprintf(path, sizeof path, "%s/failures", runs[i].run_dir);
        unlink(path);
    }
    store_runs_free(runs, nr);
    return store_sweep_requeue_failed(st, sweep, n, err, errlen);
}

int sweep_counts(store *st, const char *sweep, size_t count[STORE_STATUS_COUNT], size_t *total, char *err,
                 size_t errlen) {
    if (store_run_counts(st, sweep, count, err, errlen)) return -1;
    *total = 0;
    for (int k = 0; k < STORE_STATUS_COUNT; k++) *total += count[k];
    return 0;
}

void sweep_counts_format(util_buf *b, const size_t count[STORE_STATUS_COUNT], size_t total) {
    util_buf_printf(b, "%zu runs:", total);
    for (int k = 0; k < STORE_STATUS_COUNT; k++)
        util_buf_printf(b, "%s %zu %s", k ? "," : "", count[k], store_status_name((store_status)k));
}

/* Set by the wake-up handler when the SIGTERM came from `sweep cancel` (sigqueue with
 * SWEEP_CANCEL_COOKIE): the stopped scheduler then cancels the runs its trainers
 * requeued before it counts them, so its closing line and `sweep status` say the same. */
static volatile sig_atomic_t cancel_requested;

int sweep_print_summary(store *st, const char *sweep, const char *runs_dir, double wall_s, const char *note,
                        size_t *n_failed, char *err, size_t errlen) {
    size_t cancelled_now = 0;
    if (cancel_requested && store_sweep_cancel_pending(st, sweep, &cancelled_now, err, errlen)) return -1;
    store_run *runs;
    size_t n;
    store_run_filter f = {.sweep = sweep, .status = -1};
    if (store_runs_list(st, &f, &runs, &n, err, errlen)) return -1;
    double flops_done = 0, flops_all = 0;
    for (size_t i = 0; i < n; i++) {
        flops_all += runs[i].acc.training_flops;
        if (runs[i].status == STORE_DONE) flops_done += runs[i].acc.training_flops;
    }
    store_runs_free(runs, n);
    /* the counts come from sweep_counts, as `sweep status` reads them */
    size_t count[STORE_STATUS_COUNT], total;
    if (sweep_counts(st, sweep, count, &total, err, errlen)) return -1;
    char wall[32], running[64] = "";
    sweep_format_eta(wall_s, wall, sizeof wall);
    if (count[STORE_RUNNING]) snprintf(running, sizeof running, ", %zu running", count[STORE_RUNNING]);
    printf("sweep %s: %zu/%zu done, %zu failed, %zu diverged, %zu cancelled, %zu pending%s; "
           "%.4g of %.4g training FLOPs done; wall %s; run folders in %s/%s%s%s\n",
           sweep, count[STORE_DONE], total, count[STORE_FAILED], count[STORE_DIVERGED], count[STORE_CANCELLED],
           count[STORE_PENDING], running, flops_done, flops_all, wall, runs_dir, sweep,
           cancel_requested ? " (cancelled by `sweep cancel`)" : "", note);
    fflush(stdout);
    *n_failed = count[STORE_FAILED];
    return 0;
}

/* ---- signals ---------------------------------------------------------------- */

/* The write end of the wake-up pipe. A signal handler can reach only static storage;
 * handlers are needed at all because OpenBLAS starts its threads before main with
 * every signal unblocked, so a SIGCHLD or SIGTERM that the kernel hands to one of them
 * would be lost to a sigtimedwait on the main thread (or kill the process). */
static int wake_fd = -1;
static const int wake_signals[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP};

static void on_wake_signal(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    int saved = errno;
    if (sig == SIGTERM && si && si->si_code == SI_QUEUE && si->si_value.sival_int == SWEEP_CANCEL_COOKIE)
        cancel_requested = 1;
    unsigned char b = (unsigned char)sig;
    if (write(wake_fd, &b, 1) < 0) { /* a full pipe already holds a wake-up */
    }
    errno = saved;
}

int sweep_signals_open(sweep_signals *w, char *err, size_t errlen) {
    if (pipe2(w->fds, O_CLOEXEC | O_NONBLOCK)) return util_err(err, errlen, "pipe: %s", strerror(errno));
    wake_fd = w->fds[1];
    for (size_t i = 0; i < sizeof wake_signals / sizeof wake_signals[0]; i++) {
        struct sigaction sa = {.sa_sigaction = on_wake_signal, .sa_flags = SA_RESTART | SA_SIGINFO};
        if (wake_signals[i] == SIGCHLD) sa.sa_flags |= SA_NOCLDSTOP;
        sigemptyset(&sa.sa_mask);
        sigaction(wake_signals[i], NULL, &w->old[i]);
        /* an ignored SIGINT or SIGHUP (a background job, nohup) stays ignored */
        if ((wake_signals[i] == SIGINT || wake_signals[i] == SIGHUP) && w->old[i].sa_handler == SIG_IGN) continue;
        sigaction(wake_signals[i], &sa, NULL);
    }
    return 0;
}

int sweep_signals_wait(sweep_signals *w, double timeout_s) {
    struct pollfd p = {.fd = w->fds[0], .events = POLLIN};
    if (poll(&p, 1, (int)(timeout_s * 1000)) <= 0) return 0;
    unsigned char b[64];
    ssize_t n = read(w->fds[0], b, sizeof b);
    int sig = 0;
    for (ssize_t i = 0; i < n; i++) /* a stop request outranks a child's end */
        if (!sig || sig == SIGCHLD) sig = b[i];
    return sig;
}

void sweep_signals_close(sweep_signals *w) {
    for (size_t i = 0; i < sizeof wake_signals / sizeof wake_signals[0]; i++) sigaction(wake_signals[i], &w->old[i], NULL);
    wake_fd = -1;
    close(w->fds[0]);
    close(w->fds[1]);
}

/* ---- status ----------------------------------------------------------------- */

/* A running run's progress, from its latest metric row. */
typedef struct run_progress {
    int has;             /* a metric row exists */
    store_metric m;
    int64_t total_steps; /* ceil(planned tokens / tokens per step), as the trainer counts */
    double flops_done;   /* training FLOPs x the share of planned tokens trained */
    double flops_per_s;  /* flops_done / the trainer's own wall seconds (all attempts) */
} run_progress;

static void progress_of(const store_run *r, const store_metric *m, run_progress *p) {
    memset(p, 0, sizeof *p);
    p->m = *m;
    p->has = 1;
    double per_step = m->step > 0 ? m->tokens / (double)m->step : NAN;
    p->total_steps = per_step > 0 && isfinite(r->acc.tokens) ? (int64_t)ceil(r->acc.tokens / per_step - 1e-9) : 0;
    double share = r->acc.tokens > 0 ? fmin(m->tokens / r->acc.tokens, 1.0) : NAN;
    p->flops_done = isfinite(share) ? share * r->acc.training_flops : NAN;
    p->flops_per_s = m->wall_seconds > 0 && isfinite(p->flops_done) ? p->flops_done / m->wall_seconds : NAN;
}

/* Whether the sweep's scheduler (the store's `schedulers` row) is alive: its heartbeat
 * younger than SWEEP_SCHEDULER_STALE_S (the age at which another host takes it over;
 * schedulers beat every few seconds) and, on this host, its PID still a `sweep run`. */
static int scheduler_live(const store_scheduler *h, int found, double now) {
    if (!found || !(now - h->heartbeat < SWEEP_SCHEDULER_STALE_S)) return 0;
    char host[256] = "";
    this_host(host, sizeof host);
    return strcmp(h->host, host) || scheduler_alive(NULL, h->pid);
}

/* The ETA. Method: the work left is every pending run's planned training FLOPs plus
 * the running runs' planned FLOPs less the FLOPs their metrics say they did (the
 * share of planned tokens trained). The speed is the sum of the running runs'
 * measured FLOP/s (FLOPs done / their trainer's wall seconds), known from their
 * first logged steps; the current parallelism is assumed to continue. Before any
 * running run has logged a step, done runs give the speed (their FLOPs / their
 * durations, times the runs now running, at least 1). Unknown (NAN) without either,
 * and 0 when nothing is left. runs[0..n) must hold every running run (others are
 * skipped); the pending and done runs come in as sums (store_sweep_flops_get). */
static double status_eta(const store_sweep_flops *sf, size_t n_pending, const store_run *runs, const run_progress *p,
                         size_t n, double *left_out, double *speed_out) {
    double left = sf->pending_flops, speed = 0;
    size_t n_running = 0;
    for (size_t i = 0; i < n; i++) {
        const store_run *r = &runs[i];
        if (r->status != STORE_RUNNING) continue;
        double f = isfinite(r->acc.training_flops) ? r->acc.training_flops : 0;
        n_running++;
        left += p[i].has && isfinite(p[i].flops_done) ? fmax(f - p[i].flops_done, 0) : f;
        if (p[i].has && isfinite(p[i].flops_per_s)) speed += p[i].flops_per_s;
    }
    if (!(speed > 0) && sf->done_seconds > 0)
        speed = sf->done_timed_flops / sf->done_seconds * (double)(n_running ? n_running : 1);
    *left_out = left;
    *speed_out = speed;
    if (!n_pending && !n_running) return 0;
    return speed > 0 ? left / speed : NAN;
}

/* The one computation behind `sweep status` and the scheduler's progress line: the
 * counts by status, the running runs' progress (their latest metric rows) and the ETA
 * (status_eta), from aggregate queries and the running runs, so that a scheduler of a
 * large sweep can afford it on every event. all_runs: list every run of the sweep
 * (status shows them) rather than only the running ones. The caller frees *runs and
 * *prog. */
static int progress_load(store *st, const char *sweep, int all_runs, store_run **runs, size_t *n, run_progress **prog,
                         sweep_progress *p, char *err, size_t errlen) {
    memset(p, 0, sizeof *p);
    *prog = NULL;
    store_sweep_flops sf;
    store_run_filter f = {.sweep = sweep, .status = all_runs ? -1 : STORE_RUNNING};
    if (store_runs_list(st, &f, runs, n, err, errlen)) return -1;
    *prog = calloc(*n ? *n : 1, sizeof **prog);
    int rc = *prog ? sweep_counts(st, sweep, p->count, &p->total, err, errlen) ||
                         store_sweep_flops_get(st, sweep, &sf, err, errlen)
                   : util_err(err, errlen, "sweep %s: out of memory", sweep);
    for (size_t i = 0; i < *n && !rc; i++) {
        if ((*runs)[i].status != STORE_RUNNING) continue;
        store_metric m;
        int found = 0;
        rc = store_metric_latest(st, (*runs)[i].id, &m, &found, err, errlen);
        if (!rc && found) progress_of(&(*runs)[i], &m, &(*prog)[i]);
    }
    if (rc) {
        free(*prog);
        store_runs_free(*runs, *n);
        *prog = NULL, *runs = NULL, *n = 0;
        return -1;
    }
    p->eta_s = status_eta(&sf, p->count[STORE_PENDING], *runs, *prog, *n, &p->flops_left, &p->flops_per_s);
    return 0;
}

int sweep_progress_get(store *st, const char *sweep, sweep_progress *p, char *err, size_t errlen) {
    store_run *runs;
    run_progress *prog;
    size_t n;
    if (progress_load(st, sweep, 0, &runs, &n, &prog, p, err, errlen)) return -1;
    free(prog);
    store_runs_free(runs, n);
    return 0;
}

enum { STATUS_NEXT_PENDING = 3 }; /* pending runs listed by name */

int sweep_status_print(store *st, const char *sweep, int json, char *err, size_t errlen) {
    store_run *runs;
    size_t n;
    run_progress *prog;
    sweep_progress sp;
    if (progress_load(st, sweep, 1, &runs, &n, &prog, &sp, err, errlen)) return -1;
    const size_t *count = sp.count, total = sp.total;
    double best = NAN, now = util_now();
    int64_t best_id = 0;
    for (size_t i = 0; i < n; i++) {
        double loss = isfinite(runs[i].final_eval_loss) ? runs[i].final_eval_loss : runs[i].final_train_loss;
        if (runs[i].status == STORE_DONE && isfinite(loss) && !(loss >= best)) best = loss, best_id = runs[i].id;
    }
    store_scheduler h;
    int h_found = 0;
    if (store_scheduler_get(st, sweep, &h, &h_found, err, errlen)) {
        free(prog);
        store_runs_free(runs, n);
        return -1;
    }
    /* the spec's version, and the runs newer versions left out (sweep status --stale) */
    store_sweep_version *versions = NULL;
    size_t n_versions = 0, n_stale = 0;
    int64_t *stale_ids = NULL;
    int *stale_versions = NULL;
    if (store_sweep_versions(st, sweep, &versions, &n_versions, err, errlen) ||
        store_sweep_dropped(st, sweep, &stale_ids, &stale_versions, &n_stale, err, errlen)) {
        store_sweep_versions_free(versions, n_versions);
        free(prog);
        store_runs_free(runs, n);
        return -1;
    }
    int spec_version = n_versions ? versions[n_versions - 1].version : 0;
    store_sweep_versions_free(versions, n_versions);
    free(stale_ids);
    free(stale_versions);
    int live = scheduler_live(&h, h_found, now);
    double left = sp.flops_left, speed = sp.flops_per_s, eta = sp.eta_s;
    size_t unfinished = count[STORE_PENDING] + count[STORE_RUNNING];
    if (unfinished && !live) eta = NAN; /* nothing is working on them */
    /* Slurm's own view of the running runs that are array tasks (squeue) */
    sweep_slurm_state *q = calloc(n ? n : 1, sizeof *q);
    if (!q) {
        free(prog);
        store_runs_free(runs, n);
        return util_err(err, errlen, "sweep %s: status: out of memory", sweep);
    }
    char squeue_err[512] = "";
    size_t n_slurm = 0, n_gone = 0;
    if (count[STORE_RUNNING]) sweep_slurm_states(runs, n, q, squeue_err, sizeof squeue_err);
    for (size_t i = 0; i < n; i++)
        if (runs[i].status == STORE_RUNNING && *q[i].job) n_slurm++, n_gone += !*q[i].state;
    /* squeue's states, counted: "RUNNING 2, PENDING 3" */
    char states[8][32];
    size_t n_states = 0, n_in_state[8] = {0};
    for (size_t i = 0; i < n; i++) {
        if (runs[i].status != STORE_RUNNING || !*q[i].state) continue;
        size_t k = 0;
        while (k < n_states && strcmp(states[k], q[i].state)) k++;
        if (k == n_states && n_states < 8) snprintf(states[n_states++], sizeof states[0], "%s", q[i].state);
        if (k < 8) n_in_state[k]++;
    }
    util_buf b = {0};
    if (json) {
        util_buf_puts(&b, "{\"sweep\":");
        util_buf_json_str(&b, sweep);
        util_buf_printf(&b, ",\"spec_version\":%d,\"stale\":%zu,\"total\":%zu,\"counts\":{", spec_version, n_stale,
                        total);
        for (int s = 0; s < STORE_STATUS_COUNT; s++)
            util_buf_printf(&b, "%s\"%s\":%zu", s ? "," : "", store_status_name((store_status)s), count[s]);
        util_buf_puts(&b, "},\"running\":[");
        int first = 1;
        for (size_t i = 0; i < n; i++) {
            if (runs[i].status != STORE_RUNNING) continue;
            const run_progress *p = &prog[i];
            util_buf_printf(&b, "%s{\"id\":%lld,\"pid\":%ld,\"attempt\":%d,\"host\":", first ? "" : ",",
                            (long long)runs[i].id, (long)sweep_pid_read(runs[i].run_dir), runs[i].attempt);
            util_buf_json_str(&b, runs[i].host);
            util_buf_puts(&b, ",\"device\":");
            util_buf_json_str(&b, runs[i].device);
            util_buf_puts(&b, ",\"step\":");
            util_buf_json_num(&b, p->has ? (double)p->m.step : NAN);
            util_buf_puts(&b, ",\"total_steps\":");
            util_buf_json_num(&b, p->has && p->total_steps ? (double)p->total_steps : NAN);
            util_buf_puts(&b, ",\"tokens\":");
            util_buf_json_num(&b, p->has ? p->m.tokens : NAN);
            util_buf_puts(&b, ",\"planned_tokens\":");
            util_buf_json_num(&b, runs[i].acc.tokens);
            util_buf_puts(&b, ",\"loss\":");
            util_buf_json_num(&b, p->has ? p->m.loss : NAN);
            util_buf_puts(&b, ",\"tokens_per_second\":");
            util_buf_json_num(&b, p->has ? p->m.tokens_per_second : NAN);
            util_buf_puts(&b, ",\"training_flops\":");
            util_buf_json_num(&b, runs[i].acc.training_flops);
            util_buf_puts(&b, ",\"flops_done\":");
            util_buf_json_num(&b, p->has ? p->flops_done : NAN);
            util_buf_puts(&b, ",\"heartbeat_age_s\":");
            util_buf_json_num(&b, runs[i].heartbeat > 0 ? now - runs[i].heartbeat : NAN);
            util_buf_puts(&b, ",\"run_dir\":");
            util_buf_json_str(&b, runs[i].run_dir);
            if (*q[i].job) {
                util_buf_puts(&b, ",\"slurm_job\":");
                util_buf_json_str(&b, q[i].job);
                util_buf_puts(&b, ",\"slurm_state\":");
                util_buf_json_str(&b, *squeue_err ? "unknown" : *q[i].state ? q[i].state : "gone");
                util_buf_puts(&b, ",\"slurm_reason\":");
                util_buf_json_str(&b, q[i].reason);
            }
            util_buf_puts(&b, "}");
            first = 0;
        }
        util_buf_puts(&b, "],\"next_pending\":[");
        first = 1;
        for (size_t i = 0, k = 0; i < n && k < STATUS_NEXT_PENDING; i++) {
            if (runs[i].status != STORE_PENDING) continue;
            util_buf_printf(&b, "%s{\"id\":%lld,\"training_flops\":", first ? "" : ",", (long long)runs[i].id);
            util_buf_json_num(&b, runs[i].acc.training_flops);
            util_buf_puts(&b, ",\"planned_tokens\":");
            util_buf_json_num(&b, runs[i].acc.tokens);
            util_buf_puts(&b, "}");
            first = 0, k++;
        }
        util_buf_puts(&b, "],\"slurm\":{");
        for (size_t k = 0; k < n_states; k++)
            util_buf_printf(&b, "%s\"%s\":%zu", k ? "," : "", states[k], n_in_state[k]);
        if (n_gone && !*squeue_err) util_buf_printf(&b, "%s\"gone\":%zu", n_states ? "," : "", n_gone);
        util_buf_puts(&b, "}");
        if (*squeue_err) {
            util_buf_puts(&b, ",\"squeue_error\":");
            util_buf_json_str(&b, squeue_err);
        }
        util_buf_puts(&b, ",\"best_loss\":");
        util_buf_json_num(&b, best);
        util_buf_printf(&b, ",\"best_run\":%lld,\"eta_seconds\":", (long long)best_id);
        util_buf_json_num(&b, eta);
        util_buf_puts(&b, ",\"flops_left\":");
        util_buf_json_num(&b, left);
        util_buf_puts(&b, ",\"flops_per_second\":");
        util_buf_json_num(&b, speed > 0 ? speed : NAN);
        util_buf_printf(&b, ",\"scheduler\":{\"running\":%s", live ? "true" : "false");
        if (h_found) {
            util_buf_puts(&b, ",\"host\":");
            util_buf_json_str(&b, h.host);
            util_buf_printf(&b, ",\"pid\":%lld,\"heartbeat_age_s\":", (long long)h.pid);
            util_buf_json_num(&b, h.heartbeat > 0 ? now - h.heartbeat : NAN);
        }
        util_buf_puts(&b, "}}\n");
    } else {
        util_buf_printf(&b, "sweep %s: ", sweep);
        sweep_counts_format(&b, count, total);
        util_buf_puts(&b, "\n");
        if (spec_version > 1 || n_stale)
            util_buf_printf(&b, "spec version %d; %zu run%s of older versions left out of the sweep, data kept "
                                "(`scalelab sweep status %s --stale` lists them)\n",
                            spec_version, n_stale, n_stale == 1 ? "" : "s", sweep);
        if (n_slurm && *squeue_err) {
            util_buf_printf(&b, "slurm: cannot ask squeue: %s\n", squeue_err);
        } else if (n_slurm) {
            util_buf_printf(&b, "slurm (squeue): %zu array task%s:", n_slurm, n_slurm == 1 ? "" : "s");
            for (size_t k = 0; k < n_states; k++) util_buf_printf(&b, "%s %zu %s", k ? "," : "", n_in_state[k], states[k]);
            if (n_gone) util_buf_printf(&b, "%s %zu left the queue without a result (failed attempts)", n_states ? "," : "", n_gone);
            util_buf_puts(&b, "\n");
        }
        for (size_t i = 0; i < n; i++) {
            if (runs[i].status != STORE_RUNNING) continue;
            const run_progress *p = &prog[i];
            char where[4400];
            if (*q[i].job)
                snprintf(where, sizeof where, "slurm task %s %s%s%s%s attempt %d", q[i].job,
                         *squeue_err ? "unknown" : *q[i].state ? q[i].state : "gone", *q[i].reason ? " (" : "",
                         q[i].reason, *q[i].reason ? ")" : "", runs[i].attempt);
            else
                snprintf(where, sizeof where, "pid %ld attempt %d heartbeat %.0f s ago", (long)sweep_pid_read(runs[i].run_dir),
                         runs[i].attempt, runs[i].heartbeat > 0 ? now - runs[i].heartbeat : NAN);
            util_buf_printf(&b, "  running: run %lld", (long long)runs[i].id);
            if (p->has)
                util_buf_printf(&b, "  step %lld/%lld  tokens %.4g/%.4g  loss %.4f  %.3g tok/s",
                                (long long)p->m.step, (long long)p->total_steps, p->m.tokens, runs[i].acc.tokens,
                                p->m.loss, p->m.tokens_per_second);
            else
                util_buf_printf(&b, "  step -  tokens 0/%.4g  loss -  (no step logged yet)", runs[i].acc.tokens);
            util_buf_printf(&b, "  device %s  host %s  %s  %s\n", *runs[i].device ? runs[i].device : "-",
                            *runs[i].host ? runs[i].host : "-", where, runs[i].run_dir);
        }
        for (size_t i = 0, k = 0; i < n && k < STATUS_NEXT_PENDING; i++) {
            if (runs[i].status != STORE_PENDING) continue;
            util_buf_printf(&b, "  next:    run %lld  %.4g training FLOPs  %.4g tokens\n", (long long)runs[i].id,
                            runs[i].acc.training_flops, runs[i].acc.tokens);
            k++;
        }
        if (count[STORE_PENDING] > STATUS_NEXT_PENDING)
            util_buf_printf(&b, "  ... and %zu more pending\n", count[STORE_PENDING] - STATUS_NEXT_PENDING);
        if (isfinite(best)) util_buf_printf(&b, "best loss so far: %.4f (run %lld)\n", best, (long long)best_id);
        else util_buf_puts(&b, "best loss so far: - (no run done)\n");
        char e[32];
        sweep_format_eta(eta, e, sizeof e);
        if (!unfinished)
            util_buf_printf(&b, "ETA: %s (nothing left)\n", e);
        else if (!live)
        {
            char gone[512] = "";
            if (h_found)
                snprintf(gone, sizeof gone, ": pid %lld on %s is gone or silent (heartbeat %.0f s ago)", (long long)h.pid,
                         h.host, now - h.heartbeat);
            util_buf_printf(&b, "ETA: - (no scheduler running%s; `scalelab sweep run` resumes the sweep)\n", gone);
        }
        else if (isfinite(eta))
            util_buf_printf(&b, "ETA: %s (%.4g training FLOPs left at %.3g FLOP/s; scheduler pid %lld on %s)\n", e, left,
                            speed, (long long)h.pid, h.host);
        else
            util_buf_printf(&b, "ETA: - (%.4g training FLOPs left; no step measured yet; scheduler pid %lld on %s)\n",
                            left, (long long)h.pid, h.host);
    }
    fputs(b.data ? b.data : "", stdout);
    fflush(stdout);
    util_buf_free(&b);
    free(q);
    free(prog);
    store_runs_free(runs, n);
    return 0;
}

/* ---- cancel ----------------------------------------------------------------- */

/* SIGTERM to a sweep's scheduler, then wait (at most a minute) until it is gone: a
 * local one first stops its trainers (they checkpoint), a Slurm coordinator stops
 * submitting. stop_scheduler: the one in DIR/scheduler.pid (written before the store
 * held the claim, by an older scalelab). */
static void stop_pid(pid_t pid) {
    /* the command line check keeps a recycled PID safe */
    union sigval v = {.sival_int = SWEEP_CANCEL_COOKIE}; /* says "a cancel" to the scheduler (plain SIGTERM to an older one) */
    if (!process_alive(pid) || !cmdline_has(pid, "sweep", "run") || sigqueue(pid, SIGTERM, v)) return;
    double t0 = util_monotonic();
    while (process_alive(pid) && util_monotonic() - t0 < 60) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void stop_scheduler(const char *dir) {
    char path[4200], *text;
    size_t len;
    snprintf(path, sizeof path, "%s/scheduler.pid", dir);
    if (util_read_file(path, &text, &len, NULL, 0)) return;
    pid_t pid = (pid_t)strtol(text, NULL, 10);
    free(text);
    stop_pid(pid);
}

int sweep_cancel(store *st, const char *sweep, const char *runs_dir, char *err, size_t errlen) {
    size_t n_cancelled = 0, more = 0, n_slurm = 0;
    store_run *runs;
    size_t n;
    store_run_filter f = {.sweep = sweep, .status = STORE_RUNNING};
    size_t before[STORE_STATUS_COUNT], after[STORE_STATUS_COUNT], total;
    if (sweep_counts(st, sweep, before, &total, err, errlen)) return -1;
    /* The schedulers first, so that nothing new starts or gets resubmitted meanwhile:
     * the one the store names (on this host), then any recorded beside the folders. */
    char dir[4200], host[256] = "";
    store_scheduler h;
    int found = 0;
    this_host(host, sizeof host);
    if (store_scheduler_get(st, sweep, &h, &found, err, errlen)) return -1;
    if (found && !strcmp(h.host, host)) stop_pid((pid_t)h.pid);
    snprintf(dir, sizeof dir, "%s/%s", runs_dir, sweep);
    stop_scheduler(dir);
    if (store_runs_list(st, &f, &runs, &n, err, errlen)) return -1;
    for (size_t i = 0; i < n; i++) {
        snprintf(dir, sizeof dir, "%s", runs[i].run_dir);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0, stop_scheduler(dir);
    }
    store_runs_free(runs, n);
    if (store_sweep_cancel_pending(st, sweep, &n_cancelled, err, errlen) ||
        sweep_slurm_cancel(st, sweep, &n_slurm, err, errlen) || store_runs_list(st, &f, &runs, &n, err, errlen))
        return -1;
    /* Trainers whose scheduler is gone (killed): stop them directly. */
    pid_t *pids = calloc(n ? n : 1, sizeof *pids);
    if (!pids) {
        store_runs_free(runs, n);
        return util_err(err, errlen, "sweep %s: cancel: out of memory", sweep);
    }
    size_t n_signalled = 0;
    for (size_t i = 0; i < n; i++) {
        pid_t pid = sweep_trainer_find(runs[i].run_dir, runs[i].id);
        if (pid && !kill(pid, SIGTERM)) pids[n_signalled++] = pid;
    }
    /* They checkpoint and requeue themselves; wait for them (at most a minute). */
    double t0 = util_monotonic();
    for (size_t i = 0; i < n_signalled; i++)
        while (process_alive(pids[i]) && util_monotonic() - t0 < 60) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    free(pids);
    store_runs_free(runs, n);
    if (store_sweep_cancel_pending(st, sweep, &more, err, errlen) || sweep_counts(st, sweep, after, &total, err, errlen))
        return -1;
    /* counted in the store (a stopped scheduler may have cancelled some itself), with
     * the counts line of `sweep status` */
    size_t now_cancelled = after[STORE_CANCELLED] - (before[STORE_CANCELLED] < after[STORE_CANCELLED]
                                                         ? before[STORE_CANCELLED] : after[STORE_CANCELLED]);
    util_buf b = {0};
    util_buf_printf(&b, "sweep %s: %zu run%s cancelled (running trainers stopped with a checkpoint first)\nsweep %s: ",
                    sweep, now_cancelled, now_cancelled == 1 ? "" : "s", sweep);
    sweep_counts_format(&b, after, total);
    util_buf_puts(&b, "\n");
    fputs(b.data, stdout);
    util_buf_free(&b);
    return 0;
}
