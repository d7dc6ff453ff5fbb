/* store: the SQLite file that holds sweeps, runs, metrics, position losses and
 * fits (DESIGN.md section 5). It knows nothing about models: runs carry their
 * config as opaque canonical JSON plus the accounting numbers the caller computed.
 *
 * Every function returns 0 on success or non-zero after writing a one-line reason
 * into err (see util/util.h). SQLITE_BUSY is retried inside the store (busy
 * timeout plus a retry loop around write transactions) and never reaches callers.
 * A store handle belongs to one thread; processes open their own handles. */
#ifndef SCALELAB_STORE_H
#define SCALELAB_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "util/accounting.h"

typedef struct store store;

typedef enum store_status {
    STORE_PENDING = 0,
    STORE_RUNNING,
    STORE_DONE,
    STORE_FAILED,
    STORE_DIVERGED,
    STORE_CANCELLED,
    STORE_STATUS_COUNT
} store_status;

const char *store_status_name(store_status s);              /* "pending", ... */
int store_status_parse(const char *name, store_status *out); /* 0 ok, -1 unknown */

/* The accounting numbers of DESIGN section 4, computed by model_flops: the one
 * record of util/accounting.h, whose field list also names the runs table's columns. */
typedef util_accounting store_accounting;

/* A run to insert. */
typedef struct store_run_new {
    const char *config_json; /* canonical JSON of the run config */
    const char *config_hash; /* hex hash of config_json; the dedupe key */
    store_accounting acc;
} store_run_new;

/* A run as stored. Strings are owned by the list they came in and are "" when
 * unset (never NULL); losses and accounting numbers are NAN when not (yet) known.
 * Times are Unix seconds (0 when unset). */
typedef struct store_run {
    int64_t id;
    char *sweep; /* first sweep that asked for it, or "" for a lone `train` */
    char *config_json, *config_hash;
    store_status status;
    int attempt;
    char *host, *device, *run_dir, *error;
    double created, started, finished, heartbeat;
    store_accounting acc;
    double final_train_loss, final_eval_loss, best_context_loss;
} store_run;

typedef struct store_run_filter {
    const char *sweep;   /* NULL: any */
    int status;          /* -1: any, else a store_status */
    int64_t id;          /* 0: any */
} store_run_filter;

typedef struct store_metric {
    int64_t step;
    double tokens, wall_seconds, loss, lr, grad_norm, tokens_per_second;
    double eval_loss; /* NAN except at evaluation steps */
} store_metric;

typedef struct store_position_loss {
    int64_t step;
    int64_t position; /* first position of the bucket (buckets are log2: 1, 2-3, 4-7, ...) */
    double loss;
} store_position_loss;

typedef struct store_fit {
    int64_t id;          /* filled by the store */
    double created;      /* filled by the store */
    char *form;          /* "powerlaw", "chinchilla", "additive", "isoflop" */
    char *source;        /* e.g. "sweep:demo" or "csv:path" */
    char *inputs_json;   /* columns, options, points used */
    char *params_json, *intervals_json, *residuals_json;
    double objective, rmse_log;
    int64_t n_points;
    char *verdict;          /* "ok", "weak", "unconstrained"; NULL for fits stored before v3 */
    char *diagnostics_json; /* fit/fit.h: fit_diagnostics_json; NULL before v3 */
} store_fit;

/* Open (creating or migrating) the store. A newer schema, a SQLite file of another
 * program or a file that is not SQLite is refused and left untouched: the file is
 * inspected read-only before anything is written. The migration runs in one
 * transaction, so a crash leaves the old version. */
