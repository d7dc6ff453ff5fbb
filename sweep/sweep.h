/* sweep: sweep specs (YAML, libyaml), their expansion into run configs, and
 * the schedulers that execute them (local processes, Slurm job arrays).
 *
 * A spec (every section but name optional):
 *
 *   name: lr-scan                    # the sweep's name in the store: [A-Za-z0-9._-], not
 *                                    # starting with '.', at most 64 characters (it names folders,
 *                                    # Slurm jobs and log paths, so nothing else is safe there)
 *   base: configs/tiny.yaml          # a run config file, or an inline mapping
 *   grid:                            # cartesian product over dotted keys
 *     model.d_model: [16, 32]
 *     train.lr: [1e-3, 3e-3]
 *   zip:                             # lists advanced together (one mapping or a list of them)
 *     model.n_layer: [1, 2]
 *     model.n_head: [1, 2]
 *   random:                          # n samples, each drawing every parameter (GSL mt19937)
 *     n: 4
 *     seed: 0
 *     params:
 *       train.lr: {log_uniform: [1e-4, 1e-2]}
 *       train.warmup_steps: {uniform: [10, 50], integer: true}
 *       model.mixer: {choice: [power, softmax]}
 *   seeds: [0, 1]                    # train.seed values (or a count n: 0..n-1)
 *   derived:                         # evaluated per run, in this order
 *     model.mlp_hidden: "${model.d_model} * 4"
 *   constraints:                     # a run is kept when every expression is true
 *     - model.d_model % model.n_head == 0
 *   isoflop:                         # for each budget and shape: train.tokens = budget / (3 (W+S))
 *     budgets: [1e12, 3e12]
 *     min_tokens: 20000              # shapes whose tokens fall outside are dropped and listed
 *     max_tokens: 2e6
 *   retries: 1                       # a failing run is retried this many times
 *   slurm:                           # sbatch options of `sweep run --backend slurm`
 *     account: proj42                # (flags of the same name override them; see
 *     qos: normal                    # sweep_slurm_check for what each value may hold)
 *     partition: gpu
 *     time: "04:00:00"
 *     mem: 16G
 *     cpus_per_task: 8
 *     constraint: "h100|h200"
 *     gres: gpu:1
 *     signal: 120                    # SIGTERM this many seconds before the limit (0: none)
 *     runs_per_task: 4               # runs one array task trains, one after another
 *     extra: ["--exclusive", "--mail-type=END"]
 *
 * Points are the product grid x zip x random x seeds (each factor 1 when absent).
 * Any string value holding "${" (in base, grid, zip, choice or derived) is an
 * expression: numbers, strings in quotes, ${dotted.key} or bare dotted.key
 * references, + - * / // % ** (Python semantics: // floors, % takes the
 * divisor's sign, ** binds tighter than unary minus and to the right), unary
 * minus, parentheses, min(...), max(...), == != < <= > >=, and/or/not (short
 * circuit), true/false. A reference is the point's own value (evaluated first
 * when it is an expression itself; cycles are errors) or else the base
 * config's value. Nothing is ever passed to a shell.
 *
 * Limits, each checked before memory is spent and reported as FILE:LINE:COL:
 * a spec or base file is a regular file of at most SWEEP_MAX_FILE_BYTES;
 * mappings nest at most 32 deep and at most 100000 keys and list items are
 * read, aliases expanded (so alias cycles and "billion laughs" end in an error);
 * a spec expands to at most SWEEP_MAX_POINTS runs (points x isoflop budgets)
 * and its points hold at most SWEEP_MAX_VALUES values in all (base, swept and
 * derived values are copied into every point);
 * an expression nests at most UTIL_EXPR_MAX_DEPTH levels (parentheses, unary
 * operators, not, **), and a derived value's references chain at most
 * SWEEP_MAX_CHAIN derived values deep. One YAML document per file. */
#ifndef SCALELAB_SWEEP_H
#define SCALELAB_SWEEP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/accounting.h"
#include "util/util.h"

