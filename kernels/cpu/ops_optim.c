/* CPU ops for the optimizer step (gradient norm, scaling, AdamW) and the CPU
 * backend table that the model calls every op through. Dual compiled. */
#include <tgmath.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/cpu/real.h"

/* Thread only loops big enough to pay for the fork and join: on a loaded
 * 2-core machine, small parallel regions cost far more than they save. */
#define PAR_WORTH(work) ((work) >= 65536)

/* Fixed blocks, each summed in order, then the blocks in order: the result is
 * the same for every thread count. */
double KR(kern_sum_squares)(size_t n, const REAL *x) {
    enum { BLOCKS = 64 };
    double part[BLOCKS];
    size_t per = (n + BLOCKS - 1) / BLOCKS;
#pragma omp parallel for schedule(static) if (PAR_WORTH(n))
    for (int b = 0; b < BLOCKS; b++) {
        size_t i0 = (size_t)b * per, i1 = i0 + per < n ? i0 + per : n;
        double s = 0;
        for (size_t i = i0; i < i1; i++) s += (double)x[i] * x[i];
        part[b] = s;
    }
    double s = 0;
    for (int b = 0; b < BLOCKS; b++) s += part[b];
    return s;
}

void KR(kern_scale)(size_t n, REAL *x, REAL a) {
#pragma omp parallel for schedule(static) if (PAR_WORTH(n))
    for (size_t i = 0; i < n; i++) x[i] *= a;
}

void KR(kern_adamw)(size_t n, REAL *param, const REAL *grad, REAL *m, REAL *v, double lr, double beta1,
                    double beta2, double eps, double weight_decay, int64_t step) {
    double bc1 = 1 - pow(beta1, (double)step), bc2 = 1 - pow(beta2, (double)step);
    REAL b1 = (REAL)beta1, b2 = (REAL)beta2;
#pragma omp parallel for schedule(static) if (PAR_WORTH(n))
    for (size_t i = 0; i < n; i++) {
        REAL g = grad[i];
        m[i] = b1 * m[i] + (1 - b1) * g;
        v[i] = b2 * v[i] + (1 - b2) * g * g;
        double mh = m[i] / bc1, vh = v[i] / bc2;
        param[i] -= (REAL)(lr * (mh / (sqrt(vh) + eps) + weight_decay * param[i]));
    }
}

/* Static, so each twin has its own copy. */
static void *cpu_alloc(size_t bytes) { return calloc(1, bytes ? bytes : 1); }
static void cpu_free(void *p) { free(p); }
static void cpu_copy(void *dst, const void *src, size_t bytes) {
    if (bytes) memcpy(dst, src, bytes);
}

static const KR(kern_backend) KR(cpu_backend) = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_copy,
    .download = cpu_copy,
    .matmul = KR(kern_matmul),
    .add_bias = KR(kern_add_bias),
    .bias_backward = KR(kern_bias_backward),
    .add = KR(kern_add),
    .zero = KR(kern_zero),
    .layernorm_forward = KR(kern_layernorm_forward),
    .layernorm_backward = KR(kern_layernorm_backward),
    .rmsnorm_forward = KR(kern_rmsnorm_forward),
    .rmsnorm_backward = KR(kern_rmsnorm_backward),
    .gelu_forward = KR(kern_gelu_forward),
    .gelu_backward = KR(kern_gelu_backward),
    .matmul_bias = KR(kern_matmul_bias),
    .matmul_bias_gelu = KR(kern_matmul_bias_gelu),
    .matmul_dgelu = KR(kern_matmul_dgelu),
    .matmul_add = KR(kern_matmul_add),
    .rope_forward = KR(kern_rope_forward),
    .rope_backward = KR(kern_rope_backward),
    .embedding_forward = KR(kern_embedding_forward),
    .embedding_backward = KR(kern_embedding_backward),
    .logsigmoid_forward = KR(kern_logsigmoid_forward),
    .logsigmoid_backward = KR(kern_logsigmoid_backward),
    .xent_forward = KR(kern_xent_forward),
    .xent_backward = KR(kern_xent_backward),
    .sum_squares = KR(kern_sum_squares),
    .scale = KR(kern_scale),
    .adamw = KR(kern_adamw),
    .mixer_saved_size = KR(kern_mixer_saved_size),
    .mixer_work_size = KR(kern_mixer_work_size),
    .mixer_forward = KR(kern_mixer_forward),
    .mixer_backward = KR(kern_mixer_backward),
    .mixer_count_flops = kern_cpu_mixer_count_flops, /* one count for both twins: no REAL in it */
};

const KR(kern_backend) *KR(kern_cpu_backend)(void) { return &KR(cpu_backend); }
