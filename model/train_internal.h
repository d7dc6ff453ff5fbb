/* model/train internals shared by train.c and train_ckpt.c. */
#ifndef SCALELAB_MODEL_TRAIN_INTERNAL_H
#define SCALELAB_MODEL_TRAIN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* What a checkpoint carries besides the tensors: enough that a resumed run
 * continues exactly where the checkpointed one was. The data position is the
 * step (train batch i is batch_index i - 1), so it needs no field of its own. */
typedef struct model_train_state {
    int64_t step;             /* optimizer steps completed */
    double wall_seconds;      /* training wall time before this process */
    double loss_ema, loss_ema_weight; /* smoothed train loss (debiased by the weight) */
    double last_eval_loss, last_best_context;
} model_train_state;

/* Bytes of a checkpoint image for n parameters (header + params, m, v). */
size_t model_ckpt_bytes(size_t n_params);
/* The parameter, first-moment and second-moment regions of an image. */
float *model_ckpt_tensor(void *image, size_t n_params, int which);
/* Fills the image's header and writes it atomically to path. */
int model_ckpt_write(const char *path, void *image, size_t n_params, const char *config_hash,
                     const model_train_state *st, char *err, size_t errlen);
/* Reads path into image after checking magic, version, config hash, parameter
 * count, size and body hash. *found = 0 (and 0 returned) when there is no file. */
int model_ckpt_read(const char *path, void *image, size_t n_params, const char *config_hash,
                    model_train_state *st, int *found, char *err, size_t errlen);

#endif
