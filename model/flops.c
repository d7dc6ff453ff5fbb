/* model/flops: parameter counts and the FLOP accounting of DESIGN.md section 4.
 *
 * Parameter inventory (the network in model/net*.c allocates exactly these;
 * H = d_model, h = n_head, h_k = n_kv_head, d = head_dim, F = mlp_hidden, V = vocab):
 *   token embedding                       V x H
 *   per block (n_layer of them):
 *     norm1   weight H + bias H (layernorm) | weight H (rmsnorm)
 *     Wq      H x h*d        (no bias)
 *     Wk      H x h_k*d      (no bias)
 *     Wv      H x h_k*d      (no bias)
 *     Wo      h*d x H        (no bias)
 *     gate    W_g H x h_k + b_g h_k       (power mixer with gating only)
 *     norm2   as norm1
 *     W1      H x F + b1 F
 *     W2      F x H + b2 H
 *   final norm                            as norm1
 *   LM head                               V x H, no bias (absent when tie_embeddings)
 * Non-embedding parameters leave out the embedding and the LM head (both V x H
 * matrices), so they do not depend on tie_embeddings.
 *
 * Matmul weights (counted in W): Wq, Wk, Wv, Wo, W_g, W1, W2 and the LM head,
 * which is a matmul whether or not it is tied; norms, biases and the embedding
 * lookup count 0. */
#include "model/flops.h"

#include <math.h>

#include "kernels/kernels.h"

double model_binomial(int n, int k) { return (double)kern_binomial(n, k); }

void model_flops_compute(const model_config *c, model_flops *f) {
    const double L = c->n_layer, H = c->d_model, h = c->n_head, hk = c->n_kv_head, d = c->head_dim,
                 F = c->mlp_hidden, V = c->vocab_size, T = c->context;
    const int power = c->mixer == MODEL_MIXER_POWER;
    const int gated = power && c->gating;

    double norm = c->norm == MODEL_NORM_LAYERNORM ? 2 * H : H;
    double matmul_layer = H * h * d + 2 * H * hk * d + h * d * H + (gated ? H * hk : 0) + 2 * H * F;
    double block_params = 2 * norm + matmul_layer + (gated ? hk : 0) + F + H;
    f->params_non_embedding = L * block_params + norm;
    f->params = f->params_non_embedding + V * H + (c->tie_embeddings ? 0 : V * H);

    f->lm_head_flops_per_token = 2 * H * V;
    f->weight_flops_per_token = 2 * (L * matmul_layer + H * V);

    double s_layer, D = d, state_size;
    switch (c->mixer) {
    case MODEL_MIXER_WINDOW: {
        double w = c->window;
        if (T >= w)
            s_layer = h * (4 * d / T) * (w * (w + 1) / 2 + (T - w) * w);
        else
            s_layer = h * 2 * d * (T + 1);
        /* A window wider than the context never holds more than T positions. */
        state_size = L * hk * 2 * d * (w < T ? w : T);
        break;
    }
    case MODEL_MIXER_POWER: {
        double cs = c->chunk;
        D = (double)kern_power_dim(c->head_dim, c->p);
        s_layer = h * 2 * d * (cs + 1) + (h + hk) * 2 * D * (d + 1);
        state_size = L * hk * D * (d + 1);
        break;
    }
    default:
        s_layer = h * 2 * d * (T + 1);
        state_size = L * hk * 2 * d * T;
        break;
    }
    f->state_flops_per_token = L * s_layer;
    f->state_dim = D;
    f->state_size = state_size;
    f->wsfr = f->weight_flops_per_token / f->state_flops_per_token;
    f->tokens = (double)c->tokens;
    f->training_flops = 3 * (f->weight_flops_per_token + f->state_flops_per_token) * f->tokens;
    f->impl_state_flops_per_token = L * model_flops_mixer_count(c).implementation / T;
}

kern_mixer_shape model_flops_mixer_shape(const model_config *c, int batch) {
    static const kern_mixer_kind kinds[] = {KERN_MIXER_SOFTMAX, KERN_MIXER_WINDOW, KERN_MIXER_POWER};
    kern_mixer_shape s = {
        .batch = batch, .seq = c->context, .n_head = c->n_head, .n_kv_head = c->n_kv_head, .head_dim = c->head_dim,
        .kind = kinds[c->mixer], .p = c->p, .chunk = c->chunk, .window = c->window,
        .gating = c->mixer == MODEL_MIXER_POWER && c->gating,
        .normalize_rms = c->normalize == MODEL_NORMALIZE_RMS, .scale = 1.0 / sqrt(c->head_dim), .eps = 1e-6,
    };
    return s;
}

double model_flops_cuda_training_state(const model_config *c, int bf16) {
    kern_mixer_shape s = model_flops_mixer_shape(c, 1);
    kern_flop_count_train fc;
    kern_cuda_mixer_count_flops(&s, bf16, &fc);
    return c->n_layer * fc.training.implementation / c->context;
}

kern_flop_count model_flops_mixer_count(const model_config *c) {
    kern_mixer_shape s = model_flops_mixer_shape(c, 1);
    kern_flop_count fc;
    kern_mixer_count_flops(&s, &fc);
    return fc;
}
