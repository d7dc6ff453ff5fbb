/* Checkpoints: one file, written atomically (util_write_file_atomic), so a crash
 * leaves the previous checkpoint or the new one, never a torn file.
 * Layout (host byte order, fixed-width fields):
 *   header  (struct ckpt_header below: magic "SLCKPT\0\0", version, header size,
 *            config hash, step, parameter count, loss state, hash)
 *   body    params[n], adam_m[n], adam_v[n] as float32.
 * Version 2: the hash covers the header (with the hash field zeroed) and the
 * body, so a corrupted step or loss is caught like a corrupted weight; the
 * header's fields are also checked for sense (step >= 0, finite losses).
 * Version 1 (body-only hash) is refused with a message saying so: its header
 * cannot be trusted, and reading it compatibly would keep exactly the hole that
 * version 2 closes. Such a run starts again after its checkpoint is removed.
 * A kill during a write leaves CHECKPOINT.tmp.PID beside it; model_ckpt_read,
 * called at each start, removes those whose writer is no longer alive. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/train_internal.h"
#include "util/util.h"

#define CKPT_MAGIC "SLCKPT\0\0"
#define CKPT_VERSION 2u

typedef struct ckpt_header {
    char magic[8];
    uint32_t version, header_bytes;
    char config_hash[24]; /* 16 hex digits, NUL padded */
    int64_t step, n_params;
    double wall_seconds, loss_ema, loss_ema_weight, last_eval_loss, last_best_context;
    uint64_t hash; /* util_hash64 of header (this field 0) then body, chained */
} ckpt_header;

size_t model_ckpt_bytes(size_t n_params) { return sizeof(ckpt_header) + 3 * n_params * sizeof(float); }

float *model_ckpt_tensor(void *image, size_t n_params, int which) {
    return (float *)((char *)image + sizeof(ckpt_header)) + (size_t)which * n_params;
}

/* The hash of a whole image whose header's hash field is zero: the header's
 * hash, mixed into the body's (two calls, so the body is not copied). */
static uint64_t image_hash(const void *image, size_t n_params) {
    uint64_t a = util_hash64(image, sizeof(ckpt_header));
    uint64_t b = util_hash64((const char *)image + sizeof(ckpt_header), 3 * n_params * sizeof(float));
    return a ^ (b + 0x9e3779b97f4a7c15ull + (a << 6) + (a >> 2));
}

/* Removes CHECKPOINT.tmp.PID files of dead writers (a kill mid-write). The run's
 * train.lock is held by now, so no other trainer of this run is writing; a live
 * PID (another process that reused it, or ourselves) is left alone all the same. */
static void remove_stale_tmp(const char *path) {
    char dir[4096];
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (slash) snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else snprintf(dir, sizeof dir, ".");
    if (!dir[0]) snprintf(dir, sizeof dir, "/");
    DIR *d = opendir(dir);
    if (!d) return;
    size_t blen = strlen(base);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, base, blen) || strncmp(e->d_name + blen, ".tmp.", 5)) continue;
        char *end;
        long pid = strtol(e->d_name + blen + 5, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char full[8192];
        snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
        unlink(full);
    }
    closedir(d);
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
    memcpy(image, &h, sizeof h); /* h.hash is 0 here */
    h.hash = image_hash(image, n_params);
    memcpy(image, &h, sizeof h);
    char why[512];
    if (util_write_file_atomic(path, image, model_ckpt_bytes(n_params), why, sizeof why))
        return util_err(err, errlen, "checkpoint %s: %s", path, why);
    return 0;
}

int model_ckpt_read(const char *path, void *image, size_t n_params, const char *config_hash,
                    model_train_state *st, int *found, char *err, size_t errlen) {
    *found = 0;
    remove_stale_tmp(path);
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
    if (h.version == 1) {
        util_err(err, errlen, "checkpoint %s: version 1, written before checkpoint headers were checksummed; its "
                 "step and losses cannot be trusted: remove it to train this run from the start", path);
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
    uint64_t want = h.hash;
    memset(data + offsetof(ckpt_header, hash), 0, sizeof h.hash);
    if (image_hash(data, n_params) != want) {
        util_err(err, errlen, "checkpoint %s: hash mismatch (corrupt file: header or body)", path);
        goto out;
    }
    memcpy(data + offsetof(ckpt_header, hash), &want, sizeof want);
    /* Checksummed, so these hold unless the writer was wrong: say so rather than resume from nonsense. */
    if (h.step < 0 || !isfinite(h.wall_seconds) || h.wall_seconds < 0 || !isfinite(h.loss_ema) ||
        !isfinite(h.loss_ema_weight) || h.loss_ema_weight < 0 || h.loss_ema_weight > 1 ||
        (h.step > 0 && h.loss_ema_weight <= 0) || isinf(h.last_eval_loss) || isinf(h.last_best_context)) {
        util_err(err, errlen, "checkpoint %s: header out of range (step %lld, loss_ema %g, weight %g, wall %g s): "
                 "remove it to train this run from the start", path, (long long)h.step, h.loss_ema,
                 h.loss_ema_weight, h.wall_seconds);
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
