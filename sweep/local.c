/* sweep/local: the local scheduler. One `scalelab train` process per run,
 * started with posix_spawn (never a shell) into its own process group, with
 * stdout and stderr appended to RUN_DIR/train.log and its PID in RUN_DIR/pid.
 *
 * Crash safety: the store is the truth. A scheduler that dies leaves runs in
 * `running`; the next `sweep run` finds each one's PID file: a live trainer of
 * that run (checked through /proc/PID/cmdline) is adopted and watched, a dead one
 * is requeued and resumes from its checkpoint in the same folder. The trainers
 * heartbeat themselves; the scheduler also heartbeats the runs it supervises.
 * The main loop sleeps on a pipe that signal handlers write to, so a finished
 * child (SIGCHLD) or a stop request wakes it at once. */
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

typedef struct job {
    int64_t id;   /* 0: free slot */
    pid_t pid;
    int adopted;  /* not our child: watched with kill(pid, 0) */
    int gpu;      /* -1 for CPU */
    double started;
    char dir[4200];
} job;

typedef struct sched {
    store *st;
    const char *sweep;
    const sweep_run_opts *o;
    job *jobs;
    size_t cap;  /* n_slots, plus room for adopted trainers beyond them */
    int n_slots, threads;
    char env_omp[64], env_blas[64], env_cuda[64]; /* read by posix_spawn */
    size_t running; /* our trainers (children and adopted), for the free slots */
    int stopping;
    char host[256];
    double last_progress;
} sched;

static void progress(sched *s, const char *event) {
    /* the counts and the ETA exactly as `sweep status` computes them, from the store */
    sweep_progress p;
    if (sweep_progress_get(s->st, s->sweep, &p, NULL, 0)) memset(&p, 0, sizeof p), p.eta_s = NAN;
    char e[32];
    sweep_format_eta(p.eta_s, e, sizeof e);
    const size_t *c = p.count;
    if (s->o->tty) {
        if (event) fprintf(stderr, "\r\033[K%s\n", event);
        fprintf(stderr, "\r\033[K[%s] %zu/%zu done, %zu running, %zu failed, %zu diverged, ETA %s", s->sweep,
                c[STORE_DONE], p.total, c[STORE_RUNNING], c[STORE_FAILED], c[STORE_DIVERGED], e);
        fflush(stderr);
    } else if (event) {
        printf("[%s] %s (%zu/%zu done, %zu running, %zu failed, ETA %s)\n", s->sweep, event, c[STORE_DONE], p.total,
               c[STORE_RUNNING], c[STORE_FAILED], e);
        fflush(stdout);
    }
    s->last_progress = util_monotonic();
}

/* The environment of a trainer: ours, with its thread counts and GPU. */
static char **child_env(sched *s, int gpu) {
    size_t n = 0;
    while (environ[n]) n++;
    char **env = calloc(n + 4, sizeof *env);
    if (!env) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "OMP_NUM_THREADS=", 16) && strncmp(environ[i], "OPENBLAS_NUM_THREADS=", 21) &&
            strncmp(environ[i], "CUDA_VISIBLE_DEVICES=", 21))
            env[k++] = environ[i];
    snprintf(s->env_omp, sizeof s->env_omp, "OMP_NUM_THREADS=%d", s->threads);
    snprintf(s->env_blas, sizeof s->env_blas, "OPENBLAS_NUM_THREADS=%d", s->threads);
    env[k++] = s->env_omp;
    env[k++] = s->env_blas;
    if (gpu >= 0) {
        snprintf(s->env_cuda, sizeof s->env_cuda, "CUDA_VISIBLE_DEVICES=%d", gpu);
        env[k++] = s->env_cuda;
    }
    return env;
}

static const char *trainer_device(const sched *s, int gpu) {
    return s->o->device ? s->o->device : gpu >= 0 ? "cuda" : "cpu";
}

/* Whether an MPS control daemon answers where this process's CUDA clients would look
 * for it ($CUDA_MPS_PIPE_DIRECTORY, else /tmp/nvidia-mps): its "control" pipe exists.
 * Without MPS, trainers sharing a GPU take turns in time slices (issue 10 measured 1.06x
 * the tokens/s of one trainer with 4 or 8 per GPU); under MPS their kernels overlap. */
static int mps_running(void) {
    const char *dir = getenv("CUDA_MPS_PIPE_DIRECTORY");
    char path[4200];
    snprintf(path, sizeof path, "%s/control", dir && *dir ? dir : "/tmp/nvidia-mps");
    return access(path, F_OK) == 0;
}

