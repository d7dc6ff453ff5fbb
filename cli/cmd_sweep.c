/* scalelab sweep plan|run|status|cancel: the command line of sweep/. */
#include <getopt.h>
#include <signal.h>
#include <time.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "kernels/kernels.h"
#include "model/model.h"
#include "store/store.h"
#include "sweep/sweep.h"
#include "util/util.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: scalelab sweep plan SPEC.yaml [--db DB] [--format table|csv|json] [--json]\n"
            "       scalelab sweep run SPEC.yaml [--db DB] [--runs-dir DIR] [--jobs N] [--gpus 0,1 --per-gpu K]\n"
            "                              [--retry-failed]\n"
            "                              [--threads-per-job T] [--device cpu|cuda|auto]\n"
            "                              [--backend local|slurm]\n"
            "                              [--partition P --time T --gres G --max-parallel M]\n"
            "                              [--account A --qos Q --mem M --cpus-per-task C --constraint F]\n"
            "                              [--signal SECONDS] [--runs-per-task K] [--sbatch-opt OPT]...\n"
            "                              [--dry-run]\n"
            "       scalelab sweep status SPEC.yaml|NAME [--db DB] [--format table|json] [--json]\n"
            "                              [--watch [SECONDS]] [--stale]\n"
            "       scalelab sweep versions SPEC.yaml|NAME [--db DB] [--show N] [--format table|json] [--json]\n"
            "       scalelab sweep cancel SPEC.yaml|NAME [--db DB] [--runs-dir DIR]\n\n"
            "plan    expand the spec: every run with params, W, S, WSFR, tokens and FLOPs, the total\n"
            "        compute, and the isoflop shapes dropped for their token counts. When the store\n"
            "        (--db) already holds a different spec of that name, says so on stderr, with the\n"
            "        stored runs this spec no longer plans; plan itself stores neither spec nor runs\n"
            "run     store the runs (configs already in the store, from any sweep, are not trained\n"
            "        again) and execute them; running it again resumes (crashed runs from their\n"
            "        checkpoints, cancelled runs too). A run that failed more often than the\n"
            "        spec's retries is final: --retry-failed requeues the sweep's failed runs\n"
            "        (attempts counted afresh, checkpoints kept, so they resume). One scheduler\n"
            "        per sweep and store: a second `sweep run` of the same sweep is refused,\n"
            "        whatever its --runs-dir. A spec that differs from the one stored under its name\n"
            "        becomes the sweep's next version (the old ones are kept: `sweep versions`), with\n"
            "        a warning on stderr that names the stored runs it no longer plans: they keep\n"
            "        their data but leave the sweep (pending ones are cancelled, never trained for\n"
            "        it); a later version that plans them again takes them back\n"
            "status  counts by status (the same counts `sweep run` and `sweep cancel` print); each\n"
            "        running run with its step / total steps, tokens / planned tokens, current loss\n"
            "        (its latest metric row), tokens/s, device and host; the next pending runs with\n"
            "        their planned training FLOPs; best loss so far; the ETA: the planned FLOPs left\n"
            "        (pending runs, and what running runs have not yet trained) over the running\n"
            "        runs' measured FLOP/s (from their first logged steps; done runs' speed before\n"
            "        that), or \"no scheduler running\" when the store's scheduler for the sweep is\n"
            "        gone (its PID dead on this host, or no heartbeat for 120 s from another host).\n"
            "        For Slurm runs also squeue's view: each array task's job id and state.\n"
            "        --watch [SECONDS] clears the terminal and redraws it every SECONDS (default 2)\n"
            "        until Ctrl-C; when stdout is not a terminal it prints the status once (and\n"
            "        says so on stderr). A sweep named like a number needs --watch=SECONDS NAME\n"
            "        --stale lists the runs newer spec versions left out of the sweep\n"
            "versions the sweep's spec versions with their dates; --show N prints version N's YAML\n"
            "cancel  running jobs checkpoint and stop (SIGTERM); pending runs -> cancelled; the\n"
            "        scheduler's closing line then shows them cancelled, as status does\n"
            "        (Slurm: pending array tasks scancel'ed, running ones get SIGTERM first)\n\n"
            "A Slurm task that leaves the queue without writing its result (killed, node lost)\n"
            "counts as a failed attempt: requeued while failures <= retries, then failed. One\n"
            "stopped by SIGTERM (its time limit, preemption) checkpoints and is resubmitted.\n\n"
            "Slurm options come from the spec's slurm: section (account, qos, partition, time, mem,\n"
            "cpus_per_task, constraint, gres, signal, runs_per_task, extra) and the flags of the same\n"
            "name, which override it; --sbatch-opt \"--name=value\" (repeatable) adds to slurm.extra.\n"
            "Each becomes an #SBATCH line; values with whitespace, quotes or shell characters are\n"
            "refused before anything is written. --signal SECONDS (default 120, 0: none) asks Slurm\n"
            "for SIGTERM that long before the time limit: the trainer checkpoints and the run is\n"
            "resubmitted. Trainer threads: --threads-per-job, else SLURM_CPUS_PER_TASK, else all\n"
            "cores. --runs-per-task K: each array task trains K runs one after another (each with\n"
            "all the task's CPUs, its own folder and result). --dry-run prints the sbatch command,\n"
            "the batch script and the task list, and writes nothing (store, run folders).\n\n"
            "Local jobs: --jobs N at once; with --gpus 0,1 --per-gpu K instead K jobs per GPU, each\n"
            "started with CUDA_VISIBLE_DEVICES set to its GPU. --device is passed to every trainer\n"
            "(default: cuda on a GPU slot, else cpu; --device cpu keeps the GPU slots and their\n"
            "CUDA_VISIBLE_DEVICES but trains on the CPU). Each attempt's first train.log line records\n"
            "the device and GPU it was given. Slurm tasks train with --device auto unless it is given.\n\n"
            "Run folders: RUNS_DIR/SWEEP/ID-HASH (default runs/), each with config.json, train.log,\n"
            "pid and the trainer's checkpoint. The spec format is described in sweep/sweep.h.\n");
}