enum {
    SWEEP_MAX_POINTS = 100000,        /* runs of one spec (each is a training run) */
    SWEEP_MAX_VALUES = 4000000,       /* key/values held by all points together (~100 bytes each) */
    SWEEP_MAX_FILE_BYTES = 16 << 20,  /* a spec or base file */
    SWEEP_MAX_NAME = 64,              /* characters of a sweep name */
    SWEEP_MAX_CHAIN = 16,             /* derived values evaluated inside one another */
};

/* Expressions (util_expr_eval, util_value) live in util/util.h: fit uses the same language. */

/* ---- specs ---------------------------------------------------------------- */

/* A key with its text value and where it was written (file, 1-based line and column). */
typedef struct sweep_entry {
    char *key, *value;
    const char *file; /* borrowed from the spec (its path or its base file's path) */
    int line, col;
} sweep_entry;

typedef struct sweep_axis { /* one key and its list of values */
    char *key;
    sweep_entry *values; /* values[i].key == key */
    size_t n;
} sweep_axis;

typedef struct sweep_zip {
    sweep_axis *axes;
    size_t n_axes, len; /* every axis has len values */
    int line, col;
} sweep_zip;

typedef enum sweep_dist_kind { SWEEP_UNIFORM = 0, SWEEP_LOG_UNIFORM, SWEEP_CHOICE } sweep_dist_kind;

typedef struct sweep_dist {
    char *key;
    sweep_dist_kind kind;
    double lo, hi;      /* uniform, log_uniform */
    int integer;        /* round the draw to the nearest integer */
    char **choices;     /* choice */
    size_t n_choices;
    int line, col;
} sweep_dist;

typedef struct sweep_spec {
    char *path, *name, *text;   /* text: the spec file's bytes (stored with the sweep) */
    char *base_path;            /* base given as a file path (resolved against the spec's folder) */
    sweep_entry *base;          /* inline base, or the base file flattened to dotted keys */
    size_t n_base;
    sweep_axis *grid;
    size_t n_grid;
    sweep_zip *zips;
    size_t n_zips;
    size_t random_n;
    uint64_t random_seed;
    sweep_dist *dists;
    size_t n_dists;
    sweep_entry *seeds;         /* key "train.seed" */
    size_t n_seeds;
    sweep_entry *derived;
    size_t n_derived;
    sweep_entry *constraints;   /* key "constraints[i]", value the expression */
    size_t n_constraints;
    double *budgets;
    int *budget_line, *budget_col;
    size_t n_budgets;
    double min_tokens, max_tokens; /* 0 and INFINITY when not given */
    int isoflop_line, isoflop_col;
    int retries;
    struct sweep_slurm_spec *slurm; /* the slurm: section, NULL when absent (sweep_slurm_spec_free) */
} sweep_spec;

/* Parses a spec file. Errors read "FILE:LINE:COL: KEY: what is wrong". */
int sweep_spec_load(const char *path, sweep_spec *spec, char *err, size_t errlen);
/* The same from text in memory; path is only used in messages and to resolve a base path. */
int sweep_spec_parse(const char *path, const char *text, size_t len, sweep_spec *spec,
                     char *err, size_t errlen);
void sweep_spec_free(sweep_spec *spec);
/* 0 when name is a safe sweep name ([A-Za-z0-9._-], not starting with '.', 1 to
 * SWEEP_MAX_NAME characters), else -1 with the rule in err. */
int sweep_name_check(const char *name, char *err, size_t errlen);
/* Refuses a spec that expands to more than SWEEP_MAX_POINTS runs (grid x zip x
 * random x seeds, times the isoflop budgets) or whose points would hold more than
 * SWEEP_MAX_VALUES values, naming the first list that multiplies.
 * sweep_spec_parse and sweep_expand call it before building anything. */
int sweep_spec_check_size(const sweep_spec *spec, char *err, size_t errlen);
/* Flattens a YAML mapping file to dotted keys ("model.d_model" -> "32"). */
int sweep_yaml_flatten_file(const char *path, sweep_entry **out, size_t *n, char *err,
                            size_t errlen);
