/* model/net: parameter and activation layout, allocation and initialisation.
 * Dual compiled (float and float64 twin). forward/backward are in net_pass.c. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/net.h"

/* This compilation's scalar and symbol names (float, or the _f64 twin): kernels.h's. */
#define REAL KERN_REAL
#define KR(name) KERN_KR(name)
#include "util/util.h"

/* Appends a tensor to the table and returns its offset. */
static size_t KR(add_tensor)(KR(model_net) *net, const char *name, int layer, int rows, int cols,
                             int decay) {
    model_net_tensor *t = &net->tensors[net->n_tensors++];
    if (layer >= 0) snprintf(t->name, sizeof t->name, "block%d.%s", layer, name);
    else snprintf(t->name, sizeof t->name, "%s", name);
    t->offset = net->n_params;
    t->rows = rows;
    t->cols = cols;
    t->size = (size_t)rows * cols;
    t->decay = decay;
    net->n_params += t->size;
    return t->offset;
}

static void KR(layout_params)(KR(model_net) *net) {
    const model_config *c = &net->cfg;
    int H = c->d_model, hd = c->n_head * c->head_dim, kd = c->n_kv_head * c->head_dim;
    int F = c->mlp_hidden, ln = c->norm == MODEL_NORM_LAYERNORM;
    net->embedding = KR(add_tensor)(net, "embedding", -1, c->vocab_size, H, 0);
    for (int l = 0; l < c->n_layer; l++) {
        model_net_block *b = &net->blocks[l];
        b->norm1_w = KR(add_tensor)(net, "norm1.w", l, 1, H, 0);
        b->norm1_b = ln ? KR(add_tensor)(net, "norm1.b", l, 1, H, 0) : SIZE_MAX;
        b->wq = KR(add_tensor)(net, "wq", l, H, hd, 1);
        b->wk = KR(add_tensor)(net, "wk", l, H, kd, 1);
        b->wv = KR(add_tensor)(net, "wv", l, H, kd, 1);
        b->wo = KR(add_tensor)(net, "wo", l, hd, H, 1);
        b->wg = net->use_gate ? KR(add_tensor)(net, "wg", l, H, c->n_kv_head, 1) : SIZE_MAX;
        b->bg = net->use_gate ? KR(add_tensor)(net, "bg", l, 1, c->n_kv_head, 0) : SIZE_MAX;
        b->norm2_w = KR(add_tensor)(net, "norm2.w", l, 1, H, 0);
        b->norm2_b = ln ? KR(add_tensor)(net, "norm2.b", l, 1, H, 0) : SIZE_MAX;
        b->w1 = KR(add_tensor)(net, "w1", l, H, F, 1);
        b->b1 = KR(add_tensor)(net, "b1", l, 1, F, 0);
        b->w2 = KR(add_tensor)(net, "w2", l, F, H, 1);
        b->b2 = KR(add_tensor)(net, "b2", l, 1, H, 0);
    }
    net->final_w = KR(add_tensor)(net, "final_norm.w", -1, 1, H, 0);
    net->final_b = ln ? KR(add_tensor)(net, "final_norm.b", -1, 1, H, 0) : SIZE_MAX;
    net->lm_head = c->tie_embeddings ? net->embedding
                                     : KR(add_tensor)(net, "lm_head", -1, c->vocab_size, H, 1);
}

/* Every activation starts on a 256-byte boundary (64 floats; 512 bytes in the f64 twin, which
 * only needs the same offsets): the CUDA kernels load 16-byte vectors, and the bf16 backend holds
 * the MLP's hidden and its gradient as bf16 records that cuBLASLt reads as operands only where
 * they are 256-byte aligned, the alignment its algorithms assume (kernels/cuda/matmul.cu). */
static size_t KR(take)(size_t *n, size_t count) {
    size_t at = (*n + 63) & ~(size_t)63;
    *n = at + count; /* the padding counted too (before 2026-12-02 it was not: *n += count) */
    return at;
}

