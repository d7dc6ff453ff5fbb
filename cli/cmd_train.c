/* scalelab train CONFIG.yaml: one training run (see usage()). Wires the trainer
 * (model_train) to the store or to run files; the trainer knows neither. */
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/train_sink.h"
#include "model/model.h"
#include "store/store.h"
#include "sweep/sweep.h"
#include "util/util.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: scalelab train CONFIG.yaml [--set key=value]... [options]\n\n"
            "Trains one run. Alone, it inserts the run into the store (deduplicated by config\n"
            "hash; a run already done is reported and left alone unless --force), claims it,\n"
            "trains it in its run folder (default runs/<config hash>/: config.json, train.log,\n"
            "checkpoint.bin) and records the result. Started again after a crash or kill, it\n"
            "resumes from the checkpoint and reproduces the same loss curve (a run the store\n"
            "still shows as running is taken over when no process holds DIR/train.lock).\n"
            "SIGTERM (or Ctrl-C): writes a checkpoint, puts the run back to pending in the store\n"
            "(or writes status 'stopped' to result.tsv) and exits 0.\n"
            "Exit status: 0 done or stopped, 1 failed or diverged (recorded as such), 2 usage,\n"
            "75 another trainer holds the run folder (DIR/train.lock; nothing recorded).\n"
            "A run folder records the store and run it belongs to (DIR/owner); a folder holding\n"
            "another store's work (a checkpoint) is moved aside to DIR.stale-ID, never resumed.\n\n"
            "  --set key=value     override a config key (model.d_model=64); repeatable\n"
            "  --device D          cpu, cuda or auto (default auto: cuda when built with it, else cpu)\n"
            "  --db PATH           the store (default $SCALELAB_DB, else ./scalelab.db)\n"
            "  --run-id ID         train run ID, already claimed by a sweep scheduler\n"
            "  --run-dir DIR       run folder (default runs/<config hash>)\n"
            "  --sink store|files  where metrics go (default store); files writes DIR/metrics.tsv,\n"
            "                      DIR/position_loss.tsv and DIR/result.tsv and never opens the store\n"
            "  --threads N         CPU threads (default: all cores)\n"
            "  --log-every N       steps per metric batch and progress line (default 10)\n"
            "  --checkpoint-every S  also checkpoint every S seconds (default 300; 0 = off)\n"
            "  --force             train again a run that failed, diverged or was cancelled\n"
            "  --quiet             no progress lines on stdout\n"
            "  --fault-nan-step N  testing: treat the loss at step N as NaN (divergence path)\n"
            "  -h, --help          this text\n");
}

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

typedef struct train_args {
    const char *config_path, *device, *db, *run_dir, *sink;
    const char **sets;
    size_t n_sets;
    int64_t run_id, fault_nan_step;
    int threads, log_every, force, quiet;
    double checkpoint_every;
} train_args;

static int parse_int(const char *what, const char *s, int64_t lo, int64_t *out) {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || v < lo) return cli_error(CLI_USAGE, "train", "%s: expected an integer >= %lld, got '%s'", what, (long long)lo, s);
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, train_args *a) {
    static const struct option opts[] = {
        {"set", required_argument, NULL, 's'},       {"device", required_argument, NULL, 'D'},
        {"db", required_argument, NULL, 'd'},        {"run-id", required_argument, NULL, 'i'},
        {"run-dir", required_argument, NULL, 'r'},   {"sink", required_argument, NULL, 'k'},
        {"threads", required_argument, NULL, 't'},   {"log-every", required_argument, NULL, 'l'},
        {"checkpoint-every", required_argument, NULL, 'c'}, {"force", no_argument, NULL, 'f'},
        {"quiet", no_argument, NULL, 'q'},           {"fault-nan-step", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0},
    };
    int64_t v;
    int opt;
    optind = 1;
    opterr = 0; /* cli_option_error says it, once, in scalelab's words */
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case 's': a->sets[a->n_sets++] = optarg; break;
        case 'D': a->device = optarg; break;
        case 'd': a->db = optarg; break;
        case 'i': if (parse_int("--run-id", optarg, 1, &a->run_id)) return CLI_USAGE; break;
        case 'r': a->run_dir = optarg; break;
        case 'k': a->sink = optarg; break;
        case 't': if (parse_int("--threads", optarg, 0, &v)) return CLI_USAGE; a->threads = (int)v; break;
        case 'l': if (parse_int("--log-every", optarg, 1, &v)) return CLI_USAGE; a->log_every = (int)v; break;
        case 'c': if (parse_int("--checkpoint-every", optarg, 0, &v)) return CLI_USAGE; a->checkpoint_every = (double)v; break;
        case 'f': a->force = 1; break;
        case 'q': a->quiet = 1; break;
        case 'n': if (parse_int("--fault-nan-step", optarg, 1, &a->fault_nan_step)) return CLI_USAGE; break;
        case 'h': usage(stdout); return -1;
        default: return cli_option_error("train", opt, argv, opts);
        }
    }
    if (optind != argc - 1) return cli_error(CLI_USAGE, "train", "expected one CONFIG.yaml (try --help)");
    a->config_path = argv[optind];
    if (strcmp(a->sink, "store") && strcmp(a->sink, "files"))
        return cli_error(CLI_USAGE, "train", "--sink: expected store or files, got '%s'", a->sink);
    char why[256];
    if (kern_device_check(a->device, why, sizeof why)) return cli_error(CLI_USAGE, "train", "--device: %s", why);
    return 0;
}

