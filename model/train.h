/* model/train: the training loop: data, forward/backward, AdamW, schedule, clipping,
 * evaluation (validation loss, loss by position, best-context loss), checkpoints,
 * resume, divergence detection. Reports through a sink that the CLI wires to the
 * store (or to run files), so model/ knows nothing about SQLite. */
#ifndef SCALELAB_MODEL_TRAIN_H
#define SCALELAB_MODEL_TRAIN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "model/config.h"

typedef struct model_metric {
    int64_t step;
    double tokens, wall_seconds, loss, lr, grad_norm, tokens_per_second;
    double eval_loss; /* NAN except at evaluation steps */
} model_metric;

typedef struct model_sink {
    void *ctx;
    /* A batch of training metrics (called every log interval). */
    int (*metrics)(void *ctx, const model_metric *rows, size_t n, char *err, size_t errlen);
    /* An evaluation: loss per log2 position bucket (bucket_start[i] is the first position). */
    int (*eval)(void *ctx, int64_t step, double eval_loss, const int64_t *bucket_start,
                const double *bucket_loss, size_t n_buckets, char *err, size_t errlen);
    /* Called at least every few seconds while training. */
    int (*heartbeat)(void *ctx, char *err, size_t errlen);
    /* Optional (may be NULL): training (re)starts after `step` (0 when there is no
     * checkpoint); rows the sink holds for later steps are stale and will be logged again. */
    int (*resumed)(void *ctx, int64_t step, char *err, size_t errlen);
    /* Optional: the device kind ("cpu" or "cuda") and the precision the run computes
     * in ("fp32" or "bf16": train.precision auto resolved), once the backend is chosen. */
    int (*started)(void *ctx, const char *device, const char *precision, char *err, size_t errlen);
} model_sink;

typedef struct model_train_opts {
    const char *run_dir;      /* checkpoint, log; created if missing */
    const char *device;       /* "cpu", "cuda", "auto" */
    int threads;              /* 0: all cores */
    int log_every;            /* steps between metric batches */
    volatile sig_atomic_t *stop; /* set by SIGTERM: checkpoint and return STOPPED */
    double checkpoint_every_s;   /* also checkpoint this often (0: only at evaluations and stop) */
    int quiet;                   /* no progress lines on stdout (train.log still gets them) */
    int64_t fault_nan_step;      /* testing: poison the loss at this step (0: never) */
} model_train_opts;

typedef enum model_train_outcome {
    MODEL_TRAIN_DONE = 0, MODEL_TRAIN_DIVERGED, MODEL_TRAIN_STOPPED
} model_train_outcome;

typedef struct model_train_result {
    model_train_outcome outcome;
    int64_t steps, diverged_step;
    double final_train_loss, final_eval_loss, best_context_loss;
} model_train_result;

/* Optimizer steps of a run: ceil(tokens / (batch_size * context)). */
int64_t model_train_total_steps(const model_config *cfg);
/* Learning rate at step (1-based): linear warmup to lr over warmup_steps, then a
 * cosine from lr down to lr * min_lr_ratio at the last step. */
double model_train_lr(const model_config *cfg, int64_t step, int64_t total_steps);

/* Checkpoint file in the run directory: a header (magic "SLCKPT\0\0", version,
 * config hash, step, counts, loss state; a hash of the body) then parameters,
 * AdamW first and second moments, as float32. See model/train_ckpt.c. */
#define MODEL_CHECKPOINT_FILE "checkpoint.bin"

/* Trains cfg (resolved) from its checkpoint in run_dir when one exists. */
int model_train(const model_config *cfg, const model_train_opts *opts, const model_sink *sink,
                model_train_result *result, char *err, size_t errlen);

#endif
