/* GPU training throughput: tokens/s and achieved TFLOP/s of full training
 * steps (forward, backward, AdamW; all on the GPU) for d_model 256 and 512,
 * 4 layers, context 2048, each mixer, beside the cuBLAS SGEMM ceiling (FP32,
 * and TF32 on the tensor cores) measured in the same run on random data.
 * FLOPs per token = 3 (W + S) from model_flops_compute; "impl" uses the
 * kernels' own state FLOPs. Without CUDA or a GPU it says so and exits 0.
 *   build/bench/bench_cuda [steps] [batch] [mixer d_model]
 * (defaults 5 timed steps, batch 8, every mixer at 256 and 512; naming one mixer
 * and d_model runs only that, without the ceilings: for profilers). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "util/util.h"

#ifdef SCALELAB_CUDA
#include <cublas_v2.h>
#include <cuda_runtime.h>

#define CHECK(call)                                                                                \
    do {                                                                                           \
        int e_ = (int)(call);                                                                      \
        if (e_) {                                                                                  \
            fprintf(stderr, "bench_cuda: %s:%d: %s failed (%d)\n", __FILE__, __LINE__, #call, e_);  \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median TFLOP/s of n^3 SGEMMs on random data; tf32 selects the tensor cores. */
static double gemm_ceiling(int n, int tf32) {
    size_t nn = (size_t)n * n;
    float *h = malloc(nn * sizeof *h), *a, *b, *c;
    uint64_t s = 88172645463325252ull;
    for (size_t i = 0; i < nn; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        h[i] = (float)((double)(s >> 11) / 9007199254740992.0 - 0.5);
    }
    CHECK(cudaMalloc((void **)&a, nn * sizeof(float)));
    CHECK(cudaMalloc((void **)&b, nn * sizeof(float)));
    CHECK(cudaMalloc((void **)&c, nn * sizeof(float)));
    CHECK(cudaMemcpy(a, h, nn * sizeof(float), cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(b, h, nn * sizeof(float), cudaMemcpyHostToDevice));
    free(h);
    cublasHandle_t blas;
    CHECK(cublasCreate(&blas));
    CHECK(cublasSetMathMode(blas, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    cudaEvent_t e0, e1;
    CHECK(cudaEventCreate(&e0));
    CHECK(cudaEventCreate(&e1));
    float one = 1, zero = 0;
    enum { REPS = 7 };
    double t[REPS];
    for (int r = -2; r < REPS; r++) { /* two warm-ups */
        CHECK(cudaEventRecord(e0, 0));
        CHECK(cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, a, n, b, n, &zero, c, n));
        CHECK(cudaEventRecord(e1, 0));
        CHECK(cudaEventSynchronize(e1));
        float ms;
        CHECK(cudaEventElapsedTime(&ms, e0, e1));
        if (r >= 0) t[r] = ms / 1e3;
    }
    qsort(t, REPS, sizeof *t, cmp_double);
    cublasDestroy(blas);
    cudaEventDestroy(e0), cudaEventDestroy(e1);
    cudaFree(a), cudaFree(b), cudaFree(c);
    return 2.0 * n * n * n / t[REPS / 2] / 1e12;
}

typedef struct result {
    const char *mixer;
    int d_model, context, batch;
    double ms, tok_s, tflops, tflops_impl;
} result;

static int bench_one(const kern_backend *be, int d_model, const char *mixer, int batch, int steps, result *out) {
    model_config c;
    model_config_default(&c);
    char err[512], dm[16], nh[16], bs[16];
    snprintf(dm, sizeof dm, "%d", d_model);
    snprintf(nh, sizeof nh, "%d", d_model / 64);
    snprintf(bs, sizeof bs, "%d", batch);
    const char *sets[][2] = {{"model.d_model", dm}, {"model.n_layer", "4"},  {"model.n_head", nh},
                             {"model.mixer", mixer}, {"model.window", "128"}, {"model.chunk", "64"},
                             {"model.p", "2"},       {"model.gating", "true"}, {"train.context", "2048"},
                             {"train.batch_size", bs}};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        if (strcmp(mixer, "power") && (!strcmp(sets[i][0], "model.p") || !strcmp(sets[i][0], "model.gating") ||
                                       !strcmp(sets[i][0], "model.chunk")))
            continue;
        if (strcmp(mixer, "window") && !strcmp(sets[i][0], "model.window")) continue;
        if (model_config_set(&c, sets[i][0], sets[i][1], err, sizeof err)) return fprintf(stderr, "%s\n", err), -1;
    }
    if (model_config_resolve(&c, err, sizeof err)) return fprintf(stderr, "%s\n", err), -1;
    model_flops f;
    model_flops_compute(&c, &f);
    model_net *net;
    if (model_net_alloc(&c, c.batch_size, be, &net, err, sizeof err) || model_net_init_params(net, 1, err, sizeof err))
        return fprintf(stderr, "%s\n", err), -1;
    size_t n = net->n_params;
    float *m = be->alloc(n * sizeof(float)), *v = be->alloc(n * sizeof(float)), probe;
    int T = c.context, B = c.batch_size;
    int32_t *tok = malloc(sizeof *tok * (size_t)B * (T + 1));
    for (int i = 0; i < B * (T + 1); i++) tok[i] = (i * 31 + 7) % 256;
    double *t = calloc((size_t)steps, sizeof *t);
    for (int s = -1; s < steps; s++) { /* step -1 warms up (cuBLAS heuristics, first touch) */
        double t0 = util_monotonic();
        model_net_forward(net, tok);
        model_net_backward(net);
        for (size_t k = 0; k < net->n_tensors; k++) {
            const model_net_tensor *ten = &net->tensors[k];
            be->adamw(ten->size, net->params + ten->offset, net->grads + ten->offset, m + ten->offset,
                      v + ten->offset, 1e-4, 0.9, 0.95, 1e-8, 0.1, s + 2);
        }
        be->download(&probe, net->params, sizeof probe); /* waits for the step */
        if (s >= 0) t[s] = util_monotonic() - t0;
    }
    qsort(t, (size_t)steps, sizeof *t, cmp_double);
    double best = t[steps / 2], tokens = (double)B * T;
    double impl_s = f.impl_state_flops_per_token > 0 ? f.impl_state_flops_per_token : f.state_flops_per_token;
    *out = (result){mixer, d_model, T, B, best * 1e3, tokens / best,
                    3 * (f.weight_flops_per_token + f.state_flops_per_token) * tokens / best / 1e12,
                    3 * (f.weight_flops_per_token + impl_s) * tokens / best / 1e12};
    fprintf(stderr, "  %s d_model %d: %.1f ms/step, %.0f tok/s (loss %.3f, finite: %s)\n", mixer, d_model, out->ms,
            out->tok_s, net->host_losses[0], isfinite(probe) ? "yes" : "NO");
    free(t), free(tok);
    be->free(m), be->free(v);
    model_net_free(net);
    return isfinite(probe) ? 0 : -1;
}

int main(int argc, char **argv) {
    int steps = argc > 1 ? atoi(argv[1]) : 5, batch = argc > 2 ? atoi(argv[2]) : 8;
    const char *only = argc > 4 ? argv[3] : NULL;
    int only_d = argc > 4 ? atoi(argv[4]) : 0;
    char why[256];
    if (!kern_cuda_available(why, sizeof why)) {
        printf("bench_cuda: skipped: %s\n", why);
        return 0;
    }
    const kern_backend *be = kern_cuda_backend();
    struct cudaDeviceProp prop;
    CHECK(cudaGetDeviceProperties(&prop, 0));
    double fp32 = only ? NAN : gemm_ceiling(8192, 0), tf32 = only ? NAN : gemm_ceiling(8192, 1);
    const char *mixers[] = {"softmax", "window", "power"};
    result res[6];
    int n = 0, rc = 0;
    for (int d = 256; d <= 512; d *= 2)
        for (int k = 0; k < 3; k++) {
            if (only && (strcmp(only, mixers[k]) || d != only_d)) continue;
            if (bench_one(be, d, mixers[k], batch, steps, &res[n])) rc = 1;
            else n++;
        }
    printf("%s; cuBLAS SGEMM 8192^3 on random data: FP32 %.1f TFLOP/s, TF32 %.1f TFLOP/s (median of 7);\n"
           "training steps (forward, backward, AdamW), median of %d; 4 layers, head_dim 64, context 2048,\n"
           "batch %d; window 128; power p=2 gated chunk 64; all matmuls FP32 (no TF32)\n",
           prop.name, fp32, tf32, steps, batch);
    printf("%-8s %7s %5s %5s %9s %10s %9s %7s %10s %7s\n", "mixer", "d_model", "T", "batch", "ms/step", "tok/s",
           "TFLOP/s", "%fp32", "impl TF/s", "%fp32");
    for (int i = 0; i < n; i++)
        printf("%-8s %7d %5d %5d %9.2f %10.0f %9.2f %6.1f%% %10.2f %6.1f%%\n", res[i].mixer, res[i].d_model,
               res[i].context, res[i].batch, res[i].ms, res[i].tok_s, res[i].tflops, 100 * res[i].tflops / fp32,
               res[i].tflops_impl, 100 * res[i].tflops_impl / fp32);
    return rc;
}
#else
int main(void) {
    printf("bench_cuda: skipped: built without CUDA (nvcc not found or CUDA=0)\n");
    return 0;
}
#endif