/* A warning of sweep/ (one or more lines) on stderr, each line in scalelab's words. */
static void print_warning(const char *what, const char *text) {
    for (const char *line = text; line && *line;) {
        size_t len = strcspn(line, "\n");
        fprintf(stderr, "scalelab: %s: warning: %.*s\n", what, (int)len, line);
        line += len + (line[len] == '\n');
    }
}

static int load_plan(const char *path, sweep_spec *spec, sweep_plan *plan) {
    char err[2048];
    if (sweep_spec_load(path, spec, err, sizeof err)) return cli_error(CLI_FAIL, "sweep", "%s", err);
    if (sweep_plan_build(spec, plan, err, sizeof err)) {
        sweep_spec_free(spec);
        return cli_error(CLI_FAIL, "sweep", "%s", err);
    }
    return CLI_OK;
}

static void overrides_json(util_buf *b, const sweep_point *p, const sweep_spec *s) {
    char *label = sweep_point_label(p, s);
    util_buf_puts(b, "{");
    int first = 1;
    for (char *tok = strtok(label, " "); tok; tok = strtok(NULL, " ")) {
        char *eq = strchr(tok, '=');
        if (!eq) continue;
        *eq = 0;
        util_buf_puts(b, first ? "" : ",");
        util_buf_json_str(b, tok);
        util_buf_puts(b, ":");
        util_buf_json_str(b, eq + 1);
        first = 0;
    }
    util_buf_puts(b, "}");
    free(label);
}

enum { FORMAT_TABLE, FORMAT_CSV, FORMAT_JSON };

/* --format of a command with a table, CSV and JSON view (--json being its alias). */
static int parse_format(const char *cmd, const char *value, int *format) {
    if (cli_format_check(cmd, value, 1)) return CLI_USAGE;
    *format = !strcmp(value, "csv") ? FORMAT_CSV : !strcmp(value, "json") ? FORMAT_JSON : FORMAT_TABLE;
    return 0;
}

/* `sweep plan` against the store, when there is one: warns when the stored spec of
 * this name differs and names the stored runs this plan leaves out. Writes nothing
 * (a missing store is not created) and never fails the plan: a store it cannot read
 * is only mentioned. */
