/* model/net: forward and backward of the whole network, every op through the
 * backend table. Dual compiled (float and float64 twin).
 * Block l: a = norm1(x); y = mixer(rope(a Wq), rope(a Wk), a Wv, logsigmoid(a W_g + b_g));
 *          m = x + y Wo; x' = m + gelu(norm2(m) W1 + b1) W2 + b2.
 * RoPE (base 10000, pairs (i, i + d/2)) rotates q and k for the softmax and window
 * mixers; power retention has no positional encoding (its gates decay with distance).
 * Matrices are stored [in, out] so a product is act[N,in] @ W[in,out]; the LM
 * head is [V, H] (the embedding's shape, so tying shares the memory). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "model/net.h"

/* This compilation's scalar and symbol names (float, or the _f64 twin): kernels.h's. */
#define REAL KERN_REAL
#define KR(name) KERN_KR(name)

#define NORM_EPS 1e-5

static void KR(norm_fwd)(const KR(model_net) *net, const REAL *x, size_t w, size_t b, REAL *y,
                         REAL *mean, REAL *rstd) {
    const KR(kern_backend) *be = net->be;
    int N = net->n_tokens, H = net->cfg.d_model;
    if (net->cfg.norm == MODEL_NORM_LAYERNORM)
        be->layernorm_forward(N, H, x, net->params + w, net->params + b, (REAL)NORM_EPS, y, mean, rstd);
    else be->rmsnorm_forward(N, H, x, net->params + w, (REAL)NORM_EPS, y, rstd);
}

/* dx accumulates. */
static void KR(norm_bwd)(KR(model_net) *net, const REAL *x, size_t w, size_t b, const REAL *mean,
                         const REAL *rstd, const REAL *dy, REAL *dx) {
    const KR(kern_backend) *be = net->be;
    int N = net->n_tokens, H = net->cfg.d_model;
    if (net->cfg.norm == MODEL_NORM_LAYERNORM)
        be->layernorm_backward(N, H, x, net->params + w, mean, rstd, dy, dx, net->grads + w, net->grads + b);
    else be->rmsnorm_backward(N, H, x, net->params + w, rstd, dy, dx, net->grads + w);
}

void KR(model_net_forward_launch)(KR(model_net) *net, const int32_t *seqs) {
    const KR(kern_backend) *be = net->be;
    const model_config *c = &net->cfg;
    int N = net->n_tokens, T = net->seq, H = c->d_model, F = c->mlp_hidden, V = c->vocab_size;
    int d = c->head_dim, hd = c->n_head * d, kd = c->n_kv_head * d;
    REAL *P = net->params, *A = net->acts;
    /* One upload of inputs and targets (adjacent in backend memory) instead of two per
     * row: on the GPU each copy from pageable memory is a call that waits for the stream. */
    for (int b = 0; b < net->batch; b++) {
        memcpy(net->host_tokens + (size_t)b * T, seqs + (size_t)b * (T + 1), (size_t)T * sizeof(int32_t));
        memcpy(net->host_tokens + (size_t)N + (size_t)b * T, seqs + (size_t)b * (T + 1) + 1,
               (size_t)T * sizeof(int32_t));
    }
    be->upload(net->inputs, net->host_tokens, 2 * (size_t)N * sizeof(int32_t));
    be->embedding_forward(N, H, net->inputs, P + net->embedding, A + net->block_acts[0].res_in);
    for (int l = 0; l < c->n_layer; l++) {
        const model_net_block *w = &net->blocks[l];
        const model_net_block_acts *a = &net->block_acts[l];
        REAL *x = A + a->res_in, *xn = A + a->xn1;
        REAL *out = l + 1 < c->n_layer ? A + net->block_acts[l + 1].res_in : A + net->res_final;
        KR(norm_fwd)(net, x, w->norm1_w, w->norm1_b, xn, A + a->mean1, A + a->rstd1);
        be->matmul(0, 0, N, hd, H, 1, xn, P + w->wq, 0, A + a->q);
        be->matmul(0, 0, N, kd, H, 1, xn, P + w->wk, 0, A + a->k);
        be->matmul(0, 0, N, kd, H, 1, xn, P + w->wv, 0, A + a->v);
        REAL *log_g = NULL;
        if (net->use_gate) {
            log_g = A + a->log_g;
            be->matmul_bias(0, 0, N, c->n_kv_head, H, xn, P + w->wg, P + w->bg, log_g);
            be->logsigmoid_forward((size_t)N * c->n_kv_head, log_g);
        }
        if (net->use_rope) {
            be->rope_forward(N, T, c->n_head, d, A + net->rope_cos, A + net->rope_sin, A + a->q);
            be->rope_forward(N, T, c->n_kv_head, d, A + net->rope_cos, A + net->rope_sin, A + a->k);
        }
        be->mixer_forward(&net->mixer, A + a->q, A + a->k, A + a->v, log_g, A + a->y, A + a->saved,
                          A + net->mixer_work);
        /* the residual connections: one op each, product and sum (kern_ops.inc: matmul_add) */
        be->matmul_add(0, 0, N, H, hd, A + a->y, P + w->wo, NULL, x, A + a->res_mid);
        KR(norm_fwd)(net, A + a->res_mid, w->norm2_w, w->norm2_b, A + a->xn2, A + a->mean2, A + a->rstd2);
        be->matmul_bias_gelu(0, 0, N, F, H, A + a->xn2, P + w->w1, P + w->b1, A + a->hpre, A + a->hact);
        be->matmul_add(0, 0, N, H, F, A + a->hact, P + w->w2, P + w->b2, A + a->res_mid, out);
    }
    KR(norm_fwd)(net, A + net->res_final, net->final_w, net->final_b, A + net->xnf, A + net->meanf,
                 A + net->rstdf);
    be->matmul(0, 1, N, V, H, 1, A + net->xnf, P + net->lm_head, 0, A + net->logits);
    be->xent_forward(N, V, A + net->logits, net->targets, A + net->losses);
}