/* The first line of an attempt in its train.log: what the scheduler gave it. */
static int log_attempt(const sched *s, const job *j, int attempt, char *err, size_t errlen) {
    char path[4300], gpu[32] = "unset";
    snprintf(path, sizeof path, "%s/train.log", j->dir);
    if (j->gpu >= 0) snprintf(gpu, sizeof gpu, "%d", j->gpu);
    FILE *f = fopen(path, "a");
    if (!f) return util_err(err, errlen, "cannot open %s: %s", path, strerror(errno));
    fprintf(f, "sweep: run %lld attempt %d: --device %s, CUDA_VISIBLE_DEVICES=%s, %d threads, host %s\n",
            (long long)j->id, attempt, trainer_device(s, j->gpu), gpu, s->threads, s->host);
    return fclose(f) ? util_err(err, errlen, "cannot write %s: %s", path, strerror(errno)) : 0;
}

/* Says in the new train.log that the folder's earlier contents were another store's. */
static int log_moved(const job *j, const char *moved, char *err, size_t errlen) {
    if (!*moved) return 0;
    char path[4300];
    snprintf(path, sizeof path, "%s/train.log", j->dir);
    FILE *f = fopen(path, "a");
    if (!f) return util_err(err, errlen, "cannot open %s: %s", path, strerror(errno));
    fprintf(f, "sweep: this folder held the work of another store's run (a checkpoint is never taken for this "
               "run's); moved it aside to %s; run %lld starts fresh\n",
            moved, (long long)j->id);
    return fclose(f) ? util_err(err, errlen, "cannot write %s: %s", path, strerror(errno)) : 0;
}

static int spawn(sched *s, job *j, char *err, size_t errlen) {
    char config[4300], log[4300], threads[16], id[32];
    snprintf(config, sizeof config, "%s/config.json", j->dir);
    snprintf(log, sizeof log, "%s/train.log", j->dir);
    snprintf(threads, sizeof threads, "%d", s->threads);
    snprintf(id, sizeof id, "%lld", (long long)j->id);
    /* --quiet: its stdout is train.log, which the trainer also writes itself */
    char *argv[] = {(char *)s->o->exe, "train", config, "--run-id", id, "--run-dir", j->dir,
                    "--db", (char *)s->o->db_path, "--threads", threads, "--device", (char *)trainer_device(s, j->gpu),
                    "--quiet", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawnattr_init(&attr);
    /* SIGTERM and SIGINT stay blocked (pending, not lost) until the trainer has
     * installed its handler and unblocks them: a stop during its start-up then
     * checkpoints instead of killing it. */
    sigset_t blocked, dflt;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGINT);
    sigemptyset(&dflt);
    sigaddset(&dflt, SIGTERM);
    sigaddset(&dflt, SIGINT);
    sigaddset(&dflt, SIGHUP);
    sigaddset(&dflt, SIGCHLD);
    sigaddset(&dflt, SIGPIPE);
    posix_spawnattr_setsigmask(&attr, &blocked);
    posix_spawnattr_setsigdefault(&attr, &dflt);
    /* Its own process group: a Ctrl-C reaches the scheduler, which stops trainers cleanly. */
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    char **env = child_env(s, j->gpu);
    int rc = env ? posix_spawn(&j->pid, s->o->exe, &fa, &attr, argv, env) : ENOMEM;
    free(env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc) return util_err(err, errlen, "cannot start %s train for run %lld: %s", s->o->exe, (long long)j->id,
                            strerror(rc));
    j->started = util_monotonic();
    j->adopted = 0;
    return sweep_pid_write(j->dir, j->pid, err, errlen);
}

/* A free entry for a new trainer, while fewer than n_slots run (adopted ones count). */
static job *free_slot(sched *s) {
    if (s->running >= (size_t)s->n_slots) return NULL;
    for (size_t i = 0; i < s->cap; i++)
        if (!s->jobs[i].id) return &s->jobs[i];
    return NULL;
}

/* The GPU with the fewest of our trainers, when it has fewer than per_gpu; -1 on CPU. */
static int pick_gpu(const sched *s) {
    if (!s->o->n_gpus) return -1;
    int best = -1;
    size_t best_n = 0;
    for (size_t g = 0; g < s->o->n_gpus; g++) {
        size_t n = 0;
        for (size_t i = 0; i < s->cap; i++) n += s->jobs[i].id && s->jobs[i].gpu == s->o->gpus[g];
        if (n < (size_t)s->o->per_gpu && (best < 0 || n < best_n)) best = s->o->gpus[g], best_n = n;
    }
    return best;
}