/* Standalone: insert (dedupe) and claim the run; *skip when it is already done. */
static int claim_standalone(store *db, const model_config *c, const char *json, const char *hash,
                            const train_args *a, int64_t *id, int *skip, char *err, size_t errlen) {
    model_flops f;
    model_flops_compute(c, &f);
    store_run_new r = {json, hash, f.acc};
    size_t n_new;
    if (store_runs_insert(db, "", &r, 1, id, &n_new, err, errlen)) return -1;
    store_run run;
    if (store_run_get(db, *id, &run, err, errlen)) return -1;
    store_status st = run.status;
    store_run_clear(&run);
    *skip = 0;
    if (st == STORE_DONE) {
        if (!a->force) {
            printf("run %lld (config %s) is already done; nothing to train\n", (long long)*id, hash);
            *skip = 1;
            return 0;
        }
        return util_err(err, errlen, "run %lld is done and the store keeps finished results; "
                        "train a changed config (e.g. --set train.seed=1) instead", (long long)*id);
    }
    /* We hold the run folder's lock, so a run marked running has no live trainer
     * here: its process died (kill -9, crash) and this call resumes it. */
    if (st == STORE_RUNNING) {
        if (store_run_requeue(db, *id, err, errlen)) return -1;
        st = STORE_PENDING;
    }
    if (st != STORE_PENDING) {
        if (!a->force)
            return util_err(err, errlen, "run %lld is %s; --force trains it again", (long long)*id,
                            store_status_name(st));
        if (store_run_requeue(db, *id, err, errlen)) return -1;
    }
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    return store_run_claim_id(db, *id, host, "cpu", err, errlen);
}

/* --run-id: the run must exist, be running (claimed by the scheduler) and have
 * this config's hash. */
static int check_claimed(store *db, int64_t id, const char *hash, char *err, size_t errlen) {
    store_run run;
    if (store_run_get(db, id, &run, err, errlen)) return -1;
    int rc = 0;
    if (strcmp(run.config_hash, hash))
        rc = util_err(err, errlen, "run %lld has config %s but the config given hashes to %s", (long long)id,
                      run.config_hash, hash);
    else if (run.status != STORE_RUNNING)
        rc = util_err(err, errlen, "run %lld is %s, not running (claim it first)", (long long)id,
                      store_status_name(run.status));
    store_run_clear(&run);
    return rc;
}

/* One trainer per run folder: an exclusive flock on DIR/train.lock, held until
 * the process exits (the kernel drops it when a process dies, even by kill -9).
 * The holder writes its PID into the file, so a scheduler that lost track of it
 * (it died before writing DIR/pid) finds and adopts it. *busy: another holds it. */
