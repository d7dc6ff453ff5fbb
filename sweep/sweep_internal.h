/* sweep_internal: helpers shared by the schedulers (private to sweep/). */
#ifndef SCALELAB_SWEEP_INTERNAL_H
#define SCALELAB_SWEEP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/store.h"
#include "sweep/sweep.h"

/* RUNS_DIR/SWEEP/ID-HASH */
void sweep_run_dir_name(const char *runs_dir, const char *sweep, const store_run *r, char *out, size_t outlen);
/* Writes the run's config.json into its folder (created). */
int sweep_run_prepare_dir(const store_run *r, const char *dir, char *err, size_t errlen);
/* The trainer PID recorded in DIR/pid, or 0. */
pid_t sweep_pid_read(const char *dir);
int sweep_pid_write(const char *dir, pid_t pid, char *err, size_t errlen);
/* True when pid is alive and is the trainer of run id (its command line holds
 * "--run-id ID"), so a recycled PID is never mistaken for it. */
int sweep_trainer_alive(pid_t pid, int64_t id);
/* Failures counted so far for the run (DIR/failures); sweep_failures_bump adds one. */
int sweep_failures(const char *dir);
int sweep_failures_bump(const char *dir);
/* The last max_bytes of a file, starting at a line (malloc'd; "" when missing). */
char *sweep_log_tail(const char *path, size_t max_bytes);
/* A failed attempt: requeue while failures <= retries, else failed with the log tail. */
int sweep_run_failed(store *st, const store_run *r, int retries, const char *why, int *requeued,
                     char *err, size_t errlen);
/* Records this process as the sweep's scheduler (RUNS_DIR/SWEEP/scheduler.pid, path
 * returned), refusing when another live `sweep run` holds it. */
int sweep_scheduler_claim(const char *runs_dir, const char *sweep, char *path, size_t pathlen, char *err,
                          size_t errlen);
/* "1:02:03" or "-" */
void sweep_format_eta(double seconds, char *out, size_t outlen);

#endif
