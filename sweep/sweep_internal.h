/* sweep_internal: helpers shared by the schedulers (private to sweep/). */
#ifndef SCALELAB_SWEEP_INTERNAL_H
#define SCALELAB_SWEEP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <sys/types.h>

#include "store/store.h"
#include "sweep/sweep.h"
#include "util/util.h"

/* RUNS_DIR/SWEEP/ID-HASH */
void sweep_run_dir_name(const char *runs_dir, const char *sweep, const store_run *r, char *out, size_t outlen);
/* Writes the run's config.json into its folder (created) and forgets an earlier
 * attempt's Slurm task id. */
int sweep_run_prepare_dir(const store_run *r, const char *dir, char *err, size_t errlen);
/* The trainer PID recorded in DIR/pid, or 0. */
pid_t sweep_pid_read(const char *dir);
int sweep_pid_write(const char *dir, pid_t pid, char *err, size_t errlen);
/* True when pid is alive and is the trainer of run id (its command line holds
 * "--run-id ID"), so a recycled PID is never mistaken for it. */
int sweep_trainer_alive(pid_t pid, int64_t id);
/* The CUDA_VISIBLE_DEVICES of a live process (its /proc/PID/environ), -1 when unset. */
int sweep_pid_gpu(pid_t pid);
/* sched_failures.c. Failures counted so far for the run (DIR/failures); sweep_failures_bump adds one. */
int sweep_failures(const char *dir);
int sweep_failures_bump(const char *dir);
/* The last max_bytes of a file, starting at a line (malloc'd; "" when missing). */
char *sweep_log_tail(const char *path, size_t max_bytes);
/* A failed attempt: requeue while failures <= retries, else failed with the log tail. */
int sweep_run_failed(store *st, const store_run *r, int retries, const char *why, int *requeued,
                     char *err, size_t errlen);
/* The heartbeat of sweep_scheduler_claim's row (fails when the claim was lost); a
 * holder on another host is taken over once its heartbeat is this old. */
#define SWEEP_SCHEDULER_STALE_S 120.0
int sweep_scheduler_beat(store *st, const char *sweep, char *err, size_t errlen);
/* The PID that the trainer holding DIR/train.lock wrote into it (0 when none). */
pid_t sweep_lock_pid(const char *dir);
/* True when some process holds DIR/train.lock (a probe with a shared flock). */
int sweep_lock_held(const char *dir);
/* The live trainer of run id in dir (its command line names both), found through
 * DIR/pid, DIR/train.lock or, when neither names it (its scheduler died between the
 * spawn and the PID file), a scan of /proc; 0 when there is none on this host. */
pid_t sweep_trainer_find(const char *dir, int64_t id);
/* Runs of one Slurm array task: sweep_slurm_check refuses more, the task has room for these. */
#define SWEEP_SLURM_TASK_MAX_RUNS 1000
/* slurm_queue.c: runs argv (PATH lookup, no shell), capturing stdout and stderr into out;
 * the exit status, or -1 when it could not run. */
int sweep_spawn_capture(char *const argv[], util_buf *out);
/* DIR/NAME's text (malloc'd); non-zero when it cannot be read. */
int sweep_run_file_text(const char *dir, const char *name, char **text);
/* Slurm's view of a run submitted as an array task. */
typedef struct sweep_slurm_state {
    char job[64];     /* "JOB_TASK", "" when the run was not submitted to Slurm */
    char state[32];   /* squeue's state (PENDING, RUNNING, COMPLETING, ...), "" once it left the queue */
    char reason[64];  /* why it is pending (squeue %r), "" otherwise */
} sweep_slurm_state;
/* Fills out[i] for runs[i] with one squeue call; -1 (err) when squeue cannot be asked. */
int sweep_slurm_states(const store_run *runs, size_t n, sweep_slurm_state *out, char *err, size_t errlen);
/* The closing line of `sweep run`: counts by status (from the store), training FLOPs
 * done and planned, wall time and where the run folders are. *n_failed: failed runs. */
int sweep_print_summary(store *st, const char *sweep, const char *runs_dir, double wall_s, const char *note,
                        size_t *n_failed, char *err, size_t errlen);
/* Counts by status of the sweep's runs, from the store, and their total: the one
 * source of every count that `sweep run`'s closing line, `sweep status` and
 * `sweep cancel` print. sweep_counts_format writes "N runs: a pending, b running, ...". */
int sweep_counts(store *st, const char *sweep, size_t count[STORE_STATUS_COUNT], size_t *total, char *err,
                 size_t errlen);
void sweep_counts_format(util_buf *b, const size_t count[STORE_STATUS_COUNT], size_t total);
/* The sigqueue value that marks `sweep cancel`'s SIGTERM to a scheduler. */
#define SWEEP_CANCEL_COOKIE 0x434e434c
/* The schedulers' wake-ups: SIGCHLD, SIGTERM, SIGINT and SIGHUP (unless ignored) are
 * caught by handlers that write to a pipe, whichever thread they land on. One open at
 * a time per process. */
typedef struct sweep_signals {
    int fds[2];
    struct sigaction old[4];
} sweep_signals;
int sweep_signals_open(sweep_signals *w, char *err, size_t errlen);
/* Waits at most timeout_s for a signal: returns it (a stop request before SIGCHLD), or 0. */
int sweep_signals_wait(sweep_signals *w, double timeout_s);
void sweep_signals_close(sweep_signals *w);
/* "1:02:03" or "-" */
void sweep_format_eta(double seconds, char *out, size_t outlen);
/* Where a sweep stands, computed once for `sweep status` and the scheduler's own
 * progress line, so the two never disagree: the counts by status (sweep_counts) and
 * the ETA: planned training FLOPs left (pending runs by their planned FLOPs, running
 * runs by what their latest metric row says is left) over the running runs' measured
 * FLOP/s (done runs' speed before any step is logged). eta_s is NAN when unknown, 0
 * when nothing is left. */
typedef struct sweep_progress {
    size_t count[STORE_STATUS_COUNT], total;
    double eta_s, flops_left, flops_per_s;
} sweep_progress;
int sweep_progress_get(store *st, const char *sweep, sweep_progress *p, char *err, size_t errlen);

#endif