double KR(model_net_forward_loss)(KR(model_net) *net) {
    int N = net->n_tokens;
    /* The backward never writes net->losses, so the values read here are the
     * forward's even when a backward was issued in between. */
    net->be->download(net->host_losses, net->acts + net->losses, (size_t)N * sizeof(REAL));
    double sum = 0;
    for (int i = 0; i < N; i++) sum += net->host_losses[i];
    return sum / N;
}

double KR(model_net_forward)(KR(model_net) *net, const int32_t *seqs) {
    KR(model_net_forward_launch)(net, seqs);
    return KR(model_net_forward_loss)(net);
}

void KR(model_net_backward)(KR(model_net) *net) {
    const KR(kern_backend) *be = net->be;
    const model_config *c = &net->cfg;
    int N = net->n_tokens, T = net->seq, H = c->d_model, F = c->mlp_hidden, V = c->vocab_size;
    int d = c->head_dim, hd = c->n_head * d, kd = c->n_kv_head * d, hk = c->n_kv_head;
    REAL *P = net->params, *G = net->grads, *A = net->acts;
    REAL *dres = A + net->d_res, *dtmp = A + net->d_tmp, *dlogits = A + net->logits;
    be->zero(net->n_params, G);
    be->zero((size_t)N * H, dres);
    /* The logits are dead after this: their gradient overwrites them. */
    be->xent_backward(N, V, A + net->logits, net->targets, (REAL)(1.0 / N), dlogits);
    be->matmul(1, 0, V, H, N, 1, dlogits, A + net->xnf, 1, G + net->lm_head);
    be->matmul(0, 0, N, H, V, 1, dlogits, P + net->lm_head, 0, dtmp);
    KR(norm_bwd)(net, A + net->res_final, net->final_w, net->final_b, A + net->meanf, A + net->rstdf, dtmp,
                 dres);
    for (int l = c->n_layer - 1; l >= 0; l--) {
        const model_net_block *w = &net->blocks[l];
        const model_net_block_acts *a = &net->block_acts[l];
        REAL *xn = A + a->xn1, *dh = A + net->d_h;
        /* MLP: dres is the gradient of the block output. */
        be->bias_backward(N, H, dres, G + w->b2);
        be->matmul(1, 0, F, H, N, 1, A + a->hact, dres, 1, G + w->w2);
        be->matmul_dgelu(0, 1, N, F, H, dres, P + w->w2, A + a->hpre, dh, G + w->b1);
        be->matmul(1, 0, H, F, N, 1, A + a->xn2, dh, 1, G + w->w1);
        be->matmul(0, 1, N, H, F, 1, dh, P + w->w1, 0, dtmp);
        KR(norm_bwd)(net, A + a->res_mid, w->norm2_w, w->norm2_b, A + a->mean2, A + a->rstd2, dtmp, dres);
        /* Mixer: dres is now the gradient of res_mid. */
        REAL *dy = A + net->d_y, *dq = A + net->d_q, *dk = A + net->d_k, *dv = A + net->d_v;
        REAL *log_g = net->use_gate ? A + a->log_g : NULL, *dlog_g = net->use_gate ? A + net->d_log_g : NULL;
        be->matmul(1, 0, hd, H, N, 1, A + a->y, dres, 1, G + w->wo);
        be->matmul(0, 1, N, hd, H, 1, dres, P + w->wo, 0, dy);
        be->mixer_backward(&net->mixer, A + a->q, A + a->k, A + a->v, log_g, A + a->y, A + a->saved, dy, dq,
                           dk, dv, dlog_g, A + net->mixer_work);
        if (net->use_rope) {
            be->rope_backward(N, T, c->n_head, d, A + net->rope_cos, A + net->rope_sin, dq);
            be->rope_backward(N, T, hk, d, A + net->rope_cos, A + net->rope_sin, dk);
        }
        be->matmul(1, 0, H, hd, N, 1, xn, dq, 1, G + w->wq);
        be->matmul(1, 0, H, kd, N, 1, xn, dk, 1, G + w->wk);
        be->matmul(1, 0, H, kd, N, 1, xn, dv, 1, G + w->wv);
        be->matmul(0, 1, N, H, hd, 1, dq, P + w->wq, 0, dtmp);
        be->matmul(0, 1, N, H, kd, 1, dk, P + w->wk, 1, dtmp);
        be->matmul(0, 1, N, H, kd, 1, dv, P + w->wv, 1, dtmp);
        if (net->use_gate) {
            be->logsigmoid_backward((size_t)N * hk, log_g, dlog_g, dlog_g);
            be->bias_backward(N, hk, dlog_g, G + w->bg);
            be->matmul(1, 0, H, hk, N, 1, xn, dlog_g, 1, G + w->wg);
            be->matmul(0, 1, N, H, hk, 1, dlog_g, P + w->wg, 1, dtmp);
        }
        KR(norm_bwd)(net, A + a->res_in, w->norm1_w, w->norm1_b, A + a->mean1, A + a->rstd1, dtmp, dres);
    }
    be->embedding_backward(N, H, net->inputs, dres, G + net->embedding);
}
