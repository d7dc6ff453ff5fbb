/* What each op writes (writes.h): the outputs its contract names, at the sizes its arguments give. */
#include "kernels/cuda/writes.h"

static kcu_span floats(const void *p, size_t n) {
    kcu_span s = {p, n * sizeof(float)};
    return s;
}

int kcu_writes_upload(void *dst, const void *src, size_t bytes, kcu_span *w) {
    (void)src;
    w[0].p = dst, w[0].bytes = bytes;
    return 1;
}
int kcu_writes_download(void *dst, const void *src, size_t bytes, kcu_span *w) {
    (void)dst, (void)src, (void)bytes, (void)w; /* host memory only */
    return 0;
}
int kcu_writes_matmul(int ta, int tb, int m, int n, int k, float alpha, const float *a, const float *b, float beta,
                      float *c, kcu_span *w) {
    (void)ta, (void)tb, (void)k, (void)alpha, (void)a, (void)b, (void)beta;
    w[0] = floats(c, (size_t)m * n);
    return 1;
}
int kcu_writes_matmul_bias(int ta, int tb, int m, int n, int k, const float *a, const float *b, const float *bias,
                           float *c, kcu_span *w) {
    (void)bias;
    return kcu_writes_matmul(ta, tb, m, n, k, 1, a, b, 0, c, w);
}
int kcu_writes_matmul_bias_gelu(int ta, int tb, int m, int n, int k, const float *a, const float *b,
                                const float *bias, float *pre, float *c, kcu_span *w) {
    (void)ta, (void)tb, (void)k, (void)a, (void)b, (void)bias;
    w[0] = floats(pre, (size_t)m * n), w[1] = floats(c, (size_t)m * n);
    return 2;
}
int kcu_writes_matmul_dgelu(int ta, int tb, int m, int n, int k, const float *a, const float *b, const float *pre,
                            float *c, float *dbias, kcu_span *w) {
    (void)pre;
    int k_ = kcu_writes_matmul(ta, tb, m, n, k, 1, a, b, 0, c, w);
    w[k_] = floats(dbias, (size_t)n);
    return k_ + 1;
}
int kcu_writes_matmul_add(int ta, int tb, int m, int n, int k, const float *a, const float *b, const float *bias,
                          const float *r, float *c, kcu_span *w) {
    (void)bias, (void)r;
    return kcu_writes_matmul(ta, tb, m, n, k, 1, a, b, 0, c, w);
}
int kcu_writes_add_bias(int n, int dim, float *x, const float *bias, kcu_span *w) {
    (void)bias;
    w[0] = floats(x, (size_t)n * dim);
    return 1;
}
int kcu_writes_bias_backward(int n, int dim, const float *dy, float *db, kcu_span *w) {
    (void)n, (void)dy;
    w[0] = floats(db, dim);
    return 1;
}
int kcu_writes_add(size_t n, const float *x, float *y, kcu_span *w) {
    (void)x;
    w[0] = floats(y, n);
    return 1;
}
int kcu_writes_zero(size_t n, float *x, kcu_span *w) {
    w[0] = floats(x, n);
    return 1;
}
int kcu_writes_layernorm_forward(int n, int dim, const float *x, const float *wt, const float *b, float eps, float *y,
                                 float *mean, float *rstd, kcu_span *w) {
    (void)x, (void)wt, (void)b, (void)eps;
    w[0] = floats(y, (size_t)n * dim), w[1] = floats(mean, n), w[2] = floats(rstd, n);
    return 3;
}
int kcu_writes_layernorm_backward(int n, int dim, const float *x, const float *wt, const float *mean,
                                  const float *rstd, const float *dy, float *dx, float *dw, float *db, kcu_span *w) {
    (void)x, (void)wt, (void)mean, (void)rstd, (void)dy;
    w[0] = floats(dx, (size_t)n * dim), w[1] = floats(dw, dim), w[2] = floats(db, dim);
    return 3;
}
int kcu_writes_rmsnorm_forward(int n, int dim, const float *x, const float *wt, float eps, float *y, float *rstd,
                               kcu_span *w) {
    (void)x, (void)wt, (void)eps;
    w[0] = floats(y, (size_t)n * dim), w[1] = floats(rstd, n);
    return 2;
}
int kcu_writes_rmsnorm_backward(int n, int dim, const float *x, const float *wt, const float *rstd, const float *dy,
                                float *dx, float *dw, kcu_span *w) {
    (void)x, (void)wt, (void)rstd, (void)dy;
    w[0] = floats(dx, (size_t)n * dim), w[1] = floats(dw, dim);
    return 2;
}
int kcu_writes_gelu_forward(size_t n, const float *x, float *y, kcu_span *w) {
    (void)x;
    w[0] = floats(y, n);
    return 1;
}
int kcu_writes_gelu_backward(size_t n, const float *x, const float *dy, float *dx, kcu_span *w) {
    (void)x, (void)dy;
    w[0] = floats(dx, n);
    return 1;
}
int kcu_writes_rope_forward(int rows, int seq, int n_head, int head_dim, const float *cos_t, const float *sin_t,
                            float *x, kcu_span *w) {
    (void)seq, (void)cos_t, (void)sin_t;
    w[0] = floats(x, (size_t)rows * n_head * head_dim);
    return 1;
}
int kcu_writes_rope_backward(int rows, int seq, int n_head, int head_dim, const float *cos_t, const float *sin_t,
                             float *dx, kcu_span *w) {
    return kcu_writes_rope_forward(rows, seq, n_head, head_dim, cos_t, sin_t, dx, w); /* in place, the same rows */
}
int kcu_writes_embedding_forward(int n, int dim, const int32_t *tokens, const float *table, float *out, kcu_span *w) {
    (void)tokens, (void)table;
    w[0] = floats(out, (size_t)n * dim);
    return 1;
}
int kcu_writes_logsigmoid_forward(size_t n, float *x, kcu_span *w) {
    w[0] = floats(x, n);
    return 1;
}
int kcu_writes_logsigmoid_backward(size_t n, const float *log_g, const float *dlog_g, float *dz, kcu_span *w) {
    (void)log_g, (void)dlog_g;
    w[0] = floats(dz, n);
    return 1;
}
int kcu_writes_xent_forward(int n, int vocab, const float *logits, const int32_t *targets, float *loss, kcu_span *w) {
    (void)vocab, (void)logits, (void)targets;
    w[0] = floats(loss, n);
    return 1;
}
int kcu_writes_xent_backward(int n, int vocab, const float *logits, const int32_t *targets, float scale,
                             float *dlogits, kcu_span *w) {
    (void)logits, (void)targets, (void)scale;
    w[0] = floats(dlogits, (size_t)n * vocab);
    return 1;
}
int kcu_writes_sum_squares(size_t n, const float *x, kcu_span *w) {
    (void)n, (void)x, (void)w; /* a value returned to the host */
    return 0;
}
int kcu_writes_scale(size_t n, float *x, float a, kcu_span *w) {
    (void)a;
    w[0] = floats(x, n);
    return 1;
}
int kcu_writes_adamw(size_t n, float *param, const float *grad, float *m, float *v, kcu_span *w) {
    (void)grad;
    w[0] = floats(param, n), w[1] = floats(m, n), w[2] = floats(v, n);
    return 3;
}
/* y (and dq) [batch, seq, n_head, head_dim]; dk, dv [.., n_kv_head, ..]; dlog_g [batch, seq, n_kv_head]. */
int kcu_writes_mixer_forward(const kern_mixer_shape *s, const float *q, const float *k, const float *v,
                             const float *log_g, float *y, float *saved, float *work, size_t saved_n, size_t work_n,
                             kcu_span *w) {
    (void)q, (void)k, (void)v, (void)log_g;
    size_t rows = (size_t)s->batch * s->seq;
    w[0] = floats(y, rows * s->n_head * s->head_dim), w[1] = floats(saved, saved_n), w[2] = floats(work, work_n);
    return 3;
}
int kcu_writes_mixer_backward(const kern_mixer_shape *s, const float *q, const float *k, const float *v,
                              const float *log_g, const float *y, const float *saved, const float *dy, float *dq,
                              float *dk, float *dv, float *dlog_g, float *work, size_t work_n, kcu_span *w) {
    (void)q, (void)k, (void)v, (void)log_g, (void)y, (void)saved, (void)dy;
    size_t rows = (size_t)s->batch * s->seq;
    w[0] = floats(dq, rows * s->n_head * s->head_dim), w[1] = floats(dk, rows * s->n_kv_head * s->head_dim);
    w[2] = floats(dv, rows * s->n_kv_head * s->head_dim), w[3] = floats(dlog_g, rows * s->n_kv_head);
    w[4] = floats(work, work_n);
    return 5;
}
