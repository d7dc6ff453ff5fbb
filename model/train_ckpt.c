/* Checkpoints: one file, written atomically (util_write_file_atomic), so a crash
 * leaves the previous checkpoint or the new one, never a torn file.
 * Layout (host byte order, fixed-width fields):
 *   header  (struct ckpt_header below: magic "SLCKPT\0\0", version, header size,
 *            config hash, step, parameter count, loss state, body hash)
 *   body    params[n], adam_m[n], adam_v[n] as float32. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/train_internal.h"
#include "util/util.h"

#define CKPT_MAGIC "SLCKPT\0\0"
#define CKPT_VERSION 1u

typedef struct ckpt_header {
    char magic[8];
    uint32_t version, header_bytes;
    char config_hash[24]; /* 16 hex digits, NUL padded */
    int64_t step, n_params;
    double wall_seconds, loss_ema, loss_ema_weight, last_eval_loss, last_best_context;
    uint64_t body_hash; /* util_hash64 of the body */
} ckpt_header;

size_t model_ckpt_bytes(size_t n_params) { return sizeof(ckpt_header) + 3 * n_params * sizeof(float); }

float *model_ckpt_tensor(void *image, size_t n_params, int which) {
    return (float *)((char *)image + sizeof(ckpt_header)) + (size_t)which * n_params;
}

int model_ckpt_write(const char *path, void *image, size_t n_params, const char *config_hash,
                     const model_train_state *st, char *err, size_t errlen) {
    ckpt_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, CKPT_MAGIC, 8);
    h.version = CKPT_VERSION;
    h.header_bytes = sizeof h;
    snprintf(h.config_hash, sizeof h.config_hash, "%s", config_hash);
    h.step = st->step;
    h.n_params = (int64_t)n_params;
    h.wall_seconds = st->wall_seconds;
    h.loss_ema = st->loss_ema;
    h.loss_ema_weight = st->loss_ema_weight;
    h.last_eval_loss = st->last_eval_loss;
    h.last_best_context = st->last_best_context;
    h.body_hash = util_hash64((char *)image + sizeof h, 3 * n_params * sizeof(float));
    memcpy(image, &h, sizeof h);
    char why[512];
    if (util_write_file_atomic(path, image, model_ckpt_bytes(n_params), why, sizeof why))
        return util_err(err, errlen, "checkpoint %s: %s", path, why);
    return 0;
}

int model_ckpt_read(const char *path, void *image, size_t n_params, const char *config_hash,
                    model_train_state *st, int *found, char *err, size_t errlen) {
    *found = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fclose(f);
    char *data = NULL, why[512];
    size_t len = 0;
    if (util_read_file(path, &data, &len, why, sizeof why)) return util_err(err, errlen, "checkpoint %s: %s", path, why);
    int rc = -1;
    ckpt_header h;
    if (len < sizeof h) {
        util_err(err, errlen, "checkpoint %s: truncated header (%zu bytes)", path, len);
        goto out;
    }
    memcpy(&h, data, sizeof h);
    if (memcmp(h.magic, CKPT_MAGIC, 8)) {
        util_err(err, errlen, "checkpoint %s: not a scalelab checkpoint (bad magic)", path);
        goto out;
    }
    if (h.version != CKPT_VERSION || h.header_bytes != sizeof h) {
        util_err(err, errlen, "checkpoint %s: version %u (header %u bytes), expected %u (%zu bytes)", path,
                 h.version, h.header_bytes, CKPT_VERSION, sizeof h);
        goto out;
    }
    h.config_hash[sizeof h.config_hash - 1] = 0;
    if (strcmp(h.config_hash, config_hash)) {
        util_err(err, errlen, "checkpoint %s: belongs to config %s, not %s (remove it or use another run dir)", path,
                 h.config_hash, config_hash);
        goto out;
    }
    if (h.n_params != (int64_t)n_params || len != model_ckpt_bytes(n_params)) {
        util_err(err, errlen, "checkpoint %s: %zu bytes for %lld parameters, expected %zu bytes for %zu", path, len,
                 (long long)h.n_params, model_ckpt_bytes(n_params), n_params);
        goto out;
    }
    if (util_hash64(data + sizeof h, len - sizeof h) != h.body_hash) {
        util_err(err, errlen, "checkpoint %s: body hash mismatch (corrupt file)", path);
        goto out;
    }
    memcpy(image, data, len);
    st->step = h.step;
    st->wall_seconds = h.wall_seconds;
    st->loss_ema = h.loss_ema;
    st->loss_ema_weight = h.loss_ema_weight;
    st->last_eval_loss = h.last_eval_loss;
    st->last_best_context = h.last_best_context;
    *found = 1;
    rc = 0;
out:
    free(data);
    return rc;
}