int store_open(const char *path, store **out, char *err, size_t errlen);
/* store_open with flags:
 *   STORE_OPEN_READONLY  the caller only reads: a store this process cannot write
 *                        (read-only folder or file) is opened read-only instead of
 *                        failing (no WAL switch, no migration; an older schema is refused).
 *   STORE_OPEN_CHECK     PRAGMA quick_check before anything is written; a store that
 *                        fails it is refused and left untouched (for commands that write:
 *                        init, sweep run, fit).
 * A folder that is not writable or a full disk is reported as such, never as "not a
 * readable SQLite database"; side files that a refused open created are removed. */
enum { STORE_OPEN_READONLY = 1, STORE_OPEN_CHECK = 2 };
int store_open_flags(const char *path, int flags, store **out, char *err, size_t errlen);
/* The store's identity (random hex, made when the store was created; meta.store_id).
 * Run folders record it, so a folder that another store trained is recognised. */
const char *store_id(store *s);
void store_close(store *s);
int store_schema_version(store *s);
/* The schema version the file had before this open: 0 when store_open created it. */
int store_initial_version(store *s);
#define STORE_SCHEMA_VERSION 5
/* PRAGMA application_id of a scalelab store ("SCLB"), so other programs' SQLite
 * files are recognised and refused. */
#define STORE_APPLICATION_ID 0x53434C42

/* Sweeps and their spec versions (schema v5). A sweep's spec text is never
 * overwritten: a text that differs from the current version is stored as the next
 * version (sweep_specs), and sweeps.spec follows the current one. */
typedef struct store_sweep_change {
    int version;         /* the version of spec_text: the current one when unchanged, else the next */
    int changed;         /* spec_text differs from the current version (always for a new sweep) */
    int prev_version;    /* the version current before the call; 0 for a new sweep */
    double prev_created; /* when that version was stored */
    int64_t *dropped;    /* the sweep's runs (current members) that the plan does not hold, by id */
    size_t n_dropped;
} store_sweep_change;
/* With apply: stores spec_text as a new version when it changed and, when planned
 * (config hashes of every run the spec plans, n of them) is given, moves the sweep's
 * runs outside the plan out of its membership (sweep_runs -> sweep_runs_dropped, with
 * the version; their data stay in runs) and cancels those still pending that no other
 * sweep holds; runs the plan holds again come back. One transaction. Without apply:
 * fills u the same way and writes nothing (a preview). planned NULL leaves membership
 * untouched. Free u with store_sweep_update_clear (also after a failure). */
int store_sweep_update(store *s, const char *name, const char *spec_text, const char *const *planned, size_t n,
                       int apply, store_sweep_change *u, char *err, size_t errlen);
void store_sweep_update_clear(store_sweep_change *u);
/* store_sweep_update with apply and no plan: creates the sweep, or stores a changed
 * text as its next version. */
int store_sweep_put(store *s, const char *name, const char *spec_text, char *err, size_t errlen);
typedef struct store_sweep_version {
    int version;
    double created;
    char *spec;
} store_sweep_version;
/* Every version of a sweep's spec, oldest first (none for an unknown sweep). */
int store_sweep_versions(store *s, const char *name, store_sweep_version **v, size_t *n, char *err, size_t errlen);
void store_sweep_versions_free(store_sweep_version *v, size_t n);
/* Runs that a later spec version left out of the sweep (ids ascending) and that
 * version; malloc'd arrays the caller frees. */
int store_sweep_dropped(store *s, const char *name, int64_t **runs, int **versions, size_t *n, char *err,
                        size_t errlen);
/* The planned training FLOPs of a sweep's pending runs (NULL counts 0), and the FLOPs
 * and wall seconds (finished - started) of its done runs that have both times: what
 * an ETA needs, in one aggregate query instead of a listing of every run. */
typedef struct store_sweep_flops {
    double pending_flops, done_timed_flops, done_seconds;
} store_sweep_flops;
int store_sweep_flops_get(store *s, const char *sweep, store_sweep_flops *out, char *err, size_t errlen);
/* The spec text of a sweep's current version (malloc'd, caller frees); *spec = NULL when no such sweep. */
int store_sweep_get(store *s, const char *name, char **spec, char *err, size_t errlen);