static void KR(layout_acts)(KR(model_net) *net) {
    const model_config *c = &net->cfg;
    size_t N = (size_t)net->n_tokens, H = c->d_model, F = c->mlp_hidden;
    size_t hd = (size_t)c->n_head * c->head_dim, kd = (size_t)c->n_kv_head * c->head_dim;
    size_t *n = &net->n_acts;
    size_t saved = net->be->mixer_saved_size(&net->mixer);
    for (int l = 0; l < c->n_layer; l++) {
        model_net_block_acts *a = &net->block_acts[l];
        a->res_in = KR(take)(n, N * H);
        a->xn1 = KR(take)(n, N * H);
        a->mean1 = KR(take)(n, N);
        a->rstd1 = KR(take)(n, N);
        a->q = KR(take)(n, N * hd);
        a->k = KR(take)(n, N * kd);
        a->v = KR(take)(n, N * kd);
        a->log_g = net->use_gate ? KR(take)(n, N * c->n_kv_head) : SIZE_MAX;
        a->y = KR(take)(n, N * hd);
        a->saved = KR(take)(n, saved);
        a->res_mid = KR(take)(n, N * H);
        a->xn2 = KR(take)(n, N * H);
        a->mean2 = KR(take)(n, N);
        a->rstd2 = KR(take)(n, N);
        a->hpre = KR(take)(n, N * F);
        a->hact = KR(take)(n, N * F);
    }
    net->res_final = KR(take)(n, N * H);
    net->xnf = KR(take)(n, N * H);
    net->meanf = KR(take)(n, N);
    net->rstdf = KR(take)(n, N);
    net->logits = KR(take)(n, N * c->vocab_size);
    net->losses = KR(take)(n, N);
    net->rope_cos = KR(take)(n, (size_t)net->seq * (c->head_dim / 2));
    net->rope_sin = KR(take)(n, (size_t)net->seq * (c->head_dim / 2));
    net->d_res = KR(take)(n, N * H);
    net->d_tmp = KR(take)(n, N * H);
    net->d_y = KR(take)(n, N * hd);
    net->d_q = KR(take)(n, N * hd);
    net->d_k = KR(take)(n, N * kd);
    net->d_v = KR(take)(n, N * kd);
    net->d_log_g = KR(take)(n, N * c->n_kv_head);
    net->d_h = KR(take)(n, N * F);
    net->mixer_work = KR(take)(n, net->be->mixer_work_size(&net->mixer));
}

