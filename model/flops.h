/* model/flops: parameter counts and the FLOP accounting of DESIGN.md section 4. */
#ifndef SCALELAB_MODEL_FLOPS_H
#define SCALELAB_MODEL_FLOPS_H

#include "kernels/kern_shape.h" /* kern_flop_count only: not the backend table */
#include "model/config.h"
#include "util/accounting.h"

/* The accounting record (util/accounting.h: params, params_non_embedding, W, S,
 * wsfr, state_dim, state_size, tokens, training_flops), reachable whole as .acc and
 * field by field, plus two numbers that only `scalelab flops` reports. */
typedef struct model_flops {
    UTIL_ACCOUNTING_MEMBER(acc);
    double lm_head_flops_per_token;  /* part of W, also reported alone */
    double impl_state_flops_per_token; /* what the kernels really do, when it differs */
} model_flops;

/* c must be resolved (model_config_resolve). */
void model_flops_compute(const model_config *c, model_flops *f);
/* Added: what the CPU kernels count for one layer's mixer on one sequence of
 * context tokens (kern_mixer_count_flops); .model / context is DESIGN's S per
 * layer, .implementation / context what the kernels really issue. */
kern_flop_count model_flops_mixer_count(const model_config *c);
/* The shape of one layer's mixer call over `batch` sequences of context tokens, as the
 * FLOP count sees it (a backend's mixer_count_flops takes it: tests/bench/bench_cuda.c). */
kern_mixer_shape model_flops_mixer_shape(const model_config *c, int batch);
/* The state FLOPs per token that one training step (forward + backward) of c issues on the CUDA
 * backend (bf16 or FP32), from its kernels' own count (kern_cuda_mixer_count_flops: padding,
 * masked tiles, the backward's recomputation), beside DESIGN's 3 S. Host arithmetic, no GPU
 * needed; not part of model_flops_compute: it depends on the backend and its opt-out switches
 * (read from the environment), not on the config alone. */
double model_flops_cuda_training_state(const model_config *c, int bf16);
/* C(n, k) as a double (kern_binomial). */
double model_binomial(int n, int k);

#endif