/* Insert runs for a sweep ("" for none), deduplicated by config hash across all
 * sweeps: an existing hash is linked to this sweep instead of inserted again.
 * ids[i] receives each run's id; *n_new how many rows were really inserted. One
 * transaction. A named sweep must exist (store_sweep_put); config_json must be
 * valid JSON and config_hash non-empty; a hash already stored with a different
 * config text is refused (a collision or non-canonical JSON). A run first
 * inserted for "" and later asked for by a sweep takes that sweep as `sweep`. */
int store_runs_insert(store *s, const char *sweep, const store_run_new *runs, size_t n,
                      int64_t *ids, size_t *n_new, char *err, size_t errlen);

/* Atomically move the oldest pending run (of sweep, or any when NULL) to running
 * and return its id in *id (0 when none is pending). attempt is incremented. */
int store_run_claim(store *s, const char *sweep, const char *host, const char *device,
                    int64_t *id, char *err, size_t errlen);
/* Claim a given run (pending -> running); fails when it is not pending. */
int store_run_claim_id(store *s, int64_t id, const char *host, const char *device,
                       char *err, size_t errlen);
int store_run_set_dir(store *s, int64_t id, const char *run_dir, char *err, size_t errlen);
/* What the trainer reports once it has chosen its backend: device kind ("cpu" or
 * "cuda") and the precision it computes in (train.precision auto resolved). The
 * device column becomes "cpu" (FP32, the CPU's only precision), or on CUDA the claimed
 * device when that names a GPU ("cuda:1", else "cuda"), a space and the precision:
 * "cuda:1 bf16" (a standalone train claims "cpu" before it knows). A resumed attempt's
 * precision replaces the earlier one. */
int store_run_set_device(store *s, int64_t id, const char *device, const char *precision, char *err, size_t errlen);
/* Fails when the run is no longer running (e.g. expired and requeued): the
 * worker has lost it and should stop. */
int store_run_heartbeat(store *s, int64_t id, char *err, size_t errlen);
/* running -> done with final losses (NAN when unknown). */
int store_run_finish(store *s, int64_t id, double final_train_loss, double final_eval_loss,
                     double best_context_loss, char *err, size_t errlen);
/* pending | running -> failed | diverged | cancelled, with error text (may be NULL). */
int store_run_end(store *s, int64_t id, store_status status, const char *error_text,
                  char *err, size_t errlen);
/* running | failed | diverged | cancelled -> pending (a retry or a resume),
 * keeping attempt (the next claim counts it). A done run is not requeued. */
int store_run_requeue(store *s, int64_t id, char *err, size_t errlen);
/* Running runs whose heartbeat is older than timeout_s: back to pending while
 * attempt < max_attempts, else failed ("heartbeat expired"). */
int store_requeue_expired(store *s, double timeout_s, int max_attempts, size_t *n_requeued,
                          char *err, size_t errlen);
/* Pending runs of a sweep -> cancelled; *n how many. The sweep must exist. A run
 * shared with another sweep is cancelled for both (it is one run). */
int store_sweep_cancel_pending(store *s, const char *sweep, size_t *n, char *err, size_t errlen);

/* Metrics: n rows in one transaction. Rows with an existing (run, step) are
 * replaced, so a resumed run may re-log steps after its checkpoint. */
int store_metrics_append(store *s, int64_t run, const store_metric *rows, size_t n,
                         char *err, size_t errlen);
int store_position_loss_put(store *s, int64_t run, const store_position_loss *rows, size_t n,
                            char *err, size_t errlen);

/* Listing. Results are malloc'd arrays the caller frees with the matching _free. */
int store_runs_list(store *s, const store_run_filter *f, store_run **runs, size_t *n,
                    char *err, size_t errlen);
