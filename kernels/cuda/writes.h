/* kernels/cuda/writes: what each op of the backend table writes (kern_ops.inc, kern_mixer.inc),
 * as ranges of device memory, for the bf16 backend's ops to declare after they run (backend.cu:
 * the bf16 matmul then keeps its copies of everything else, matmul.cu) and for
 * tests/unit/test_writes.c to check against what the CPU backend's ops write, byte by byte, in a
 * whole training step. One function per op, with the op's own arguments then w (room for
 * KCU_WRITES_MAX ranges); it returns how many it filled (NULL pointers give empty ranges). The
 * ops not here write where their arguments do not say how far: alloc, free and
 * embedding_backward (a table row per token). Host arithmetic only, in every build. */
#ifndef SCALELAB_KERNELS_CUDA_WRITES_H
#define SCALELAB_KERNELS_CUDA_WRITES_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/cuda/copies.h"
#include "kernels/kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { KCU_WRITES_MAX = 5 };

int kcu_writes_upload(void *dst, const void *src, size_t bytes, kcu_span *w);
int kcu_writes_download(void *dst, const void *src, size_t bytes, kcu_span *w);
int kcu_writes_matmul(int ta, int tb, int m, int n, int k, float alpha, const float *a, const float *b, float beta,
                      float *c, kcu_span *w);
int kcu_writes_matmul_bias(int ta, int tb, int m, int n, int k, const float *a, const float *b, const float *bias,
                           float *c, kcu_span *w);
int kcu_writes_matmul_bias_gelu(int ta, int tb, int m, int n, int k, const float *a, const float *b,
                                const float *bias, float *pre, float *c, kcu_span *w);
int kcu_writes_matmul_dgelu(int ta, int tb, int m, int n, int k, const float *a, const float *b, const float *pre,
                            float *c, float *dbias, kcu_span *w);
int kcu_writes_matmul_add(int ta, int tb, int m, int n, int k, const float *a, const float *b, const float *bias,
                          const float *r, float *c, kcu_span *w);
int kcu_writes_add_bias(int n, int dim, float *x, const float *bias, kcu_span *w);
int kcu_writes_bias_backward(int n, int dim, const float *dy, float *db, kcu_span *w);
int kcu_writes_add(size_t n, const float *x, float *y, kcu_span *w);
int kcu_writes_zero(size_t n, float *x, kcu_span *w);
int kcu_writes_layernorm_forward(int n, int dim, const float *x, const float *wt, const float *b, float eps, float *y,
                                 float *mean, float *rstd, kcu_span *w);
int kcu_writes_layernorm_backward(int n, int dim, const float *x, const float *wt, const float *mean,
                                  const float *rstd, const float *dy, float *dx, float *dw, float *db, kcu_span *w);
int kcu_writes_rmsnorm_forward(int n, int dim, const float *x, const float *wt, float eps, float *y, float *rstd,
                               kcu_span *w);
int kcu_writes_rmsnorm_backward(int n, int dim, const float *x, const float *wt, const float *rstd, const float *dy,
                                float *dx, float *dw, kcu_span *w);
int kcu_writes_gelu_forward(size_t n, const float *x, float *y, kcu_span *w);
int kcu_writes_gelu_backward(size_t n, const float *x, const float *dy, float *dx, kcu_span *w);
int kcu_writes_rope_forward(int rows, int seq, int n_head, int head_dim, const float *cos_t, const float *sin_t,
                            float *x, kcu_span *w);
int kcu_writes_rope_backward(int rows, int seq, int n_head, int head_dim, const float *cos_t, const float *sin_t,
                             float *dx, kcu_span *w);
int kcu_writes_embedding_forward(int n, int dim, const int32_t *tokens, const float *table, float *out, kcu_span *w);
int kcu_writes_logsigmoid_forward(size_t n, float *x, kcu_span *w);
int kcu_writes_logsigmoid_backward(size_t n, const float *log_g, const float *dlog_g, float *dz, kcu_span *w);
int kcu_writes_xent_forward(int n, int vocab, const float *logits, const int32_t *targets, float *loss, kcu_span *w);
int kcu_writes_xent_backward(int n, int vocab, const float *logits, const int32_t *targets, float scale,
                             float *dlogits, kcu_span *w);
int kcu_writes_sum_squares(size_t n, const float *x, kcu_span *w);
int kcu_writes_scale(size_t n, float *x, float a, kcu_span *w);
int kcu_writes_adamw(size_t n, float *param, const float *grad, float *m, float *v, kcu_span *w);
/* The mixers: saved_n and work_n are the sizes (floats) of saved and work for this shape in the
 * table that runs the call (its mixer_saved_size and mixer_work_size). */
int kcu_writes_mixer_forward(const kern_mixer_shape *s, const float *q, const float *k, const float *v,
                             const float *log_g, float *y, float *saved, float *work, size_t saved_n, size_t work_n,
                             kcu_span *w);
int kcu_writes_mixer_backward(const kern_mixer_shape *s, const float *q, const float *k, const float *v,
                              const float *log_g, const float *y, const float *saved, const float *dy, float *dq,
                              float *dk, float *dv, float *dlog_g, float *work, size_t work_n, kcu_span *w);

#ifdef __cplusplus
}
#endif

#endif