static void plan_preview(const char *db, const sweep_spec *spec, const sweep_plan *plan) {
    struct stat sb;
    if (stat(db, &sb)) return;
    store *st = NULL;
    store_sweep_change u = {0};
    size_t n_new;
    char err[2048];
    util_buf b = {0};
    if (store_open_flags(db, STORE_OPEN_READONLY, &st, err, sizeof err) ||
        sweep_submit(st, spec, plan, 0, &n_new, &u, err, sizeof err) ||
        sweep_update_describe(st, spec->name, &u, 0, &b, err, sizeof err))
        fprintf(stderr, "scalelab: sweep plan: not compared with the store: %s\n", err);
    else
        print_warning("sweep plan", b.data);
    util_buf_free(&b);
    store_sweep_update_clear(&u);
    store_close(st);
}

static int cmd_plan(const char *path, const char *db, int format) {
    sweep_spec spec;
    sweep_plan plan;
    int rc = load_plan(path, &spec, &plan);
    if (rc) return rc;
    plan_preview(cli_db_path(db), &spec, &plan);
    util_buf b = {0};
    if (format == FORMAT_JSON) {
        util_buf_puts(&b, "{\"sweep\":");
        util_buf_json_str(&b, spec.name);
        util_buf_printf(&b, ",\"points\":%zu,\"filtered\":%zu,\"duplicates\":%zu,\"retries\":%d,\"runs\":[",
                        plan.points.n, plan.points.n_filtered, plan.n_duplicates, spec.retries);
        for (size_t i = 0; i < plan.n_runs; i++) {
            const sweep_planned_run *r = &plan.runs[i];
            util_buf_printf(&b, "%s{\"config_hash\":\"%s\"", i ? "," : "", r->hash);
            for (int k = 0; k < UTIL_ACCOUNTING_N; k++) { /* the accounting, by its one field list */
                util_buf_printf(&b, ",\"%s\":", util_accounting_names[k]);
                util_buf_json_num(&b, util_accounting_get(&r->acc, k));
            }
            util_buf_puts(&b, ",\"budget\":");
            util_buf_json_num(&b, r->budget);
            util_buf_puts(&b, ",\"overrides\":");
            overrides_json(&b, &plan.points.v[r->point], &spec);
            util_buf_printf(&b, ",\"config\":%s}", r->config_json);
        }
        util_buf_puts(&b, "],\"total_flops\":");
        util_buf_json_num(&b, plan.total_flops);
        util_buf_puts(&b, ",\"dropped\":[");
        for (size_t i = 0; i < plan.n_dropped; i++) {
            util_buf_printf(&b, "%s{\"budget\":", i ? "," : "");
            util_buf_json_num(&b, plan.dropped[i].budget);
            util_buf_puts(&b, ",\"tokens\":");
            util_buf_json_num(&b, plan.dropped[i].tokens);
            util_buf_puts(&b, ",\"overrides\":");
            overrides_json(&b, &plan.points.v[plan.dropped[i].point], &spec);
            util_buf_puts(&b, "}");
        }
        util_buf_puts(&b, "]}\n");
    } else if (format == FORMAT_CSV) { /* one row per run: the JSON's runs without the nested config */
        util_buf_puts(&b, "run,config_hash");
        for (int k = 0; k < UTIL_ACCOUNTING_N; k++) util_buf_printf(&b, ",%s", util_accounting_names[k]);
        util_buf_puts(&b, ",budget,overrides\n");
        for (size_t i = 0; i < plan.n_runs; i++) {
            const sweep_planned_run *r = &plan.runs[i];
            util_buf_printf(&b, "%zu,%s", i + 1, r->hash);
            for (int k = 0; k < UTIL_ACCOUNTING_N; k++) util_buf_printf(&b, ",%.17g", util_accounting_get(&r->acc, k));
            char *label = sweep_point_label(&plan.points.v[r->point], &spec);
            util_buf_printf(&b, ",%.17g,", r->budget);
            util_buf_csv_field(&b, label);
            util_buf_puts(&b, "\n");
            free(label);
        }
    } else {
        util_buf_printf(&b, "sweep %s: %zu runs (%zu points, %zu left out by constraints, %zu duplicates)\n",
                        spec.name, plan.n_runs, plan.points.n, plan.points.n_filtered, plan.n_duplicates);
        util_buf_printf(&b, "%5s  %-16s %10s %10s %10s %8s %10s %10s %s  %s\n", "#", "hash", "params", "W", "S",
                        "WSFR", "tokens", "FLOPs", spec.n_budgets ? "    budget" : "", "overrides");
        for (size_t i = 0; i < plan.n_runs; i++) {
            const sweep_planned_run *r = &plan.runs[i];
            char *label = sweep_point_label(&plan.points.v[r->point], &spec);
            char budget[32] = "";
            if (spec.n_budgets) snprintf(budget, sizeof budget, "%10.3g", r->budget);
            util_buf_printf(&b, "%5zu  %-16s %10.4g %10.4g %10.4g %8.3g %10.4g %10.4g %s  %s\n", i + 1, r->hash,
                            r->params, r->W, r->S, r->wsfr, r->tokens, r->flops, budget, label);
            free(label);
        }
        util_buf_printf(&b, "total compute: %.4g FLOPs\n", plan.total_flops);
        if (plan.n_dropped) {
            util_buf_printf(&b, "dropped isoflop shapes (tokens outside [%.0f, %.4g]):\n", spec.min_tokens,
                            spec.max_tokens);
            for (size_t i = 0; i < plan.n_dropped; i++)
                util_buf_printf(&b, "  budget %.3g: %s would train %.0f tokens\n", plan.dropped[i].budget,
                                plan.dropped[i].label, plan.dropped[i].tokens);
        }
    }
    fputs(b.data, stdout);
    util_buf_free(&b);
    sweep_plan_free(&plan);
    sweep_spec_free(&spec);
    return CLI_OK;
}