static int lock_run_dir(const char *dir, int *fd, int *busy, char *err, size_t errlen) {
    char path[4200];
    *busy = 0;
    if (util_mkdir_p(dir, err, errlen)) return -1;
    snprintf(path, sizeof path, "%s/train.lock", dir);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (*fd < 0) return util_err(err, errlen, "%s: cannot open", path);
    if (flock(*fd, LOCK_EX | LOCK_NB)) {
        close(*fd);
        *fd = -1;
        *busy = 1;
        return util_err(err, errlen, "%s: another scalelab train is running in this folder", dir);
    }
    char text[32];
    int n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
    if (ftruncate(*fd, 0) || pwrite(*fd, text, (size_t)n, 0) != n) { /* only a hint for schedulers */
    }
    return 0;
}

/* Makes dir the folder of run id of this store (sweep_run_dir_claim). When its old
 * contents were moved aside, the lock taken in them moved too: lock the new folder. */
static int own_run_dir(store *db, int64_t id, const char *dir, int *lock_fd, char *moved, size_t movedlen,
                       int *busy, char *err, size_t errlen) {
    store_run run;
    *busy = 0;
    if (store_run_get(db, id, &run, err, errlen)) return -1;
    int known = !strcmp(run.run_dir, dir);
    store_run_clear(&run);
    if (sweep_run_dir_claim(dir, store_id(db), id, known, moved, movedlen, err, errlen)) return -1;
    if (!*moved) return 0;
    close(*lock_fd);
    *lock_fd = -1;
    return lock_run_dir(dir, lock_fd, busy, err, errlen);
}

static int write_config(const char *dir, const char *json, char *err, size_t errlen) {
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (util_mkdir_p(dir, err, errlen)) return -1;
    return util_write_file_atomic(path, json, strlen(json), err, errlen);
}