void sweep_entries_free(sweep_entry *e, size_t n);

/* ---- expansion (key/value level; knows nothing of model configs) ---------- */

/* One expanded combination: overrides of the base, every expression evaluated. */
typedef struct sweep_point {
    sweep_entry *kv;
    size_t n;
} sweep_point;

typedef struct sweep_points {
    sweep_point *v;
    size_t n;
    size_t n_filtered; /* combinations removed by constraints */
} sweep_points;

/* Expands grid x zip x random x seeds, applies derived values, evaluates every
 * expression (references fall back to defaults, then fail), and keeps the points
 * that satisfy every constraint. Errors name file:line:col and key. The base's
 * own entries are part of every point (so they can be expressions too). */
int sweep_expand(const sweep_spec *spec, const sweep_entry *defaults, size_t n_defaults,
                 sweep_points *out, char *err, size_t errlen);
void sweep_points_free(sweep_points *p);
/* The value of key in a point, or NULL. */
const char *sweep_point_get(const sweep_point *p, const char *key);

/* ---- plan (model configs, FLOPs, isoflop) --------------------------------- */

typedef struct sweep_planned_run {
    char *config_json;
    char hash[17];
    /* The accounting record of util/accounting.h as model_flops computed it: whole
     * as .acc, by DESIGN name (.params, .weight_flops_per_token, ...), and under the
     * short names the plan has always had for three fields (W, S, flops), which are
     * the same storage, not copies. */
    UTIL_ACCOUNTING_MEMBER_ALIASED(acc, UTIL_ACCOUNTING_ALIAS(W, weight_flops_per_token)
                                            UTIL_ACCOUNTING_ALIAS(S, state_flops_per_token)
                                                UTIL_ACCOUNTING_ALIAS(flops, training_flops));
    double budget;       /* isoflop budget, 0 without isoflop */
    size_t point;        /* index of the point it came from */
} sweep_planned_run;

typedef struct sweep_dropped { /* an isoflop shape outside [min_tokens, max_tokens] */
    size_t point;
    double budget, tokens;
    char *label;         /* the point's overrides, "k=v k=v" */
} sweep_dropped;

typedef struct sweep_plan {
    sweep_points points;
    sweep_planned_run *runs;
    size_t n_runs;
    size_t n_duplicates; /* points whose config equals an earlier one's (kept once) */
    sweep_dropped *dropped;
    size_t n_dropped;
    double total_flops;
} sweep_plan;

/* Spec -> runs: base config (defaults, then base file or inline base), each
 * point's overrides through model_config_set, model_config_resolve, the FLOP
 * accounting, and the isoflop token counts. tokens = round(budget / (3 (W+S)) /
 * (batch_size * context)) whole batches (round half away from zero), so a run's
 * FLOPs lie within half a batch of its budget. */
int sweep_plan_build(const sweep_spec *spec, sweep_plan *plan, char *err, size_t errlen);
void sweep_plan_free(sweep_plan *plan);
/* A readable point label ("model.d_model=32 train.lr=0.001"); caller frees. */
char *sweep_point_label(const sweep_point *p, const sweep_spec *spec);

/* ---- execution ------------------------------------------------------------- */

struct store;