static int parse_gpus(const char *text, int **gpus, size_t *n) {
    *n = 0;
    *gpus = calloc(strlen(text) + 1, sizeof **gpus);
    if (!*gpus) return -1;
    for (const char *p = text; *p;) {
        char *end;
        long g = strtol(p, &end, 10);
        if (end == p || g < 0 || g > 1023 || (*end && *end != ',')) return -1;
        (*gpus)[(*n)++] = (int)g;
        p = *end ? end + 1 : end;
    }
    return *n ? 0 : -1;
}

static int cmd_run(int argc, char **argv) {
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},        {"runs-dir", required_argument, 0, 'r'},
        {"jobs", required_argument, 0, 'j'},      {"gpus", required_argument, 0, 'g'},
        {"per-gpu", required_argument, 0, 'k'},   {"threads-per-job", required_argument, 0, 't'},
        {"backend", required_argument, 0, 'b'},   {"partition", required_argument, 0, 'p'},
        {"time", required_argument, 0, 'T'},      {"gres", required_argument, 0, 'G'},
        {"max-parallel", required_argument, 0, 'm'}, {"device", required_argument, 0, 'D'},
        {"retry-failed", no_argument, 0, 'R'},    {"account", required_argument, 0, 'A'},
        {"qos", required_argument, 0, 'Q'},       {"mem", required_argument, 0, 'M'},
        {"cpus-per-task", required_argument, 0, 'C'}, {"constraint", required_argument, 0, 'F'},
        {"sbatch-opt", required_argument, 0, 'X'}, {"signal", required_argument, 0, 'S'},
        {"runs-per-task", required_argument, 0, 'K'}, {"dry-run", no_argument, 0, 'N'},
        {0, 0, 0, 0}};
    const char *db = NULL, *backend = "local";
    sweep_run_opts o = {.runs_dir = "runs", .jobs = 1, .per_gpu = 1, .max_parallel = 0, .poll_s = 1,
                        .cpus_per_task = -1, .signal_s = -1, .runs_per_task = -1};
    int *gpus = NULL, c, retry_failed = 0;
    const char **extra = calloc((size_t)argc + 1, sizeof *extra);
    if (!extra) return cli_error(CLI_FAIL, "sweep run", "out of memory");
    o.sbatch_extra = extra;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:r:j:g:k:t:b:p:T:G:m:D:R", opts, NULL)) != -1) {
        char *end = NULL;
        /* Slurm values: the same check as the spec's slurm: section, naming the flag */
        static const struct { int c; const char *flag, *key; } slurm_flags[] = {
            {'p', "--partition", "partition"}, {'T', "--time", "time"}, {'G', "--gres", "gres"},
            {'A', "--account", "account"}, {'Q', "--qos", "qos"}, {'M', "--mem", "mem"},
            {'C', "--cpus-per-task", "cpus_per_task"}, {'F', "--constraint", "constraint"},
            {'X', "--sbatch-opt", "extra"}, {'S', "--signal", "signal"}, {'K', "--runs-per-task", "runs_per_task"}};
        for (size_t i = 0; i < sizeof slurm_flags / sizeof *slurm_flags; i++) {
            char why[512];
            if (c == slurm_flags[i].c && sweep_slurm_check(slurm_flags[i].key, optarg, why, sizeof why)) {
                free(gpus), free(extra);
                return cli_error(CLI_USAGE, "sweep run", "%s %s: %s", slurm_flags[i].flag, optarg, why);
            }
        }
        switch (c) {
        case 'A': o.account = optarg; break;
        case 'Q': o.qos = optarg; break;
        case 'M': o.mem = optarg; break;
        case 'F': o.constraint = optarg; break;
        case 'C': o.cpus_per_task = atoi(optarg); break;
        case 'S': o.signal_s = atoi(optarg); break;
        case 'K': o.runs_per_task = atoi(optarg); break;
        case 'X': extra[o.n_sbatch_extra++] = optarg; break;
        case 'N': o.dry_run = 1; break;
        case 'd': db = optarg; break;
        case 'r': o.runs_dir = optarg; break;
        case 'j': o.jobs = (int)strtol(optarg, &end, 10); break;
        case 'k': o.per_gpu = (int)strtol(optarg, &end, 10); break;
        case 't': o.threads_per_job = (int)strtol(optarg, &end, 10); break;
        case 'm': o.max_parallel = (int)strtol(optarg, &end, 10); break;
        case 'b': backend = optarg; break;
        case 'p': o.partition = optarg; break;
        case 'T': o.time_limit = optarg; break;
        case 'G': o.gres = optarg; break;
        case 'D': o.device = optarg; break;
        case 'R': retry_failed = 1; break;
        case 'g':
            free(gpus);
            if (parse_gpus(optarg, &gpus, &o.n_gpus)) {
                free(gpus);
                return cli_error(CLI_USAGE, "sweep run", "--gpus %s: expected GPU ids like 0,1", optarg);
            }
            break;
        default: free(gpus), free(extra); return CLI_USAGE;
        }
        if (end && (*end || end == optarg)) {
            free(gpus), free(extra);
            return cli_error(CLI_USAGE, "sweep run", "%s: expected a whole number", optarg);
        }
    }
    o.gpus = gpus;
    if (o.jobs < 1 || o.per_gpu < 1 || o.threads_per_job < 0 || o.max_parallel < 0) {
        free(gpus), free(extra);
        return cli_error(CLI_USAGE, "sweep run", "--jobs, --per-gpu must be >= 1; --threads-per-job, --max-parallel >= 0");
    }
    char why[256];
    if (o.device && kern_device_check(o.device, why, sizeof why)) {
        free(gpus), free(extra);
        return cli_error(CLI_USAGE, "sweep run", "--device %s: %s", o.device, why);
    }
    if (strcmp(backend, "local") && strcmp(backend, "slurm")) {
        free(gpus), free(extra);
        return cli_error(CLI_USAGE, "sweep run", "--backend %s: expected local or slurm", backend);
    }
    if (optind != argc - 1) {
        free(gpus), free(extra);
        return cli_error(CLI_USAGE, "sweep run", optind < argc ? "expected one SPEC.yaml, got more" : "needs a SPEC.yaml");
    }
    const char *path = argv[optind];
    /* Local trainers on GPUs need a usable device here: checked before any run is
     * claimed (else every run would be claimed, fail and end failed). */
    char gpu_why[256];
    int wants_cuda = o.device ? !strcmp(o.device, "cuda") : o.n_gpus > 0;
    if (!strcmp(backend, "local") && wants_cuda && !kern_cuda_available(gpu_why, sizeof gpu_why)) {
        free(gpus), free(extra);
        return cli_error(CLI_FAIL, "sweep run", "%s: %s; nothing was claimed (train on the CPU with --device cpu, "
                         "or leave out --gpus)", o.n_gpus ? "--gpus" : "--device cuda", gpu_why);
    }
    sweep_spec spec;
    sweep_plan plan;
    if (o.dry_run && strcmp(backend, "slurm")) {
        free(gpus), free(extra);
        return cli_error(CLI_USAGE, "sweep run", "--dry-run prints a Slurm batch script: it goes with --backend slurm");
    }
    int rc = load_plan(path, &spec, &plan); /* a bad spec fails here, before the store is touched */
    if (rc) {
        free(gpus), free(extra);
        return rc;
    }
    char merr[512];
    if (sweep_slurm_opts_merge(&spec, &o, merr, sizeof merr)) {
        sweep_plan_free(&plan);
        sweep_spec_free(&spec);
        free(gpus), free(extra);
        return cli_error(CLI_USAGE, "sweep run", "%s: %s", path, merr);
    }
    char exe[PATH_MAX], dbabs[PATH_MAX], runs_abs[PATH_MAX], err[2048];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    o.db_path = cli_db_path(db);
    o.exe = exe;
    o.retries = spec.retries;
    o.tty = isatty(STDERR_FILENO);
    if (o.dry_run) { /* before the store is opened: nothing is written anywhere */
        sweep_slurm_dry_run(&spec, &plan, &o, stdout);
        sweep_plan_free(&plan);
        sweep_spec_free(&spec);
        free(gpus), free(extra);
        return CLI_OK;
    }
    store *st = NULL;
    size_t n_new = 0;
    size_t n_retry = 0;
    store_sweep_change u = {0};
    util_buf warn = {0};
    /* the sweep's claim first: a second scheduler is refused before it writes anything */
    if (store_open_flags(o.db_path, STORE_OPEN_CHECK, &st, err, sizeof err) ||
        sweep_scheduler_claim(st, spec.name, o.runs_dir, err, sizeof err) ||
        sweep_submit(st, &spec, &plan, 1, &n_new, &u, err, sizeof err) ||
        sweep_update_describe(st, spec.name, &u, 1, &warn, err, sizeof err) ||
        (retry_failed && sweep_retry_failed(st, spec.name, &n_retry, err, sizeof err))) {
        rc = cli_error(CLI_FAIL, "sweep run", "%s", err);
    } else {
        print_warning("sweep run", warn.data);
        if (retry_failed)
            printf("sweep %s: %zu failed run%s requeued (--retry-failed: attempts reset, checkpoints kept)\n",
                   spec.name, n_retry, n_retry == 1 ? "" : "s");
        /* Trainers and Slurm tasks may run elsewhere in the tree: give them absolute paths. */
        if (realpath(o.db_path, dbabs)) o.db_path = dbabs;
        if (!util_mkdir_p(o.runs_dir, err, sizeof err) && realpath(o.runs_dir, runs_abs)) o.runs_dir = runs_abs;
        printf("sweep %s: %zu runs planned, %zu new in the store (%zu already there); run folders in %s/%s\n",
               spec.name, plan.n_runs, n_new, plan.n_runs - n_new, o.runs_dir, spec.name);
        fflush(stdout);
        int r = !strcmp(backend, "slurm") ? sweep_slurm_run(st, spec.name, &o, err, sizeof err)
                                          : sweep_local_run(st, spec.name, &o, err, sizeof err);
        if (r > 0)
            printf("failed runs are final; `scalelab sweep run %s --retry-failed` tries them again "
                   "(from their checkpoints)\n", path);
        rc = r < 0 ? cli_error(CLI_FAIL, "sweep run", "%s", err) : r ? CLI_FAIL : CLI_OK;
    }
    if (st) sweep_scheduler_release(st, spec.name); /* no-op unless this process holds it */
    store_close(st);
    store_sweep_update_clear(&u);
    util_buf_free(&warn);
    sweep_plan_free(&plan);
    sweep_spec_free(&spec);
    free(gpus), free(extra);
    return rc;
}