void store_runs_free(store_run *runs, size_t n);
int store_run_get(store *s, int64_t id, store_run *run, char *err, size_t errlen);
void store_run_clear(store_run *run);
int store_metrics_list(store *s, int64_t run, store_metric **rows, size_t *n, char *err, size_t errlen);
/* The run's metric row with the highest step (its latest progress); *found = 0 when
 * it has none yet. One indexed lookup, for progress displays. */
int store_metric_latest(store *s, int64_t run, store_metric *row, int *found, char *err, size_t errlen);
int store_position_loss_list(store *s, int64_t run, store_position_loss **rows, size_t *n,
                             char *err, size_t errlen);
/* How many runs of a sweep (NULL: all runs) are in each status, indexed by
 * store_status; for progress displays without listing every run. */
int store_run_counts(store *s, const char *sweep, size_t counts[STORE_STATUS_COUNT], char *err, size_t errlen);
/* Sweep names (malloc'd array of malloc'd strings); free with store_strings_free. */
int store_sweeps_list(store *s, char ***names, size_t *n, char *err, size_t errlen);
void store_strings_free(char **v, size_t n);

/* Fits. id 0 in store_fit_get means the latest. The *_json fields may be NULL;
 * when given they must be valid JSON. */
int store_fit_insert(store *s, const store_fit *fit, int64_t *id, char *err, size_t errlen);
int store_fit_get(store *s, int64_t id, store_fit *fit, char *err, size_t errlen);
void store_fit_clear(store_fit *fit);
/* Every stored fit, oldest first; free each with store_fit_clear, then the array. */
int store_fit_list(store *s, store_fit **out, size_t *n, char *err, size_t errlen);

/* Reading JSON the store holds (a fit's diagnostics) with SQLite's own JSON functions, so
 * callers never parse JSON by hand: the rows of json_each(json, path). A path that is
 * absent gives no items; a path at a lone value gives one item with key "". Invalid JSON
 * is an error. */
typedef struct store_json_item {
    char *key;   /* an object member's name, an array element's index in decimal, or "" */
    char *type;  /* json_each's type: null, true, false, integer, real, text, array, object */
    char *value; /* a string's text, a number's digits, nested JSON's text; NULL for null */
} store_json_item;
int store_json_each(store *s, const char *json, const char *path, store_json_item **items, size_t *n,
                    char *err, size_t errlen);
void store_json_items_free(store_json_item *items, size_t n);
/* Every leaf (a value that is not an object or an array) of json, flattened with
 * SQLite's json_tree, sorted by key (bytewise; document order among equal keys):
 * key is the leaf's path with members joined by "." and indexes in brackets
 * ("model.d_model", "x[0].y"; "" for a lone scalar; a member name holding "." is
 * written as it is, so {"a.b":1} and {"a":{"b":1}} both give "a.b"); type as
 * json_each's; value a string's text, a number exactly as the JSON wrote it, "true"
 * or "false", NULL for null. Empty objects and arrays give no items. Invalid JSON
 * is an error. Free with store_json_items_free. */
int store_json_flatten(store *s, const char *json, store_json_item **items, size_t *n, char *err,
                       size_t errlen);
/* One value at a path ("$.form", "$.grid.e[0]"; a path names one member at one depth):
 * a number (null reads as NaN) or a string (UTF-8, escapes decoded). Non-zero when the
 * value is absent or of another type. */
int store_json_number(store *s, const char *json, const char *path, double *v, char *err, size_t errlen);
int store_json_text(store *s, const char *json, const char *path, char **out, char *err, size_t errlen);
/* The strings of the array at path, in order (free with store_strings_free); an element that
 * is not a string is an error. An absent path gives none. */
int store_json_strings(store *s, const char *json, const char *path, char ***v, size_t *n, char *err,
                       size_t errlen);
/* Every number under path in document order, nested arrays flattened, null as NaN; each
 * double exactly what its digits say. A string or boolean under path is an error. */