/* Claims and starts the next pending run; *started = 0 when none is pending. */
static int start_next(sched *s, job *j, int *started, char *err, size_t errlen) {
    char device[32];
    int gpu = pick_gpu(s);
    *started = 0;
    if (s->o->n_gpus && gpu < 0) return 0; /* every GPU full (adopted trainers on GPUs we were not given) */
    if (gpu >= 0 && strcmp(trainer_device(s, gpu), "cpu")) snprintf(device, sizeof device, "cuda:%d", gpu);
    else snprintf(device, sizeof device, "cpu");
    int64_t id;
    if (store_run_claim(s->st, s->sweep, s->host, device, &id, err, errlen)) return -1;
    if (!id) return 0;
    store_run r;
    if (store_run_get(s->st, id, &r, err, errlen)) return -1;
    j->id = id;
    j->gpu = gpu;
    sweep_run_dir_name(s->o->runs_dir, s->sweep, &r, j->dir, sizeof j->dir);
    char moved[4400] = "";
    /* a folder this store never sent the run to may hold another store's work */
    int rc = sweep_run_dir_claim(j->dir, store_id(s->st), id, *r.run_dir != 0, moved, sizeof moved, err, errlen) ||
             store_run_set_dir(s->st, id, j->dir, err, errlen) || sweep_run_prepare_dir(&r, j->dir, err, errlen) ||
             log_moved(j, moved, err, errlen) || log_attempt(s, j, r.attempt, err, errlen) ||
             spawn(s, j, err, errlen);
    store_run_clear(&r);
    if (rc) {
        char why[1024];
        snprintf(why, sizeof why, "%s", err);
        store_run_end(s->st, id, STORE_FAILED, why, NULL, 0);
        j->id = 0;
        return -1;
    }
    *started = 1;
    s->running++;
    if (*moved) {
        char note[4600];
        snprintf(note, sizeof note, "run %lld: its folder held another store's run; moved aside to %s (starts fresh)",
                 (long long)id, moved);
        progress(s, note);
    }
    char event[256];
    if (gpu >= 0)
        snprintf(event, sizeof event, "run %lld started (pid %ld, %s, gpu %d)", (long long)id, (long)j->pid, device,
                 gpu);
    else
        snprintf(event, sizeof event, "run %lld started (pid %ld, %s)", (long long)id, (long)j->pid, device);
    progress(s, event);
    return 0;
}

/* A trainer ended (exit_status < 0: an adopted process vanished); settle its run. */
static int settle(sched *s, job *j, int exit_status, char *err, size_t errlen) {
    int locked = exit_status >= 0 && WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == SWEEP_TRAIN_EXIT_LOCKED;
    if (locked) { /* another trainer holds the folder (one whose scheduler died): watch it */
        pid_t holder = sweep_trainer_find(j->dir, j->id);
        if (holder) {
            j->pid = holder;
            j->adopted = 1;
            sweep_pid_write(j->dir, holder, NULL, 0);
            char event[160];
            snprintf(event, sizeof event, "run %lld: a live trainer (pid %ld) already holds its folder; adopted it",
                     (long long)j->id, (long)holder);
            progress(s, event);
            return 0;
        }
        /* still held, by no trainer this host can see (another host on a shared
         * folder): that is a failed attempt after all, or we would spin on it */
        if (sweep_lock_held(j->dir)) locked = 0;
    }
    /* Killed by the stop we sent (during its start-up, before its handler): our doing. */
    int our_stop = s->stopping && exit_status >= 0 && WIFSIGNALED(exit_status) &&
                   (WTERMSIG(exit_status) == SIGTERM || WTERMSIG(exit_status) == SIGINT);
    store_run r;
    if (store_run_get(s->st, j->id, &r, err, errlen)) return -1;
    char event[512], why[256];
    double dur = util_monotonic() - j->started;
    int rc = 0;
    if (exit_status < 0) snprintf(why, sizeof why, "trainer (pid %ld) vanished", (long)j->pid);
    else if (WIFSIGNALED(exit_status)) snprintf(why, sizeof why, "trainer killed by signal %d", WTERMSIG(exit_status));
    else snprintf(why, sizeof why, "trainer exited with status %d", WEXITSTATUS(exit_status));
    switch (r.status) {
    case STORE_DONE:
        snprintf(event, sizeof event, "run %lld done, loss %.4f (%.1f s)", (long long)j->id,
                 isfinite(r.final_eval_loss) ? r.final_eval_loss : r.final_train_loss, dur);
        break;
    case STORE_DIVERGED:
        snprintf(event, sizeof event, "run %lld diverged", (long long)j->id);
        break;
    case STORE_PENDING: /* stopped by SIGTERM: checkpointed and requeued itself */
        snprintf(event, sizeof event, "run %lld stopped (checkpoint kept; it resumes on the next sweep run)",
                 (long long)j->id);
        break;
    case STORE_CANCELLED:
        snprintf(event, sizeof event, "run %lld cancelled", (long long)j->id);
        break;
    default: /* running (crashed) or failed (the trainer said so) */
        if ((locked || our_stop) && r.status == STORE_RUNNING) {
            /* not a failed attempt: a lock held by a trainer that has ended since, or our own stop */
            rc = store_run_requeue(s->st, j->id, err, errlen);
            snprintf(event, sizeof event, "run %lld: %s; requeued (not counted as a failure)", (long long)j->id,
                     locked ? "its folder was locked by another trainer" : "stopped during its start-up");
            break;
        }
        int requeued = 0;
        free(r.run_dir);
        r.run_dir = strdup(j->dir);
        rc = sweep_run_failed(s->st, &r, s->o->retries, why, &requeued, err, errlen);
        snprintf(event, sizeof event, "run %lld failed: %s; %s", (long long)j->id, why,
                 requeued ? "retrying" : "giving up (see its train.log)");
    }
    store_run_clear(&r);
    j->id = 0;
    s->running--;
    progress(s, event);
    return rc;
}