/* SPEC.yaml (its name) or a sweep name. */
/* SPEC.yaml (its name; *text its bytes, malloc'd) or a sweep name (*text NULL). */
static int parse_sweep_name(const char *arg, char *name, size_t len, char **text) {
    struct stat sb;
    *text = NULL;
    if (stat(arg, &sb) || !S_ISREG(sb.st_mode)) {
        snprintf(name, len, "%s", arg);
        return CLI_OK;
    }
    sweep_spec spec;
    char err[2048];
    if (sweep_spec_load(arg, &spec, err, sizeof err)) return cli_error(CLI_FAIL, "sweep", "%s", err);
    snprintf(name, len, "%s", spec.name);
    *text = spec.text, spec.text = NULL; /* sweep_spec_free frees what is left */
    sweep_spec_free(&spec);
    return CLI_OK;
}

/* --watch: set by SIGINT/SIGTERM so the loop ends between two redraws. */
static volatile sig_atomic_t watch_stop;
static void on_watch_signal(int sig) {
    (void)sig;
    watch_stop = 1;
}

/* Redraws the status every interval seconds until Ctrl-C (a terminal); once otherwise. */
static int watch_status(store *st, const char *name, double interval, char *err, size_t errlen) {
    if (!isatty(STDOUT_FILENO)) {
        fprintf(stderr, "scalelab sweep status: --watch: stdout is not a terminal; printing the status once\n");
        size_t ended = 0;
        return sweep_slurm_ingest(st, name, &ended, err, errlen) || sweep_status_print(st, name, 0, err, errlen);
    }
    struct sigaction sa = {.sa_handler = on_watch_signal}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    int rc = 0;
    while (!watch_stop && !rc) {
        size_t ended = 0;
        fputs("\033[H\033[2J", stdout); /* home, clear screen */
        rc = sweep_slurm_ingest(st, name, &ended, err, errlen) || sweep_status_print(st, name, 0, err, errlen);
        if (rc) break;
        printf("(every %g s; Ctrl-C stops)\n", interval);
        fflush(stdout);
        /* sleeps in short slices so that Ctrl-C ends the watch at once */
        for (double t0 = util_monotonic(); !watch_stop && util_monotonic() - t0 < interval;) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return rc;
}

enum { SUB_STATUS, SUB_CANCEL, SUB_VERSIONS };

/* status, cancel, versions: the subcommands that name a stored sweep. */
static int cmd_named(int argc, char **argv, int sub) {
    static const struct option opts[] = {{"db", required_argument, 0, 'd'}, {"json", no_argument, 0, 'J'},
                                         {"format", required_argument, 0, 'f'},
                                         {"runs-dir", required_argument, 0, 'r'},
                                         {"watch", optional_argument, 0, 'w'}, {"stale", no_argument, 0, 's'},
                                         {"show", required_argument, 0, 'S'}, {0, 0, 0, 0}};
    const char *db = NULL, *runs_dir = "runs";
    int json = 0, c, watch = 0, stale = 0, show = 0, cancel = sub == SUB_CANCEL;
    double interval = 2;
    const char *what = sub == SUB_CANCEL ? "sweep cancel" : sub == SUB_VERSIONS ? "sweep versions" : "sweep status";
    /* each subcommand's own options; the others are unknown to it */
    const char *own = sub == SUB_CANCEL ? "dr" : sub == SUB_VERSIONS ? "dJfS" : "dJfwsr";
    optind = 1;
    opterr = 0; /* cli_option_error says it, once, in scalelab's words */
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (c == ':' || c == '?') return cli_option_error(what, c, argv, opts);
        if (!strchr(own, c))
            return cli_error(CLI_USAGE, what, "option %s does not go with %s (scalelab sweep --help)", argv[optind - 1],
                             what);
        if (c == 'd') db = optarg;
        else if (c == 'J') json = 1;
        else if (c == 'f') {
            if (cli_format_json(what, optarg, &json)) return CLI_USAGE;
        } else if (c == 'r') runs_dir = optarg;
        else if (c == 's') stale = 1;
        else if (c == 'S') {
            char *end = NULL;
            long v = strtol(optarg, &end, 10);
            if (!end || *end || end == optarg || v < 1 || v > INT_MAX)
                return cli_error(CLI_USAGE, what, "--show %s: expected a version number (1, 2, ...)", optarg);
            show = (int)v;
        } else if (c == 'w') {
            watch = 1;
            /* --watch=S, --watch S (a number right after it), or --watch alone */
            const char *arg = optarg;
            char *end = NULL;
            if (!arg && optind < argc && argv[optind][0] && (strtod(argv[optind], &end), end && !*end))
                arg = argv[optind++];
            if (arg) {
                interval = strtod(arg, &end);
                if (!end || *end || end == arg || !(interval >= 0.1) || interval > 86400)
                    return cli_error(CLI_USAGE, what, "--watch %s: expected seconds between 0.1 and 86400", arg);
            }
        }
    }
    if (watch && stale) return cli_error(CLI_USAGE, what, "--watch redraws the status; it does not go with --stale");
    if (watch && json) return cli_error(CLI_USAGE, what, "--watch redraws the text view; it does not go with --json");
    if (optind != argc - 1) return cli_error(CLI_USAGE, what, "expected one SPEC.yaml or sweep NAME");
    const char *arg = argv[optind];
    char name[512], err[2048];
    char *file_text;
    int rc = parse_sweep_name(arg, name, sizeof name, &file_text);
    if (rc) return rc;
    store *st = NULL;
    char *spec_text = NULL;
    /* status only reads (it works on a store in a read-only folder); cancel writes */
    if (store_open_flags(cli_db_path(db), cancel ? 0 : STORE_OPEN_READONLY, &st, err, sizeof err) ||
        store_sweep_get(st, name, &spec_text, err, sizeof err)) {
        rc = cli_error(CLI_FAIL, what, "%s", err);
    } else if (!spec_text) {
        rc = cli_error(CLI_FAIL, what, "no sweep named %s in %s", name, cli_db_path(db));
    } else {
        /* SPEC.yaml edited since it was run: what is shown is the stored version */
        if (file_text && strcmp(file_text, spec_text) && sub != SUB_CANCEL)
            fprintf(stderr,
                    "scalelab: %s: note: %s differs from sweep %s's current stored spec; what follows is the stored "
                    "one (`scalelab sweep plan %s` shows what running the file would change)\n",
                    what, arg, name, arg);
        int r = 0;
        if (sub == SUB_VERSIONS) {
            r = sweep_versions_print(st, name, show, json, err, sizeof err);
        } else if (stale) {
            r = sweep_stale_print(st, name, json, err, sizeof err);
        } else if (watch) {
            r = watch_status(st, name, interval, err, sizeof err);
        } else {
            size_t ended = 0; /* Slurm runs' files are ingested first, so the counts are current */
            r = sweep_slurm_ingest(st, name, &ended, err, sizeof err);
            if (!r) r = cancel ? sweep_cancel(st, name, runs_dir, err, sizeof err)
                               : sweep_status_print(st, name, json, err, sizeof err);
        }
        if (r) rc = cli_error(CLI_FAIL, what, "%s", err);
    }
    free(spec_text);
    free(file_text);
    store_close(st);
    return rc;
}