typedef struct sweep_run_opts {
    const char *db_path;       /* passed to every trainer */
    const char *runs_dir;      /* run folders: RUNS_DIR/SWEEP/ID-HASH */
    const char *exe;           /* the scalelab binary (from /proc/self/exe) */
    int jobs;                  /* concurrent CPU jobs */
    const int *gpus;           /* GPU ids; with per_gpu jobs each (CUDA_VISIBLE_DEVICES) */
    size_t n_gpus;
    int per_gpu;
    const char *device;        /* passed to every trainer as --device; NULL: cuda on GPU slots, else cpu */
    int threads_per_job;       /* 0: the cores divided among the jobs */
    int retries;               /* failures retried this many times */
    int tty;                   /* a live progress line instead of one line per event */
    /* slurm */
    const char *partition, *time_limit, *gres;
    int max_parallel;
    const char *account, *qos, *mem, *constraint;
    int cpus_per_task;         /* 0: not asked */
    int signal_s;              /* --signal=B:TERM@signal_s; 0: none */
    int runs_per_task;         /* runs per array task, trained one after another (>= 1) */
    const char *const *spec_extra;   /* free-form sbatch options ("--name" or "--name=value"): */
    size_t n_spec_extra;             /* the spec's slurm.extra, then the --sbatch-opt flags */
    const char *const *sbatch_extra;
    size_t n_sbatch_extra;
    int dry_run;               /* print the batch script and task list; submit and write nothing */
    double poll_s;             /* coordinator polling interval */
} sweep_run_opts;

/* Compares the spec and its plan with the stored sweep (store/store.h:
 * store_sweep_update fills *u: the spec's version, whether it changed, the stored runs
 * the plan leaves out). With apply, also stores them: a changed spec as the sweep's
 * next version, the left-out runs moved out of the sweep (data kept, pending ones
 * cancelled), then the planned runs as pending, deduplicated by config hash across
 * sweeps (*n_new: runs really inserted). Without apply nothing is written. The caller
 * frees *u with store_sweep_update_clear. */
struct store_sweep_change;
int sweep_submit(struct store *st, const sweep_spec *spec, const sweep_plan *plan, int apply, size_t *n_new,
                 struct store_sweep_change *u, char *err, size_t errlen);
/* The warning for *u, when the spec changed or runs are left out (nothing otherwise),
 * appended to b: "sweep NAME: spec changed since version N (DATE); keeping version N,
 * this is version N+1", then how many and which stored runs it no longer plans;
 * applied says whether sweep_submit stored it (run) or only compared (plan). */
struct util_buf;
int sweep_update_describe(struct store *st, const char *sweep, const struct store_sweep_change *u, int applied,
                          struct util_buf *b, char *err, size_t errlen);
/* `sweep versions NAME`: every stored spec version with its date (table or JSON); with
 * show > 0, version show's YAML text as stored (or JSON with it). */
int sweep_versions_print(struct store *st, const char *sweep, int show, int json, char *err, size_t errlen);
/* `sweep status NAME --stale`: the runs newer spec versions left out of the sweep,
 * with their status and the version that left each out. */
int sweep_stale_print(struct store *st, const char *sweep, int json, char *err, size_t errlen);
/* Runs the sweep's runs on this host until none is pending or running: recovers
 * runs whose scheduler died (adopting live trainers, requeueing dead ones), starts
 * one `scalelab train` per run (posix_spawn, no shell), retries failures, and
 * stops cleanly on SIGTERM/SIGINT (trainers checkpoint and go back to pending).
 * Returns 0 when the sweep finished with no failed run, 1 when some failed, -1 on error. */
int sweep_local_run(struct store *st, const char *sweep, const sweep_run_opts *o, char *err, size_t errlen);
/* Submits the sweep's pending runs as one Slurm job array, then coordinates
 * (ingests run files) until every task ended. Same returns as sweep_local_run. */
int sweep_slurm_run(struct store *st, const char *sweep, const sweep_run_opts *o, char *err, size_t errlen);
/* Ingests finished run files (--sink files) of the sweep's running runs into the
 * store; idempotent. *n_ended: runs it moved to done/failed/diverged. */
int sweep_slurm_ingest(struct store *st, const char *sweep, size_t *n_ended, char *err, size_t errlen);
/* scancel the sweep's array tasks (SIGTERM: they checkpoint), ingest what they wrote,
 * and mark the runs still running cancelled (*n_cancelled of them). */