int KR(model_net_alloc)(const model_config *cfg, int batch, const KR(kern_backend) *be,
                        KR(model_net) **out, char *err, size_t errlen) {
    *out = NULL;
    if (batch < 1 || cfg->context < 1) return util_err(err, errlen, "net: batch and context must be >= 1");
    if (cfg->head_dim % 2 && cfg->mixer != MODEL_MIXER_POWER)
        return util_err(err, errlen, "net: RoPE needs an even head_dim (got %d)", cfg->head_dim);
    KR(model_net) *net = calloc(1, sizeof *net);
    if (!net) return util_err(err, errlen, "net: out of memory");
    net->be = be;
    net->cfg = *cfg;
    net->batch = batch;
    net->seq = cfg->context;
    net->n_tokens = batch * cfg->context;
    net->use_rope = cfg->mixer != MODEL_MIXER_POWER;
    net->use_gate = cfg->mixer == MODEL_MIXER_POWER && cfg->gating;
    kern_mixer_shape *m = &net->mixer;
    m->batch = batch;
    m->seq = cfg->context;
    m->n_head = cfg->n_head;
    m->n_kv_head = cfg->n_kv_head;
    m->head_dim = cfg->head_dim;
    m->kind = cfg->mixer == MODEL_MIXER_SOFTMAX ? KERN_MIXER_SOFTMAX
              : cfg->mixer == MODEL_MIXER_WINDOW ? KERN_MIXER_WINDOW : KERN_MIXER_POWER;
    m->p = cfg->p;
    m->chunk = cfg->chunk;
    m->window = cfg->window;
    m->gating = net->use_gate;
    m->normalize_rms = cfg->normalize == MODEL_NORMALIZE_RMS;
    m->scale = 1.0 / sqrt((double)cfg->head_dim);
    m->eps = 1e-6;
    /* The mixer's work buffer gets one slice per thread of the current count; the
     * mixer never runs more threads than that, whatever the count is later. */
    m->threads = omp_get_max_threads();

    size_t max_tensors = 4 + 14 * (size_t)cfg->n_layer;
    net->tensors = calloc(max_tensors, sizeof *net->tensors);
    net->blocks = calloc(cfg->n_layer, sizeof *net->blocks);
    net->block_acts = calloc(cfg->n_layer, sizeof *net->block_acts);
    net->host_losses = calloc(net->n_tokens, sizeof(REAL));
    net->host_tokens = calloc(2 * (size_t)net->n_tokens, sizeof(int32_t));
    if (!net->tensors || !net->blocks || !net->block_acts || !net->host_losses || !net->host_tokens) goto oom;
    KR(layout_params)(net);
    KR(layout_acts)(net);
    net->params = be->alloc(net->n_params * sizeof(REAL));
    net->grads = be->alloc(net->n_params * sizeof(REAL));
    net->acts = be->alloc(net->n_acts * sizeof(REAL));
    net->inputs = be->alloc(2 * (size_t)net->n_tokens * sizeof(int32_t));
    if (!net->params || !net->grads || !net->acts || !net->inputs) goto oom;
    net->targets = net->inputs + net->n_tokens;
    if (net->use_rope) {
        size_t half = cfg->head_dim / 2, n = (size_t)net->seq * half;
        REAL *tab = malloc(2 * n * sizeof(REAL) + 1);
        if (!tab) goto oom;
        KR(kern_rope_table)(net->seq, cfg->head_dim, 10000.0, tab, tab + n);
        be->upload(net->acts + net->rope_cos, tab, n * sizeof(REAL));
        be->upload(net->acts + net->rope_sin, tab + n, n * sizeof(REAL));
        free(tab);
    }
    *out = net;
    return 0;
oom:
    KR(model_net_free)(net);
    return util_err(err, errlen, "net: out of memory (activations for batch %d x context %d)", batch,
                    cfg->context);
}

void KR(model_net_free)(KR(model_net) *net) {
    if (!net) return;
    const KR(kern_backend) *be = net->be;
    be->free(net->params);
    be->free(net->grads);
    be->free(net->acts);
    be->free(net->inputs); /* and the targets, in the same allocation */
    free(net->tensors);
    free(net->blocks);
    free(net->block_acts);
    free(net->host_losses);
    free(net->host_tokens);
    free(net);
}

int KR(model_net_init_params)(KR(model_net) *net, uint64_t seed, char *err, size_t errlen) {
    double *values = malloc(net->n_params * sizeof(double) + 1);
    REAL *p = malloc(net->n_params * sizeof(REAL) + 1);
    int rc = values && p ? model_net_init_values(net->tensors, net->n_tensors, net->n_params, net->cfg.n_layer,
                                                 seed, values, err, errlen)
                         : util_err(err, errlen, "net: out of memory initialising %zu parameters", net->n_params);
    if (!rc) {
        for (size_t i = 0; i < net->n_params; i++) p[i] = (REAL)values[i];
        net->be->upload(net->params, p, net->n_params * sizeof(REAL));
    }
    free(values);
    free(p);
    return rc;
}

void KR(model_net_adamw)(KR(model_net) *net, REAL *m, REAL *v, double lr, double beta1, double beta2, double eps,
                         double wd, int64_t step) {
    for (size_t i = 0, j; i < net->n_tensors; i = j) {
        const model_net_tensor *t = &net->tensors[i];
        size_t end = t->offset + t->size;
        for (j = i + 1; j < net->n_tensors && net->tensors[j].decay == t->decay && net->tensors[j].offset == end; j++)
            end += net->tensors[j].size;
        net->be->adamw(end - t->offset, net->params + t->offset, net->grads + t->offset, m + t->offset,
                       v + t->offset, lr, beta1, beta2, eps, t->decay ? wd : 0, step);
    }
}
