/* model/config: the run config of DESIGN.md section 3 (sections model, train,
 * data), parsed from YAML with libyaml, validated, canonicalised and hashed. */
#ifndef SCALELAB_MODEL_CONFIG_H
#define SCALELAB_MODEL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef enum model_mixer { MODEL_MIXER_SOFTMAX = 0, MODEL_MIXER_WINDOW, MODEL_MIXER_POWER } model_mixer;
typedef enum model_norm { MODEL_NORM_LAYERNORM = 0, MODEL_NORM_RMSNORM } model_norm;
typedef enum model_normalize { MODEL_NORMALIZE_SUM = 0, MODEL_NORMALIZE_RMS } model_normalize;
/* fp32: every op in FP32 (the reference; the only precision of the CPU backend).
 * bf16: the CUDA backend's bf16 table (kernels.h: kern_cuda_backend_bf16).
 * auto (the default): bf16 when the run's device is CUDA, fp32 on the CPU; resolved
 * where the device is known (model_precision_resolve, called by the trainer). */
typedef enum model_precision { MODEL_PRECISION_FP32 = 0, MODEL_PRECISION_BF16, MODEL_PRECISION_AUTO } model_precision;

/* The precision a run computes in: auto -> bf16 on CUDA, fp32 elsewhere; fp32 and
 * bf16 stay as given (bf16 on the CPU is refused by the trainer, not here). */
model_precision model_precision_resolve(model_precision p, int on_cuda);
/* "fp32", "bf16" or "auto". */
const char *model_precision_name(model_precision p);

typedef struct model_config {
    /* model: */
    int vocab_size, d_model, n_layer, n_head;
    int n_kv_head;  /* 0 in a file means "= n_head"; resolved by model_config_resolve */
    int head_dim;   /* 0 means d_model / n_head */
    int mlp_hidden; /* 0 means 4 * d_model */
    model_mixer mixer;
    int p, chunk, window, gating;
    model_normalize normalize; int normalize_set; /* default: sum for even p, rms for odd p */
    model_norm norm;
    int tie_embeddings;
    /* train: */
    int context, batch_size;
    int64_t tokens;
    double lr, min_lr_ratio;
    int warmup_steps;
    double weight_decay, grad_clip;
    model_precision precision;
    uint64_t seed;
    int eval_every;
    int64_t eval_tokens;
    /* data: */
    char data_source[1024]; /* "synthetic:recall", "synthetic:<other>", "file:PATH" */
} model_config;

/* The defaults of DESIGN section 3. */
void model_config_default(model_config *c);
/* Set one dotted key ("model.d_model") from its text form, type- and range-checked.
 * An unknown key is an error naming the closest valid key. */
int model_config_set(model_config *c, const char *key, const char *value, char *err, size_t errlen);
/* Parse a YAML (or JSON) file over the defaults; errors name file:line and key. */
int model_config_load(model_config *c, const char *path, char *err, size_t errlen);
/* Apply "key=value" overrides (--set). */
int model_config_apply_sets(model_config *c, const char *const *sets, size_t n, char *err, size_t errlen);
/* Resolve derived defaults (n_kv_head, head_dim, mlp_hidden, normalize) and check
 * every range and shape (heads divide, context a multiple of chunk, ...). */
int model_config_resolve(model_config *c, char *err, size_t errlen);
/* What resolve leaves to run time, checked now: the data source opens (a file:
 * shard exists, is readable, has a valid header and a vocabulary that fits
 * model.vocab_size; a synthetic task fits the vocabulary). For `sweep plan`, so
 * that a bad source fails the plan instead of every run. err says why, without
 * the key's name. */
int model_config_check_data(const model_config *c, char *err, size_t errlen);
/* Canonical form of a resolved config: {"data":{..},"model":{..},"train":{..}} with
 * sorted keys, keys the mixer does not use left out. Loadable by model_config_load.
 * Returns a malloc'd string (caller frees) or NULL. */
char *model_config_canonical_json(const model_config *c);
/* 16 lowercase hex digits of the hash of the canonical JSON. */
void model_config_hash(const model_config *c, char out[17]);

const char *model_mixer_name(model_mixer m);

/* Added by the config helper: the value of one dotted key in its --set text form
 * (0, or -1 for an unknown key), and the list of every key ("model.d_model", ...)
 * for tools that enumerate them (sweeps, tables). */
int model_config_get(const model_config *c, const char *key, char *out, size_t outlen);
size_t model_config_key_count(void);
int model_config_key_name(size_t i, char *out, size_t outlen);

#endif