static int cmd_plan_args(int argc, char **argv) {
    static const struct option opts[] = {{"json", no_argument, 0, 'J'}, {"format", required_argument, 0, 'f'},
                                         {"db", required_argument, 0, 'd'}, {0, 0, 0, 0}};
    int format = FORMAT_TABLE, c;
    const char *db = NULL;
    optind = 1;
    opterr = 0; /* cli_option_error says it, once, in scalelab's words */
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (c == 'J') format = FORMAT_JSON;
        else if (c == 'd') db = optarg;
        else if (c == 'f') {
            if (parse_format("sweep plan", optarg, &format)) return CLI_USAGE;
        } else return cli_option_error("sweep plan", c, argv, opts);
    }
    if (optind != argc - 1) return cli_error(CLI_USAGE, "sweep plan", "expected one SPEC.yaml");
    return cmd_plan(argv[optind], db, format);
}

int cli_sweep(int argc, char **argv) {
    if (argc < 2 || cli_wants_help(argc, argv)) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    const char *sub = argv[1];
    argc--, argv++; /* argv[0] is now the subcommand */
    if (!strcmp(sub, "plan")) return cmd_plan_args(argc, argv);
    if (!strcmp(sub, "run")) return cmd_run(argc, argv);
    if (!strcmp(sub, "status")) return cmd_named(argc, argv, SUB_STATUS);
    if (!strcmp(sub, "cancel")) return cmd_named(argc, argv, SUB_CANCEL);
    if (!strcmp(sub, "versions")) return cmd_named(argc, argv, SUB_VERSIONS);
    if (!strcmp(sub, "task")) return sweep_slurm_task(argc, argv); /* inside a Slurm array task */
    return cli_error(CLI_USAGE, "sweep", "unknown subcommand %s (expected plan, run, status, versions, cancel)", sub);
}