int store_json_numbers(store *s, const char *json, const char *path, double **v, size_t *n, char *err,
                       size_t errlen);

/* What a stored fit's inputs_json says about its law (fit/fit.h: fit_law_from_parts builds
 * it): the top-level members form, x_cols, theta, boot_theta (every bootstrap theta, one
 * after another), source and y_col (NULL when absent). */
typedef struct store_fit_inputs {
    char *form, *source, *y_col;
    char **x_cols;
    size_t n_x;
    double *theta;
    size_t n_theta;
    double *boot_theta;
    size_t n_boot_values;
} store_fit_inputs;
int store_fit_inputs_read(store *s, const char *inputs_json, store_fit_inputs *in, char *err, size_t errlen);
void store_fit_inputs_free(store_fit_inputs *in);

/* The accounting of the runs a fit was measured on, for recommend's cost model: with source
 * "sweep:A+B" (a fit of sweeps A and B) the finished runs of each sweep (a run two of them
 * hold comes once per sweep); any other source (a CSV) gives n = 0. Arrays of n, one
 * allocation (free with store_run_costs_free); training_flops_max is NAN without runs. */
typedef struct store_run_costs {
    size_t n;
    double *params, *params_non_embedding, *weight_flops_per_token, *state_flops_per_token, *training_flops;
    double training_flops_max;
} store_run_costs;
int store_source_run_costs(store *s, const char *source, store_run_costs *c, char *err, size_t errlen);
void store_run_costs_free(store_run_costs *c);

/* failed runs of a sweep -> pending with attempt 0 and no error (sweep run
 * --retry-failed); *n how many. Their folders and checkpoints are untouched. */
int store_sweep_requeue_failed(store *s, const char *sweep, size_t *n, char *err, size_t errlen);

/* Schedulers: one per (store, sweep), whatever folder it runs from. */
typedef struct store_scheduler {
    char host[256];
    int64_t pid;
    double started, heartbeat;
    char runs_dir[4096];
} store_scheduler;
/* Says whether the scheduler pid recorded for host is still alive (the store knows
 * nothing of processes; the caller checks, on its own host only). */
typedef int (*store_pid_alive_fn)(void *ctx, int64_t pid);
/* Claims sweep for (host, pid) in one BEGIN IMMEDIATE transaction: succeeds when no
 * scheduler holds it, when the holder is this very process, when the holder ran on
 * this host and alive(pid) says it is gone, or when the holder is on another host and
 * its heartbeat is older than stale_s. Otherwise *claimed = 0 and *holder says who
 * holds it. */
int store_scheduler_claim(store *s, const char *sweep, const char *host, int64_t pid, const char *runs_dir,
                          double stale_s, store_pid_alive_fn alive, void *ctx, int *claimed,
                          store_scheduler *holder, char *err, size_t errlen);
/* Refreshes the claim's heartbeat; fails when (host, pid) no longer holds sweep. */
int store_scheduler_heartbeat(store *s, const char *sweep, const char *host, int64_t pid, char *err,
                              size_t errlen);
/* Gives the claim up (no-op when (host, pid) does not hold it). */
int store_scheduler_release(store *s, const char *sweep, const char *host, int64_t pid, char *err,
                            size_t errlen);
/* The sweep's scheduler; *found = 0 when none is recorded. */
int store_scheduler_get(store *s, const char *sweep, store_scheduler *out, int *found, char *err, size_t errlen);

/* PRAGMA integrity_check: 0 when it says "ok", else its first complaint in err. */
int store_integrity_check(store *s, char *err, size_t errlen);

/* Fault injection for tests: called inside the open transaction of
 * store_metrics_append after each row is written (row = index in the batch),
 * before the commit, so a test can stop or kill a writer mid-batch. NULL clears. */
typedef void (*store_fault_hook)(void *ctx, size_t row);
void store_set_fault_hook(store *s, store_fault_hook hook, void *ctx);

#endif
