/* model/net: the network of DESIGN.md section 3 (embedding, pre-norm blocks of
 * token mixer + GELU MLP, final norm, LM head, cross-entropy), forward and
 * backward, calling every op through a kern_backend. Parameters live in one
 * allocation (their gradients in a second of the same layout), activations in
 * one allocation sized up front, so a training step allocates nothing.
 *
 * Declared twice, like kernels/kernels.h: model_net_* over float and
 * model_net_*_f64 over double (model/net*.c are dual compiled), so the whole
 * model can be checked against finite differences in float64. */
#ifndef SCALELAB_MODEL_NET_H
#define SCALELAB_MODEL_NET_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "model/config.h"

/* One parameter tensor: where it lives in the parameter vector and whether
 * AdamW decays it. Rule: weight decay applies to the matrices used in matrix
 * products (Wq, Wk, Wv, Wo, W_g, W1, W2 and an untied LM head); never to norm
 * weights, biases or the token embedding (nor a head tied to it). */
typedef struct model_net_tensor {
    char name[32]; /* "block0.wq", "embedding", ... */
    size_t offset, size;
    int rows, cols;
    int decay;
} model_net_tensor;

/* Offsets of one block's tensors in the parameter vector (SIZE_MAX: absent). */
typedef struct model_net_block {
    size_t norm1_w, norm1_b, wq, wk, wv, wo, wg, bg, norm2_w, norm2_b, w1, b1, w2, b2;
} model_net_block;

/* Offsets of one block's activations (saved for backward) in the activation vector. */
typedef struct model_net_block_acts {
    size_t res_in, xn1, mean1, rstd1, q, k, v, log_g, y, saved, res_mid, xn2, mean2, rstd2, hpre, hact;
} model_net_block_acts;

/* The initial parameter values for a tensor table (see model_net_init_params),
 * in double so both twins start from the same numbers. In model/init.c. */
int model_net_init_values(const model_net_tensor *tensors, size_t n_tensors, size_t n_params, int n_layer,
                          uint64_t seed, double *out, char *err, size_t errlen);

#define REAL float
#define KR(name) name
#include "model/net.inc"
#undef REAL
#undef KR
#define REAL double
#define KR(name) name##_f64
#include "model/net.inc"
#undef REAL
#undef KR

#endif