static int run(train_args *a) {
    char err[1024];
    model_config cfg;
    model_config_default(&cfg);
    if (model_config_load(&cfg, a->config_path, err, sizeof err) ||
        model_config_apply_sets(&cfg, a->sets, a->n_sets, err, sizeof err) ||
        model_config_resolve(&cfg, err, sizeof err))
        return cli_error(CLI_FAIL, "train", "%s", err);
    /* Refused before the store is touched. */
    char gpu_why[256];
    if (!strcmp(a->device, "cuda") && !kern_cuda_available(gpu_why, sizeof gpu_why))
        return cli_error(CLI_FAIL, "train", "--device cuda: %s; use --device cpu", gpu_why);
    char hash[17], dir[4096];
    model_config_hash(&cfg, hash);
    char *json = model_config_canonical_json(&cfg);
    if (!json) return cli_error(CLI_FAIL, "train", "out of memory");
    if (a->run_dir) snprintf(dir, sizeof dir, "%s", a->run_dir);
    else snprintf(dir, sizeof dir, "runs/%s", hash);

    int files = !strcmp(a->sink, "files"), code = CLI_OK, lock_fd = -1, moved_note = 0;
    char moved_to[4400] = "";
    store *db = NULL;
    int64_t id = a->run_id;
    model_sink sink = {0};
    train_store_sink ssink = {0};
    train_files_sink fsink = {0};
    int busy;
    if (lock_run_dir(dir, &lock_fd, &busy, err, sizeof err)) {
        /* not a failed attempt: the scheduler adopts the holder */
        code = cli_error(busy ? SWEEP_TRAIN_EXIT_LOCKED : CLI_FAIL, "train", "%s", err);
        goto out;
    }
    if (!files) {
        if (store_open(cli_db_path(a->db), &db, err, sizeof err)) {
            code = cli_error(CLI_FAIL, "train", "%s", err);
            goto out;
        }
        if (!id) {
            int skip;
            if (claim_standalone(db, &cfg, json, hash, a, &id, &skip, err, sizeof err)) {
                code = cli_error(CLI_FAIL, "train", "%s", err);
                goto out;
            }
            if (skip) goto out;
        }
        else if (check_claimed(db, id, hash, err, sizeof err)) {
            code = cli_error(CLI_FAIL, "train", "%s", err);
            goto out;
        }
        /* The folder must be this store's run's: another store's checkpoint (a store
         * deleted and made again, another --db) is moved aside, never resumed. */
        char moved[4400] = "";
        if (own_run_dir(db, id, dir, &lock_fd, moved, sizeof moved, &busy, err, sizeof err)) {
            code = cli_error(busy ? SWEEP_TRAIN_EXIT_LOCKED : CLI_FAIL, "train", "%s", err);
            goto out;
        }
        if (*moved) moved_note = 1, snprintf(moved_to, sizeof moved_to, "%s", moved);
        if (store_run_set_dir(db, id, dir, err, sizeof err) ||
            cli_train_store_sink_init(&ssink, db, id, (size_t)a->log_every + 1, &sink, err, sizeof err)) {
            code = cli_error(CLI_FAIL, "train", "%s", err);
            goto out;
        }
    } else if (cli_train_files_sink_init(&fsink, dir, &sink, err, sizeof err)) {
        code = cli_error(CLI_FAIL, "train", "%s", err);
        goto out;
    }
    if (!a->run_id && write_config(dir, json, err, sizeof err)) {
        code = cli_error(CLI_FAIL, "train", "%s", err);
        goto out;
    }
    if (moved_note) {
        char log[4200];
        snprintf(log, sizeof log, "%s/train.log", dir);
        FILE *f = fopen(log, "a");
        if (f) {
            fprintf(f, "train: %s held another store's work for this config; moved it aside to %s; "
                       "run %lld starts fresh\n", dir, moved_to, (long long)id);
            fclose(f);
        }
        if (!a->quiet)
            printf("%s held another store's work for this config; moved it aside to %s; starting fresh\n", dir,
                   moved_to);
    }
    model_train_opts opts = {.run_dir = dir, .device = a->device, .threads = a->threads, .log_every = a->log_every,
                             .stop = &stop_requested, .checkpoint_every_s = a->checkpoint_every, .quiet = a->quiet,
                             .fault_nan_step = a->fault_nan_step};
    model_train_result res;
    char terr[1024] = "";
    int rc = model_train(&cfg, &opts, &sink, &res, terr, sizeof terr);
    const char *status;
    char why[1100] = "";
    if (rc) {
        status = "failed";
        snprintf(why, sizeof why, "%s", terr);
        code = cli_error(CLI_FAIL, "train", "%s", terr);
    } else if (res.outcome == MODEL_TRAIN_DIVERGED) {
        status = "diverged";
        snprintf(why, sizeof why, "loss not finite at step %lld", (long long)res.diverged_step);
        code = cli_error(CLI_FAIL, "train", "run diverged: %s", why);
    } else if (res.outcome == MODEL_TRAIN_STOPPED) {
        status = "stopped";
    } else {
        status = "done";
        printf("done: %lld steps, train loss %.4f, eval loss %.4f, best-context loss %.4f\n", (long long)res.steps,
               res.final_train_loss, res.final_eval_loss, res.best_context_loss);
    }
    int frc = 0;
    if (files) {
        frc = cli_train_files_write_result(dir, status, &res, why, err, sizeof err);
    } else if (!strcmp(status, "done")) {
        frc = store_run_finish(db, id, res.final_train_loss, res.final_eval_loss, res.best_context_loss, err, sizeof err);
    } else if (!strcmp(status, "stopped")) {
        frc = store_run_requeue(db, id, err, sizeof err);
    } else {
        frc = store_run_end(db, id, rc ? STORE_FAILED : STORE_DIVERGED, why, err, sizeof err);
    }
    if (frc) code = cli_error(CLI_FAIL, "train", "recording the result: %s", err);
out:
    cli_train_store_sink_free(&ssink);
    cli_train_files_sink_free(&fsink);
    store_close(db);
    if (lock_fd >= 0) close(lock_fd);
    free(json);
    return code;
}

int cli_train(int argc, char **argv) {
    /* The handler first, then unblock: a scheduler starts trainers with SIGTERM and
     * SIGINT blocked, so a stop that arrives during start-up waits here and then
     * checkpoints, instead of killing a trainer that has no handler yet. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigset_t stops;
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    sigprocmask(SIG_UNBLOCK, &stops, NULL);
    train_args a = {.device = "auto", .sink = "store", .log_every = 10, .checkpoint_every = 300};
    a.sets = calloc((size_t)argc + 1, sizeof *a.sets);
    if (!a.sets) return cli_error(CLI_FAIL, "train", "out of memory");
    int code = parse_args(argc, argv, &a);
    if (code == -1) code = CLI_OK;
    else if (!code) code = run(&a);
    free(a.sets);
    return code;
}
