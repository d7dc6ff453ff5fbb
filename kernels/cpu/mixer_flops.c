/* kern_mixer_count_flops: walks the same loop nests as the kernels (their
 * bounds come from the descriptions in mixer_impl.h) and counts 2 FLOPs per
 * multiply-add, for one forward call over batch * seq tokens.
 *   model:          the DESIGN.md section 4 quantity: only the causal (and
 *                   in-window) score/value pairs, each 2d + 2d; for power the
 *                   intra-chunk pairs plus the state query (per query head) and
 *                   update (per kv head), each 2 D (d+1).
 *   implementation: what the kernels issue: whole score blocks through gemm
 *                   (masked entries included), the normaliser column of the
 *                   intra-chunk product, the phi expansions (p-1 multiplies per
 *                   feature, plus the coefficient for p > 2) and the scaling of
 *                   q and k by gates. Elementwise exp/normalisation is not counted. */
#include "kernels/kernels.h"
#include "kernels/cpu/real.h"
#include "kernels/cpu/mixer_impl.h"

#ifndef SCALELAB_F64
static void count_attention(const kern_mixer_shape *s, double *model, double *impl) {
    int T = s->seq, d = s->head_dim, qblock = kern_mx_attn_qblock(s);
    for (int q0 = 0; q0 < T; q0 += qblock) {
        int q1 = q0 + qblock < T ? q0 + qblock : T, k0, k1;
        kern_mx_attn_key_range(s, q0, q1, &k0, &k1);
        *impl += 2.0 * 2.0 * d * (double)(q1 - q0) * (k1 - k0); /* QK^T and PV blocks */
        for (int i = q0; i < q1; i++) *model += 4.0 * d * (i - kern_mx_attn_first_key(s, i) + 1);
    }
}

static void count_power(const kern_mixer_shape *s, double *model, double *impl, int n_query_heads) {
    double c = s->chunk, d = s->head_dim, D = kern_mx_phi_dim(s->head_dim, s->p), p = s->p;
    double phi = D * (p - 1 + (s->p > 2 ? 1 : 0)); /* multiplies per expanded row */
    for (int m = 0; m < kern_mx_power_chunks(s); m++) {
        /* per kv head: U = e k, phi(U), update phi(U)^T [V|1] */
        *impl += c * d + c * phi + 2.0 * D * (d + 1) * c;
        *model += 2.0 * D * (d + 1) * c;
        for (int h = 0; h < n_query_heads; h++) {
            /* Q~, phi(Q~); intra QK^T, A [V|1]; query phi(Q~) S' */
            *impl += c * d + c * phi + 2.0 * c * c * d + 2.0 * c * c * (d + 1) + 2.0 * c * D * (d + 1);
            for (int i = 0; i < s->chunk; i++) *model += 4.0 * d * kern_mx_power_intra_keys(i);
            *model += 2.0 * D * (d + 1) * c;
        }
    }
}

void kern_mixer_count_flops(const kern_mixer_shape *s, kern_flop_count *out) {
    double model = 0, impl = 0;
    int group = s->n_head / s->n_kv_head;
    /* one (batch, kv head) pair, as the kernels schedule it, then times the pairs */
    if (s->kind == KERN_MIXER_POWER) {
        count_power(s, &model, &impl, group);
    } else {
        for (int h = 0; h < group; h++) count_attention(s, &model, &impl);
    }
    double pairs = (double)s->batch * s->n_kv_head;
    out->model = model * pairs;
    out->implementation = impl * pairs;
}

/* The backward is not walked: it runs about twice the forward's products (each forward gemm
 * has two gradient gemms; power's backward recomputes the states, attention's the score
 * blocks), so training counts 3 x the forward's implementation, like DESIGN's 3 x model.
 * An approximation, and documented as one (kernels.h); the GPU count (kernels/cuda/flops.c)
 * is exact for what the GPU issues. */
void kern_cpu_mixer_count_flops(const kern_mixer_shape *s, kern_flop_count_train *out) {
    kern_mixer_count_flops(s, &out->forward);
    out->training.model = 3 * out->forward.model;
    out->training.implementation = 3 * out->forward.implementation;
}
#endif
