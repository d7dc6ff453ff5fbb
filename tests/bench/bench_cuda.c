/* GPU training throughput: tokens/s and achieved TFLOP/s of full training
 * steps (forward, backward, AdamW; all on the GPU) for d_model 256 and 512,
 * 4 layers, context 2048, each mixer, at precision fp32 and bf16, beside the
 * ceilings measured in the same run on random data: cuBLAS 8192^3 products in FP32,
 * TF32, bf16 operands on FP32 storage (32F_FAST_16BF, the bf16 backend's default)
 * and bf16 storage (the bf16 matmul rate), and device-to-device copy bandwidth, and
 * the bf16 backend's matmul in both its modes at the 12-layer model's shapes.
 * Then attention alone (softmax, causal; b1 h8 d64; forward + backward, the mixer
 * calls of the backend) at T = 4k, 16k, 64k on the bf16 flash kernels, and on the
 * FP32 T x T path where it fits (kernels/cuda/flash.cu, attn.cu). FLOPs per token = 3 (W + S)
 * from model_flops_compute; "impl" counts the mixers' FLOPs as the backend issues them (its
 * mixer_count_flops: padding, masked tiles, the backward's recomputation), the weights' as W;
 * attention FLOPs are FlashAttention's convention (causal forward 2 b h d T^2, backward 2.5 x
 * forward), beside the backend's implementation count and its ratio to DESIGN's 3 x forward
 * (impl/model); the power table likewise. %ceil prints "-" where this invocation did not
 * measure the ceiling (a table run alone). Then the power retention layer alone (b1 h8 d64 p2
 * gated chunk 1024, fwd + bwd) at 4k/16k/64k: FP32, bf16 (the defaults: tiled intra-chunk,
 * fused state products and dphi), bf16 with the intra-chunk part through cuBLAS
 * (SCALELAB_POWER_INTRA=0); mixer "powerlayer" (any d_model) runs only that.
 * Without CUDA or a GPU it says so and exits 0.
 *   build/bench/bench_cuda [steps] [batch] [mixer d_model [bf16]]
 *   build/bench/bench_cuda [steps] [batch] model12
 *   build/bench/bench_cuda [steps] [batch] attn 0|T        (the attention table alone; T: its bf16 causal rows)
 *   build/bench/bench_cuda [steps] [batch] powerlayer 0    (the power retention layer table alone)
 *   build/bench/bench_cuda [steps] [batch] mm
 * (defaults 5 timed steps, batch 8, every mixer at 256 and 512; naming one mixer
 * and d_model runs only that, at both precisions (a fifth argument bf16: that precision alone),
 * without the ceilings and attention: for profilers; model12: the 12-layer d_model 768 context 1024 model,
 * softmax and power, bf16 only, for the PyTorch peer's --model12; mm: only the
 * table of the bf16 matmul's two modes at that model's shapes, which the full run
 * prints after the ceilings). The bf16 backend's matmul mode is SCALELAB_MM_BF16's
 * (kernels.h: kern_cuda_bf16_matmul_mode) everywhere but in that table. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "util/util.h"

#ifdef SCALELAB_CUDA
#include <cublas_v2.h>
#include <cuda_profiler_api.h>
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

enum { G_FP32, G_TF32, G_FAST_BF16, G_BF16 };
/* Median TFLOP/s of n^3 products on random data: FP32, TF32 (tensor cores), FP32
 * storage with bf16 operands, or bf16 storage (FP32 accumulation). */