int sweep_slurm_cancel(struct store *st, const char *sweep, size_t *n_cancelled, char *err, size_t errlen);
/* `scalelab sweep task LIST INDEX` inside an array task: execs the trainer of run INDEX. */
int sweep_slurm_task(int argc, char **argv);
/* Prints counts by status (the same counts as the scheduler's closing line), each
 * running run's progress from its latest metric row (step / total steps, tokens,
 * loss, tokens/s, device, host), the next pending runs with their planned FLOPs,
 * the best loss, and an ETA: planned training FLOPs left over the running runs'
 * measured FLOP/s, or "no scheduler running" when the store's scheduler row is
 * missing or its scheduler dead/stale (or the same as JSON). */
int sweep_status_print(struct store *st, const char *sweep, int json, char *err, size_t errlen);
/* SIGTERM to the sweep's scheduler and running trainers (they checkpoint and
 * requeue), then pending -> cancelled. */
int sweep_cancel(struct store *st, const char *sweep, const char *runs_dir, char *err, size_t errlen);

/* ---- families: the configs a family YAML allows (sweep/family.c) ----------
 *
 * Format (configs/family-*.yaml):
 *   base: small-power.yaml        # optional run config the choices start from (relative to
 *                                 # the family file's folder, or as given)
 *   d_model: [64, 128, 256]       # each other key: a list of allowed values (or one value);
 *   n_layer: [2, 4, 8]            # "model.<key>" when the run config has it, else "train.<key>",
 *   context: [512]                # or a dotted key as is
 * The lists become the grid of a sweep spec and are expanded by sweep_expand (so a value may be
 * an expression). Every combination is resolved (model_config_resolve); invalid ones (heads
 * that do not divide d_model, context not a multiple of chunk, ...) are counted and left out,
 * and combinations that resolve to the same config (a key the mixer ignores) are kept once.
 * Each member carries its FLOP accounting (model_flops, DESIGN.md section 4). */
struct model_config;

typedef struct sweep_family_member {
    /* model_flops' accounting record (util/accounting.h), W and S also by their short names;
     * tokens and training_flops are NAN: a member is a shape, its budget sets its tokens. */
    UTIL_ACCOUNTING_MEMBER_ALIASED(acc, UTIL_ACCOUNTING_ALIAS(W, weight_flops_per_token)
                                            UTIL_ACCOUNTING_ALIAS(S, state_flops_per_token));
    char **values;          /* per family key: this member's value (text) */
} sweep_family_member;

typedef struct sweep_family {
    char *path;
    size_t n_keys;
    char **keys;            /* the family's keys, dotted ("model.d_model"), in file order */
    size_t n, n_combinations, n_invalid, n_duplicates;
    struct model_config *configs; /* n resolved configs */
    sweep_family_member *members; /* n */
} sweep_family;

#define SWEEP_FAMILY_MAX_MEMBERS 200000

int sweep_family_load(const char *path, sweep_family *f, char *err, size_t errlen);
void sweep_family_free(sweep_family *f);
/* A member's accounting value by its util/accounting.h name (`scalelab runs` prints the same
 * names); NAN for tokens and training_flops and for any other name. */
double sweep_family_value(const sweep_family_member *m, const char *name);
/* Whether key k takes more than one value over the members. */
int sweep_family_key_varies(const sweep_family *f, size_t k);
/* Member i holds the smallest (-1) or the largest (+1) numeric value of key k among the members;
 * 0 when neither, when the key does not vary, or when its values are not numbers. */
int sweep_family_edge(const sweep_family *f, size_t i, size_t k);
/* Keys that set the state rather than the weights (mixer, p, window, head_dim, n_head,
 * n_kv_head, chunk, context): the "state setting" of a member. */
int sweep_family_key_is_state(const char *key);

/* Claims the sweep for this process in the store: one scheduler per store and sweep,
 * whatever its runs folder (an error names the live holder). A holder on this host
 * whose PID is gone (or is no `sweep run`) is taken over, one on another host once its
 * heartbeat is stale. Claiming again from the holder succeeds; sweep_local_run and
 * sweep_slurm_run claim (or re-claim) and release themselves; `sweep run` claims
 * before it writes anything, so a refused scheduler changes nothing. */
