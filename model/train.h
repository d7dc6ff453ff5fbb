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
} model_sink;

typedef struct model_train_opts {
    const char *run_dir;      /* checkpoint, log; created if missing */
    const char *device;       /* "cpu", "cuda", "auto" */
    int threads;              /* 0: all cores */
    int log_every;            /* steps between metric batches */
    volatile sig_atomic_t *stop; /* set by SIGTERM: checkpoint and return STOPPED */
} model_train_opts;

typedef enum model_train_outcome {
    MODEL_TRAIN_DONE = 0, MODEL_TRAIN_DIVERGED, MODEL_TRAIN_STOPPED
} model_train_outcome;

typedef struct model_train_result {
    model_train_outcome outcome;
    int64_t steps, diverged_step;
    double final_train_loss, final_eval_loss, best_context_loss;
} model_train_result;

/* Trains cfg (resolved) from its checkpoint in run_dir when one exists. */
int model_train(const model_config *cfg, const model_train_opts *opts, const model_sink *sink,
                model_train_result *result, char *err, size_t errlen);

#endif