/* Runs of this sweep left `running` by a scheduler that died: adopt live trainers,
 * requeue the rest; cancelled runs go back to pending (running again resumes). */
static int recover(sched *s, char *err, size_t errlen) {
    store_run *runs;
    size_t n;
    store_run_filter f = {.sweep = s->sweep, .status = -1};
    if (store_runs_list(s->st, &f, &runs, &n, err, errlen)) return -1;
    int rc = 0;
    size_t n_running = 0;
    for (size_t i = 0; i < n; i++) n_running += runs[i].status == STORE_RUNNING;
    job *grown = realloc(s->jobs, (s->cap + n_running) * sizeof *grown);
    if (!grown) {
        store_runs_free(runs, n);
        return util_err(err, errlen, "out of memory");
    }
    memset(grown + s->cap, 0, n_running * sizeof *grown);
    s->jobs = grown;
    s->cap += n_running;
    for (size_t i = 0; i < n && !rc; i++) {
        store_run *r = &runs[i];
        if (r->status == STORE_CANCELLED) rc = store_run_requeue(s->st, r->id, err, errlen);
        if (r->status != STORE_RUNNING) continue;
        /* its PID file, else the PID in its train.lock, else /proc: a trainer whose
         * scheduler died before writing the PID file is alive all the same */
        pid_t pid = sweep_trainer_find(r->run_dir, r->id);
        job *j = NULL;
        for (size_t k = 0; k < s->cap && !j; k++)
            if (!s->jobs[k].id) j = &s->jobs[k];
        if (pid) {
            sweep_pid_write(r->run_dir, pid, NULL, 0);
            /* its GPU slot counts against per_gpu like our own children's */
            *j = (job){.id = r->id, .pid = pid, .adopted = 1, .gpu = sweep_pid_gpu(pid), .started = util_monotonic()};
            snprintf(j->dir, sizeof j->dir, "%s", r->run_dir);
            s->running++;
            char event[128];
            if (j->gpu >= 0)
                snprintf(event, sizeof event, "run %lld: adopted its live trainer (pid %ld, gpu %d)", (long long)r->id,
                         (long)pid, j->gpu);
            else
                snprintf(event, sizeof event, "run %lld: adopted its live trainer (pid %ld)", (long long)r->id,
                         (long)pid);
            progress(s, event);
        } else {
            rc = store_run_requeue(s->st, r->id, err, errlen);
            char event[128];
            snprintf(event, sizeof event, "run %lld: its trainer is gone; requeued (resumes from its checkpoint)",
                     (long long)r->id);
            if (!rc) progress(s, event);
        }
    }
    store_runs_free(runs, n);
    return rc;
}