static double gemm_ceiling(int n, int mode) {
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
    CHECK(cublasSetMathMode(blas, mode == G_TF32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    if (mode == G_BF16) { /* the same values as bf16 (the top halves of the floats) */
        uint16_t *hb = malloc(nn * sizeof *hb);
        CHECK(cudaMemcpy(h = malloc(nn * sizeof *h), a, nn * sizeof(float), cudaMemcpyDeviceToHost));
        for (size_t i = 0; i < nn; i++) {
            uint32_t u;
            memcpy(&u, &h[i], 4);
            hb[i] = (uint16_t)(u >> 16);
        }
        CHECK(cudaMemcpy(a, hb, nn * 2, cudaMemcpyHostToDevice));
        CHECK(cudaMemcpy(b, hb, nn * 2, cudaMemcpyHostToDevice));
        free(hb), free(h);
    }
    cudaEvent_t e0, e1;
    CHECK(cudaEventCreate(&e0));
    CHECK(cudaEventCreate(&e1));
    float one = 1, zero = 0;
    enum { REPS = 7 };
    double t[REPS];
    for (int r = -2; r < REPS; r++) { /* two warm-ups */
        CHECK(cudaEventRecord(e0, 0));
        if (mode == G_BF16)
            CHECK(cublasGemmEx(blas, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, a, CUDA_R_16BF, n, b, CUDA_R_16BF, n, &zero,
                               c, CUDA_R_16BF, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        else if (mode == G_FAST_BF16)
            CHECK(cublasGemmEx(blas, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, a, CUDA_R_32F, n, b, CUDA_R_32F, n, &zero,
                               c, CUDA_R_32F, n, CUBLAS_COMPUTE_32F_FAST_16BF, CUBLAS_GEMM_DEFAULT));
        else
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

/* The bf16 backend's matmul at the 12-layer model's shapes (d_model 768, MLP 3072, 8192
 * tokens = batch 8 x context 1024): each forward product X W, its dX = dY W^T and its
 * dW = X^T dY (beta 1, as the backward accumulates), in both modes of the backend
 * (kern_cuda_bf16_matmul_mode: 0 FP32 storage, 32F_FAST_16BF; 1 rounding passes into
 * bf16 copies + cuBLASLt, the passes included), beside cublasGemmEx on operands already
 * in bf16 (the product alone: what the rounding costs, and what Lt gains or loses
 * against GemmEx). Median of 7 repetitions of 10 calls after 2 warm-ups, random data.
 * The last lines sum one layer's 18 products (q, k, v, proj, fc, fc2, each forward, dX
 * and dW; the model runs q, k, v as three products, the fused qkv rows are for
 * comparison) and scale them to 12 layers. */
typedef struct mm_shape {
    const char *what;
    int ta, tb, m, n, k, per_layer;
    float beta;
} mm_shape;

static double mm_ms(const kern_backend *be, cublasHandle_t blas, const mm_shape *sh, float *a, float *b,
                    const void *a16, const void *b16, float *c, int mode) {
    cudaEvent_t e0, e1;
    CHECK(cudaEventCreate(&e0));
    CHECK(cudaEventCreate(&e1));
    enum { REPS = 7, CALLS = 10 };
    double t[REPS];
    float one = 1;
    int m = sh->m, n = sh->n, k = sh->k;
    if (mode >= 0) kern_cuda_bf16_matmul_mode(mode);
    for (int r = -2; r < REPS; r++) {
        CHECK(cudaEventRecord(e0, 0));
        for (int i = 0; i < CALLS; i++) {
            if (mode >= 0) {
                /* an op that writes each operand (a first element times 1), so that each product
                 * rounds its operands: the matmul keeps copies until an op writes their source
                 * (matmul.cu) */
                be->scale(1, a, 1.f);
                be->scale(1, b, 1.f);
                be->matmul(sh->ta, sh->tb, m, n, k, 1, a, b, sh->beta, c);
            } else
                CHECK(cublasGemmEx(blas, sh->tb ? CUBLAS_OP_T : CUBLAS_OP_N, sh->ta ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k,
                                   &one, b16, CUDA_R_16BF, sh->tb ? k : n, a16, CUDA_R_16BF, sh->ta ? m : k, &sh->beta,
                                   c, CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        }
        CHECK(cudaEventRecord(e1, 0));
        CHECK(cudaEventSynchronize(e1));
        float ms;
        CHECK(cudaEventElapsedTime(&ms, e0, e1));
        if (r >= 0) t[r] = ms / CALLS;
    }
    qsort(t, REPS, sizeof *t, cmp_double);
    cudaEventDestroy(e0), cudaEventDestroy(e1);
    return t[REPS / 2];
}

static int bench_matmuls(const kern_backend *bf16) {
    enum { N = 8192, H = 768, F = 3072, Q = 3 * 768 };
    const mm_shape shapes[] = {
        {"q/k/v/proj X W", 0, 0, N, H, H, 4, 0},   {"q/k/v/proj dX=dY W^T", 0, 1, N, H, H, 4, 0},
        {"q/k/v/proj dW=X^T dY", 1, 0, H, H, N, 4, 1},
        {"qkv fused X W", 0, 0, N, Q, H, 0, 0},    {"qkv fused dX=dY W^T", 0, 1, N, H, Q, 0, 0},
        {"qkv fused dW=X^T dY", 1, 0, H, Q, N, 0, 1},
        {"fc X W1", 0, 0, N, F, H, 1, 0},          {"fc dX=dH W1^T", 0, 1, N, H, F, 1, 0},
        {"fc dW1=X^T dH", 1, 0, H, F, N, 1, 1},
        {"fc2 H W2", 0, 0, N, H, F, 1, 0},         {"fc2 dH=dY W2^T", 0, 1, N, F, H, 1, 0},
        {"fc2 dW2=H^T dY", 1, 0, F, H, N, 1, 1},
    };
    size_t big = (size_t)N * F; /* the largest operand or output, in elements */
    float *h = malloc(big * sizeof *h), *a, *b, *c;
    uint16_t *h16 = malloc(big * sizeof *h16);
    void *a16, *b16;
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < big; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        h[i] = (float)((double)(x >> 11) / 9007199254740992.0 * 2 - 1);
        uint32_t u;
        memcpy(&u, &h[i], 4);
        h16[i] = (uint16_t)(u >> 16);
    }
    CHECK(cudaMalloc((void **)&a, big * sizeof(float)));
    CHECK(cudaMalloc((void **)&b, big * sizeof(float)));
    CHECK(cudaMalloc((void **)&c, big * sizeof(float)));
    CHECK(cudaMalloc(&a16, big * 2));
    CHECK(cudaMalloc(&b16, big * 2));
    CHECK(cudaMemcpy(a, h, big * sizeof(float), cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(b, h, big * sizeof(float), cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(c, h, big * sizeof(float), cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(a16, h16, big * 2, cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(b16, h16, big * 2, cudaMemcpyHostToDevice));
    free(h), free(h16);
    cublasHandle_t blas;
    CHECK(cublasCreate(&blas));
    int before = kern_cuda_bf16_matmul_mode(-1);
    long long copies0, falls0, reused0, copies1, falls1, reused1;
    kern_cuda_bf16_matmul_counts(&copies0, &falls0, &reused0);
    printf("bf16 backend matmul at the 12-layer model's shapes (d_model 768, MLP 3072, 8192 tokens), TFLOP/s,\n"
           "median of 7 x 10 calls: fp32-store = FP32 storage, 32F_FAST_16BF (mode 0); bf16-copies = rounding\n"
           "passes + cuBLASLt on bf16 storage (mode 1, the default); gemm16 = cublasGemmEx on operands\n"
           "already bf16 (the product alone); round ms = bf16-copies ms - gemm16 ms\n");
    printf("%-22s %2s %2s %5s %5s %5s %4s %11s %11s %8s %7s %9s\n", "product", "ta", "tb", "m", "n", "k", "beta",
           "fp32-store", "bf16-copies", "gemm16", "new/old", "round ms");
    double layer[3] = {0, 0, 0};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const mm_shape *sh = &shapes[i];
        double fl = 2.0 * sh->m * sh->n * sh->k, ms[3];
        for (int v = 0; v < 3; v++) {
            ms[v] = mm_ms(bf16, blas, sh, a, b, a16, b16, c, v < 2 ? v : -1);
            layer[v] += sh->per_layer * ms[v];
        }
        printf("%-22s %2d %2d %5d %5d %5d %4g %11.1f %11.1f %8.1f %6.2fx %9.4f\n", sh->what, sh->ta, sh->tb, sh->m, sh->n,
               sh->k, sh->beta, fl / ms[0] / 1e9, fl / ms[1] / 1e9, fl / ms[2] / 1e9, ms[0] / ms[1], ms[1] - ms[2]);
        fflush(stdout);
    }
    printf("one layer's 18 products: fp32-store %.3f ms, bf16-copies %.3f ms, gemm16 %.3f ms; x 12 layers: "
           "%.2f / %.2f / %.2f ms (saves %.2f ms per step)\n",
           layer[0], layer[1], layer[2], 12 * layer[0], 12 * layer[1], 12 * layer[2], 12 * (layer[0] - layer[1]));
    kern_cuda_bf16_matmul_counts(&copies1, &falls1, &reused1);
    printf("mode-1 products: %lld on bf16 copies, %lld fallen back to FP32 storage, %lld operands reused\n",
           copies1 - copies0, falls1 - falls0, reused1 - reused0);
    kern_cuda_bf16_matmul_mode(before);
    cublasDestroy(blas);
    cudaFree(a), cudaFree(b), cudaFree(c), cudaFree(a16), cudaFree(b16);
    return 0;
}

/* Device-to-device copy bandwidth (bytes read + written per second) of a 2 GiB buffer, median of 7. */
static double copy_bandwidth(void) {
    size_t bytes = (size_t)2 << 30;
    void *a, *b;
    CHECK(cudaMalloc(&a, bytes));
    CHECK(cudaMalloc(&b, bytes));
    CHECK(cudaMemset(a, 1, bytes));
    cudaEvent_t e0, e1;
    CHECK(cudaEventCreate(&e0));
    CHECK(cudaEventCreate(&e1));
    double t[7];
    for (int r = -2; r < 7; r++) {
        CHECK(cudaEventRecord(e0, 0));
        CHECK(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice));
        CHECK(cudaEventRecord(e1, 0));
        CHECK(cudaEventSynchronize(e1));
        float ms;
        CHECK(cudaEventElapsedTime(&ms, e0, e1));
        if (r >= 0) t[r] = ms / 1e3;
    }
    qsort(t, 7, sizeof *t, cmp_double);
    cudaEventDestroy(e0), cudaEventDestroy(e1);
    cudaFree(a), cudaFree(b);
    return 2.0 * bytes / t[3] / 1e9;
}

/* A mixer's forward + backward through a backend's mixer calls (b1, n_head = n_kv_head,
 * random inputs in [-1, 1), log gates in [-0.002, 0) when gated): median ms of 5
 * (forward alone in *fwd_ms). -1 when it does not fit in memory. */
static double mixer_ms(const kern_backend *be, const kern_mixer_shape *sp, double *fwd_ms) {
    kern_mixer_shape s = *sp;
    int T = s.seq;
    size_t n = (size_t)T * s.n_head * s.head_dim, ng = (size_t)T * s.n_kv_head, ws = be->mixer_work_size(&s),
           ls = be->mixer_saved_size(&s);
    float *buf = be->alloc((8 * n + 2 * ng + ls + ws + 64) * sizeof(float));
    if (!buf) return -1;
    float *q = buf, *k = q + n, *v = k + n, *y = v + n, *dy = y + n, *dq = dy + n, *dk = dq + n, *dv = dk + n;
    float *lg = dv + n, *dlg = lg + ng, *saved = dlg + ng, *work = saved + ls;
    float *h = malloc(n * sizeof *h);
    uint64_t x = 0x2545F4914F6CDD1Dull;
    for (int t = 0; t < 5; t++) {
        size_t m = t < 4 ? n : ng;
        for (size_t i = 0; i < m; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            double u = (double)(x >> 11) / 9007199254740992.0;
            h[i] = (float)(t < 4 ? u * 2 - 1 : -0.002 * (u + 1e-3));
        }
        be->upload(t == 0 ? q : t == 1 ? k : t == 2 ? v : t == 3 ? dy : lg, h, m * sizeof *h);
    }
    free(h);
    const float *log_g = s.gating ? lg : NULL;
    float *dlog_g = s.gating ? dlg : NULL;
    cudaEvent_t e0, e1, e2;
    CHECK(cudaEventCreate(&e0));
    CHECK(cudaEventCreate(&e1));
    CHECK(cudaEventCreate(&e2));
    double tf[5], tb[5];
    for (int r = -1; r < 5; r++) {
        CHECK(cudaEventRecord(e0, 0));
        be->mixer_forward(&s, q, k, v, log_g, y, saved, work);
        CHECK(cudaEventRecord(e1, 0));
        be->mixer_backward(&s, q, k, v, log_g, y, saved, dy, dq, dk, dv, dlog_g, work);
        CHECK(cudaEventRecord(e2, 0));
        CHECK(cudaEventSynchronize(e2));
        float a, b;
        CHECK(cudaEventElapsedTime(&a, e0, e1));
        CHECK(cudaEventElapsedTime(&b, e0, e2));
        if (r >= 0) tf[r] = a, tb[r] = b;
    }
    qsort(tf, 5, sizeof *tf, cmp_double);
    qsort(tb, 5, sizeof *tb, cmp_double);
    cudaEventDestroy(e0), cudaEventDestroy(e1), cudaEventDestroy(e2);
    float probe;
    be->download(&probe, dq, sizeof probe);
    be->free(buf);
    if (!isfinite(probe)) fprintf(stderr, "  mixer %d T=%d: dq not finite\n", (int)s.kind, T);
    *fwd_ms = tf[2];
    return tb[2];
}

/* Attention, b1 h8 kv8 d64 (softmax causal, or window). */
static kern_mixer_shape attn_shape(int T, int window) {
    kern_mixer_shape s = {.batch = 1, .seq = T, .n_head = 8, .n_kv_head = 8, .head_dim = 64,
                          .kind = window ? KERN_MIXER_WINDOW : KERN_MIXER_SOFTMAX, .window = window,
                          .scale = 0.125, .eps = 1e-6};
    return s;
}

/* " 12.3%" of a ceiling, or "-" where this invocation did not measure it (NaN). */
static void print_pct(double tflops, double ceil) {
    if (isnan(ceil)) printf(" %7s", "-");
    else printf(" %6.1f%%", 100 * tflops / ceil);
}

typedef struct result {
    const char *mixer, *precision;
    int d_model, context, batch;
    double ms, tok_s, tflops, tflops_impl;
} result;

static int bench_shape(const kern_backend *be, int n_layer, int d_model, int context, const char *mixer, int batch,
                       int steps, result *out, double *flops_per_token) {
    model_config c;
    model_config_default(&c);
    char err[512], dm[16], nh[16], bs[16], nl[16], ctx[16];
    snprintf(dm, sizeof dm, "%d", d_model);
    snprintf(nh, sizeof nh, "%d", d_model / 64);
    snprintf(bs, sizeof bs, "%d", batch);
    snprintf(nl, sizeof nl, "%d", n_layer);
    snprintf(ctx, sizeof ctx, "%d", context);
    const char *sets[][2] = {{"model.d_model", dm}, {"model.n_layer", nl},  {"model.n_head", nh},
                             {"model.mixer", mixer}, {"model.window", "128"}, {"model.chunk", "64"},
                             {"model.p", "2"},       {"model.gating", "true"}, {"train.context", ctx},
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
    if (flops_per_token) *flops_per_token = 3 * (f.weight_flops_per_token + f.state_flops_per_token);
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
        /* The last step alone is a profiler's range (ncu --profile-from-start off): the warm-up step
         * also times cuBLASLt's candidate algorithms (kernels/cuda/lt_tune.cu), which are not a step's kernels. */
        if (s == steps - 1) CHECK(cudaProfilerStart());
        double t0 = util_monotonic();
        /* as the trainer issues it: forward and backward back to back, the loss read after */
        model_net_forward_launch(net, tok);
        model_net_backward(net);
        model_net_adamw(net, m, v, 1e-4, 0.9, 0.95, 1e-8, 0.1, s + 2);
        be->download(&probe, net->params, sizeof probe); /* waits for the step */
        model_net_forward_loss(net);
        if (s >= 0) t[s] = util_monotonic() - t0;
        if (s == steps - 1) CHECK(cudaProfilerStop());
    }
    qsort(t, (size_t)steps, sizeof *t, cmp_double);
    double best = t[steps / 2], tokens = (double)B * T;
    /* impl: the weights' 3 W per token, and each layer's mixer call as this backend issues it */
    kern_mixer_shape ms = model_flops_mixer_shape(&c, B);
    kern_flop_count_train mc;
    be->mixer_count_flops(&ms, &mc);
    double impl_step = 3 * f.weight_flops_per_token * tokens + c.n_layer * mc.training.implementation;
    *out = (result){mixer, be->name, d_model, T, B, best * 1e3, tokens / best,
                    3 * (f.weight_flops_per_token + f.state_flops_per_token) * tokens / best / 1e12,
                    impl_step / best / 1e12};
    fprintf(stderr, "  %s %s d_model %d: %.1f ms/step, %.0f tok/s (loss %.3f, finite: %s)\n", be->name, mixer, d_model, out->ms,
            out->tok_s, net->host_losses[0], isfinite(probe) ? "yes" : "NO");
    free(t), free(tok);
    be->free(m), be->free(v);
    model_net_free(net);
    return isfinite(probe) ? 0 : -1;
}

static int bench_one(const kern_backend *be, int d_model, const char *mixer, int batch, int steps, result *out) {
    return bench_shape(be, 4, d_model, 2048, mixer, batch, steps, out, NULL);
}

/* "model12": the 12-layer d_model 768 (12 heads of 64) context 1024 model, softmax and
 * power p=2 gated chunk 64, at bf16: one line each for tests/bench/peer_torch.py --ours
 * to pair with the PyTorch peer's rate ("ours MIXER tok/s TFLOP/s FLOPs/token ms"). */
static int bench_model12(const kern_backend *bf16, int steps, int batch) {
    const char *mixers[] = {"softmax", "power"};
    int rc = 0;
    printf("scalelab training steps (forward, backward, AdamW), bf16, median of %d after 1 warm-up; 12 layers,\n"
           "d_model 768, head_dim 64, context 1024, batch %d; power p=2 gated chunk 64; TFLOP/s = 3 (W + S) "
           "FLOPs/token x tok/s\nmatmul: %s\n", steps, batch,
           kern_cuda_bf16_matmul_mode(-1) ? "bf16 copies + cuBLASLt (the default)"
                                          : "FP32 storage, 32F_FAST_16BF (SCALELAB_MM_BF16=0)");
    for (int k = 0; k < 2; k++) {
        result r;
        double fpt = 0;
        if (bench_shape(bf16, 12, 768, 1024, mixers[k], batch, steps, &r, &fpt)) {
            printf("ours %s failed\n", mixers[k]);
            rc = 1;
            continue;
        }
        long long copies, fallbacks, reused;
        kern_cuda_bf16_matmul_counts(&copies, &fallbacks, &reused);
        printf("ours %s %.0f %.2f %.6g %.3f\n", mixers[k], r.tok_s, r.tflops, fpt, r.ms);
        if (copies || fallbacks)
            printf("(products so far on bf16 copies: %lld; fallen back to FP32 storage: %lld; operands reused: %lld)\n",
                   copies, fallbacks, reused);
        fflush(stdout);
    }
    long long fused, composed;
    kern_cuda_bf16_epilogue_counts(&fused, &composed);
    printf("bias epilogues (the MLP's biases in its cuBLASLt calls): %s; biases fused %lld, composed %lld\n",
           kern_cuda_bf16_epilogue_mode(-1) ? "on (the default)" : "off (SCALELAB_MM_EPILOGUE=0)", fused, composed);
    return rc;
}

int main(int argc, char **argv) {
    int steps = argc > 1 ? atoi(argv[1]) : 5, batch = argc > 2 ? atoi(argv[2]) : 8;
    const char *only = argc > 4 ? argv[3] : NULL;
    int only_d = argc > 4 ? atoi(argv[4]) : 0, only_bf16 = argc > 5 && !strcmp(argv[5], "bf16");
    char why[256];
    if (!kern_cuda_available(why, sizeof why)) {
        printf("bench_cuda: skipped: %s\n", why);
        return 0;
    }
    const kern_backend *bes[2] = {kern_cuda_backend(), kern_cuda_backend_bf16()};
    if (argc > 3 && !strcmp(argv[3], "model12")) return bench_model12(bes[1], steps, batch);
    if (argc > 3 && !strcmp(argv[3], "mm")) return bench_matmuls(bes[1]);
    struct cudaDeviceProp prop;
    CHECK(cudaGetDeviceProperties(&prop, 0));
    double fp32 = NAN, tf32 = NAN, fast = NAN, bf16 = NAN, bw = NAN;
    if (!only) {
        fp32 = gemm_ceiling(8192, G_FP32), tf32 = gemm_ceiling(8192, G_TF32);
        fast = gemm_ceiling(8192, G_FAST_BF16), bf16 = gemm_ceiling(8192, G_BF16), bw = copy_bandwidth();
        printf("%s; on random data, median of 7: cuBLAS 8192^3 FP32 %.1f, TF32 %.1f, bf16 operands on FP32 storage "
               "%.1f, bf16 %.1f TFLOP/s; copy bandwidth %.0f GB/s (read + write)\n",
               prop.name, fp32, tf32, fast, bf16, bw);
        fflush(stdout);
        bench_matmuls(bes[1]);
    }
    const char *mixers[] = {"softmax", "window", "power"};
    result res[12];
    int n = 0, rc = 0;
    /* "mixer d_model" runs that d_model alone (any: 128 for the packed runs' size); d_model 0
     * (the attn and powerlayer tables) runs no training step. */
    for (int d = only ? only_d : 256; d > 0 && d <= (only ? only_d : 512); d *= 2)
        for (int k = 0; k < 3; k++)
            for (int p = 0; p < 2; p++) {
                if ((only && strcmp(only, mixers[k])) || (only_bf16 && p == 0)) continue;
                if (bench_one(bes[p], d, mixers[k], batch, steps, &res[n])) rc = 1;
                else n++;
            }
    printf("training steps (forward, backward, AdamW), median of %d; 4 layers, head_dim 64, context 2048,\n"
           "batch %d; window 128; power p=2 gated chunk 64; %%ceil = of the matmul rate of that precision\n"
           "(cuda: FP32 SGEMM; cuda-bf16: bf16 GEMM)\n",
           steps, batch);
    printf("%-8s %-9s %7s %5s %5s %9s %10s %9s %7s %10s %7s\n", "mixer", "backend", "d_model", "T", "batch",
           "ms/step", "tok/s", "TFLOP/s", "%ceil", "impl TF/s", "%ceil");
    for (int i = 0; i < n; i++) {
        double ceil = strcmp(res[i].precision, "cuda") ? bf16 : fp32;
        printf("%-8s %-9s %7d %5d %5d %9.2f %10.0f %9.2f", res[i].mixer, res[i].precision, res[i].d_model,
               res[i].context, res[i].batch, res[i].ms, res[i].tok_s, res[i].tflops);
        print_pct(res[i].tflops, ceil);
        printf(" %10.2f", res[i].tflops_impl);
        print_pct(res[i].tflops_impl, ceil);
        printf("\n");
    }
    fflush(stdout);
    if (!only || !strcmp(only, "attn")) {
        printf("attention forward + backward (mixer calls), b1 h8 kv8 d64, median of 5; TFLOP/s by FlashAttention's\n"
               "count (causal fwd 2 b h d T^2, bwd 2.5 x fwd; window: T^2 -> 2 T w); impl = the FLOPs the backend\n"
               "issues (its mixer_count_flops), impl/model = that over DESIGN's 3 x forward\n");
        printf("%-8s %-10s %7s %7s %10s %10s %9s %7s %9s %10s\n", "kind", "backend", "T", "window", "fwd ms",
               "fwd+bwd ms", "TFLOP/s", "%bf16", "impl TF/s", "impl/model");
        int Ts[] = {4096, 16384, 65536};
        /* rows: FP32 (attn.cu), then bf16 (the flash kernels) */
        for (int p = 0; p < 2; p++)
            for (int i = 0; i < 4; i++) {
                int T = i < 3 ? Ts[i] : 65536, w = i < 3 ? 0 : 4096;
                if (only && only_d > 0 && (T != only_d || w || p == 0)) continue; /* attn T: bf16 rows */
                /* The FP32 path keeps T x T scores (twice, 4 bytes, 8 heads): 64k does not fit. */
                if (p == 0 && (size_t)T * T * 8 * 4 * 2 > ((size_t)100 << 30)) {
                    printf("%-8s %-10s %7d %7d  does not fit (T x T scores)\n", w ? "window" : "softmax", bes[p]->name,
                           T, w);
                    continue;
                }
                kern_mixer_shape as = attn_shape(T, w);
                kern_flop_count_train ic;
                bes[p]->mixer_count_flops(&as, &ic);
                double fms, ms = mixer_ms(bes[p], &as, &fms);
                double fl = w ? 4.0 * 8 * 64 * T * (double)w : 2.0 * 8 * 64 * (double)T * T;
                if (ms < 0) printf("%-8s %-10s %7d %7d  out of memory\n", w ? "window" : "softmax", bes[p]->name, T, w);
                else {
                    printf("%-8s %-10s %7d %7d %10.3f %10.3f %9.1f", w ? "window" : "softmax", bes[p]->name, T, w, fms,
                           ms, 3.5 * fl / (ms / 1e3) / 1e12);
                    print_pct(3.5 * fl / (ms / 1e3) / 1e12, bf16);
                    printf(" %9.1f %10.3f\n", ic.training.implementation / (ms / 1e3) / 1e12,
                           ic.training.implementation / ic.training.model);
                }
                fflush(stdout);
            }
    }
    if (!only || !strcmp(only, "powerlayer")) {
        /* Peer: Manifest's power-retention Triton kernels (figures given in issue 10, not run here). */
        const double peer[3] = {5.2, 5.3, 17.2};
        printf("power retention layer forward + backward (mixer calls), b1 h8 kv8 d64 p2 gated, chunk 1024,\n"
               "median of 5; TFLOP/s by DESIGN section 4's state FLOPs (3 x T (h 2d(c+1) + 2h 2D(d+1)));\n"
               "%%ceil of FP32 SGEMM (cuda) or bf16 operands on FP32 storage (bf16); peer = Manifest's figures;\n"
               "impl = the FLOPs the backend issues (its mixer_count_flops: padding, recomputation), impl/model = that\n"
               "over DESIGN's\n");
        printf("%-11s %7s %10s %10s %9s %7s %9s %9s %10s\n", "backend", "T", "fwd ms", "fwd+bwd ms", "TFLOP/s", "%ceil",
               "peer/ours", "impl TF/s", "impl/model");
        int Ts[] = {4096, 16384, 65536};
        /* variants: FP32; bf16 (the defaults: the tiled intra-chunk kernels of power_intra.cu, the
         * fused state products of power_phi.cu and dphi of power_dphi.cu, each as the environment
         * leaves its switch); the intra-chunk part through cuBLAS over c x c buffers instead
         * (SCALELAB_POWER_INTRA=0) */
        const char *names[] = {"cuda", "bf16", "bf16-cublas"};
        for (int vi = 0; vi < 3; vi++)
            for (int i = 0; i < 3; i++) {
                int p = vi > 0;
                setenv("SCALELAB_POWER_INTRA", vi == 2 ? "0" : "1", 1);
                kern_mixer_shape s = {.batch = 1, .seq = Ts[i], .n_head = 8, .n_kv_head = 8, .head_dim = 64,
                                      .kind = KERN_MIXER_POWER, .p = 2, .chunk = 1024, .gating = 1,
                                      .scale = 0.125, .eps = 1e-6};
                kern_flop_count_train ic; /* after the setenv: the count reads the switch as the call does */
                bes[p]->mixer_count_flops(&s, &ic);
                double fms, ms = mixer_ms(bes[p], &s, &fms), D = 64.0 * 65 / 2;
                double fl = 3.0 * Ts[i] * (8 * 2 * 64 * 1025.0 + 16 * 2 * D * 65);
                double ceil = p ? fast : fp32;
                if (ms < 0) printf("%-11s %7d  out of memory\n", names[vi], Ts[i]);
                else {
                    printf("%-11s %7d %10.3f %10.3f %9.1f", names[vi], Ts[i], fms, ms, fl / (ms / 1e3) / 1e12);
                    print_pct(fl / (ms / 1e3) / 1e12, ceil);
                    printf(" %9.2f %9.1f %10.3f\n", peer[i] / ms, ic.training.implementation / (ms / 1e3) / 1e12,
                           ic.training.implementation / ic.training.model);
                }
                fflush(stdout);
            }
        unsetenv("SCALELAB_POWER_INTRA");
    }
    return rc;
}
#else
int main(void) {
    printf("bench_cuda: skipped: built without CUDA (nvcc not found or CUDA=0)\n");
    return 0;
}
#endif