int sweep_scheduler_claim(struct store *st, const char *sweep, const char *runs_dir, char *err, size_t errlen);
void sweep_scheduler_release(struct store *st, const char *sweep);
/* failed runs of the sweep -> pending with their attempts reset (each folder's
 * failure count too); checkpoints are kept, so they resume. *n: how many. */
int sweep_retry_failed(struct store *st, const char *sweep, size_t *n, char *err, size_t errlen);
/* Exit status of `scalelab train` when another trainer holds the run folder's
 * train.lock: not a failed attempt (the scheduler adopts the holder). */
#define SWEEP_TRAIN_EXIT_LOCKED 75
/* Makes dir the folder of run `run` of the store store_id (DIR/owner). A folder that
 * holds another store's or another run's work (a checkpoint, run files) is moved
 * aside to DIR.stale-OWNER (path in moved, "" when nothing moved) and dir starts
 * empty. A folder without an owner record (older scalelab) is kept when `known` (the
 * store already sent this run there) or when it holds no work. */
int sweep_run_dir_claim(const char *dir, const char *store_id, int64_t run, int known, char *moved, size_t movedlen,
                      char *err, size_t errlen);

/* ---- Slurm options (sweep/slurm.c) -----------------------------------------
 *
 * Every value goes into an `#SBATCH` line of the batch script, so each is checked
 * before anything is written: no whitespace, quotes, backslash, '$', '`', ';' or
 * control characters in any of them (nothing is quoted, so nothing can be smuggled
 * into the script), and per key:
 *   account, qos, partition   [A-Za-z0-9._-] (partition also ',')
 *   time                      Slurm's forms: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S
 *   mem                       a whole number with an optional K, M, G or T suffix
 *   cpus_per_task             1 to 100000
 *   constraint                features [A-Za-z0-9._-] joined by & | , * [ ] ( ) :
 *   gres                      [A-Za-z0-9._:,=-]
 *   signal                    0 to 65535 seconds (and less than the time limit)
 *   runs_per_task             1 to 1000
 *   extra                     "--name" or "--name=value", name [a-z0-9-]; not one of the
 *                             options the coordinator sets itself (array, output, error,
 *                             job-name, parsable, wrap, signal: use the keys) */
typedef struct sweep_slurm_spec {
    char *account, *qos, *partition, *time, *mem, *constraint, *gres;
    int cpus_per_task, signal_s, runs_per_task; /* -1 when not given */
    char **extra;
    size_t n_extra;
} sweep_slurm_spec;

/* 0 when value is acceptable for key (a spec key name such as "cpus_per_task"),
 * else -1 with what is wrong in err. */
int sweep_slurm_check(const char *key, const char *value, char *err, size_t errlen);
/* Seconds of a Slurm time limit (M, M:S, H:M:S, D-H, D-H:M, D-H:M:S), -1 when malformed. */
long sweep_slurm_time_seconds(const char *t);
void sweep_slurm_spec_free(sweep_slurm_spec *s);
/* Fills the Slurm options that no flag set (NULL strings; -1 for cpus_per_task,
 * signal_s, runs_per_task) from the spec's slurm: section, then the defaults (no
 * cpus, signal 120 s, 1 run per task), and checks the signal against the time limit. */
int sweep_slurm_opts_merge(const sweep_spec *spec, sweep_run_opts *o, char *err, size_t errlen);
/* `sweep run --backend slurm --dry-run`: prints the sbatch command, the batch script and
 * the task list that the planned runs would get, to out; touches neither store nor disk. */
void sweep_slurm_dry_run(const sweep_spec *spec, const sweep_plan *plan, const sweep_run_opts *o, FILE *out);
struct util_buf;
/* Writes the batch script of an array of n_runs runs whose task list is tasks_path into sh. */
void sweep_slurm_script(const char *sweep, const sweep_run_opts *o, const char *tasks_path, size_t n_runs,
                        struct util_buf *sh);

#endif