int sweep_local_run(store *st, const char *sweep, const sweep_run_opts *o, char *err, size_t errlen) {
    sched s = {.st = st, .sweep = sweep, .o = o};
    double t_start = util_monotonic();
    s.n_slots = o->n_gpus ? (int)o->n_gpus * (o->per_gpu > 0 ? o->per_gpu : 1) : (o->jobs > 0 ? o->jobs : 1);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    /* CPU jobs share the cores; GPU jobs get a core each for their host side */
    long share = o->n_gpus ? 1 : cores / s.n_slots;
    s.threads = o->threads_per_job > 0 ? o->threads_per_job : (int)(share > 0 ? share : 1);
    gethostname(s.host, sizeof s.host - 1);
    if (o->n_gpus && o->per_gpu > 1 && strcmp(trainer_device(&s, o->gpus[0]), "cpu") && !mps_running())
        fprintf(stderr,
                "sweep: note: %d trainers per GPU without MPS (no control pipe where CUDA_MPS_PIPE_DIRECTORY "
                "points, or in /tmp/nvidia-mps): they take turns on the GPU instead of sharing it; start "
                "`nvidia-cuda-mps-control -d` first (README: packing runs on a GPU)\n",
                o->per_gpu);
    s.cap = (size_t)s.n_slots;
    s.jobs = calloc(s.cap, sizeof *s.jobs);
    if (!s.jobs) return util_err(err, errlen, "out of memory");
    sweep_signals sigs;
    if (sweep_signals_open(&sigs, err, errlen)) {
        free(s.jobs);
        return -1;
    }
    /* One scheduler per store and sweep (the claim is in the store), before recovery
     * looks at what a dead predecessor left */
    int claimed = !sweep_scheduler_claim(st, sweep, o->runs_dir, err, errlen);
    int rc = !claimed || recover(&s, err, errlen) ? -1 : 0;
    double last_beat = 0;
    while (!rc) {
        int started = 1;
        job *j;
        while (!s.stopping && started && (j = free_slot(&s)) && !rc) rc = start_next(&s, j, &started, err, errlen);
        if (rc) break;
        if (s.running == 0) break; /* nothing running and nothing left to claim */
        int sig = sweep_signals_wait(&sigs, 0.25); /* adopted trainers are not our children: polled */
        if ((sig == SIGTERM || sig == SIGINT || sig == SIGHUP) && !s.stopping) {
            s.stopping = 1;
            progress(&s, "stopping: asking the trainers to checkpoint");
            for (size_t i = 0; i < s.cap; i++)
                if (s.jobs[i].id) kill(s.jobs[i].pid, SIGTERM);
        }
        for (size_t i = 0; i < s.cap && !rc; i++) { /* reap every ended child and vanished adoptee */
            j = &s.jobs[i];
            if (!j->id) continue;
            int status = 0;
            if (!j->adopted && waitpid(j->pid, &status, WNOHANG) == j->pid) rc = settle(&s, j, status, err, errlen);
            else if (j->adopted && !sweep_trainer_alive(j->pid, j->id)) rc = settle(&s, j, -1, err, errlen);
        }
        if (util_monotonic() - last_beat > 2) {
            for (size_t i = 0; i < s.cap; i++)
                if (s.jobs[i].id) store_run_heartbeat(st, s.jobs[i].id, NULL, 0); /* fails once the run ended */
            /* a lost claim (taken over as stale): stop; our trainers checkpoint and requeue */
            if (sweep_scheduler_beat(st, sweep, NULL, 0) && sweep_scheduler_claim(st, sweep, o->runs_dir, err, errlen))
                rc = -1;
            last_beat = util_monotonic();
        }
        if (o->tty && util_monotonic() - s.last_progress > 1) progress(&s, NULL);
    }
    if (rc) /* leave no orphan behind an error: they checkpoint and requeue themselves */
        for (size_t i = 0; i < s.cap; i++)
            if (s.jobs[i].id && !s.jobs[i].adopted) kill(s.jobs[i].pid, SIGTERM), waitpid(s.jobs[i].pid, NULL, 0);
    if (o->tty) fputc('\n', stderr);
    size_t n_failed = 0;
    if (claimed) sweep_scheduler_release(st, sweep);
    if (!rc) {
        rc = sweep_print_summary(st, sweep, o->runs_dir, util_monotonic() - t_start,
                                 s.stopping ? " (stopped; run it again to resume)" : "", &n_failed, err, errlen);
    }
    sweep_signals_close(&sigs);
    free(s.jobs);
    if (rc) return -1;
    return n_failed ? 1 : 0;
}
