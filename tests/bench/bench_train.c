/* CPU training throughput: tokens/s and achieved GFLOP/s of full training
 * steps (forward, backward, AdamW) for d_model 128 and 256, 4 layers, contexts
 * 512 and 2048, each mixer, beside the OpenBLAS sgemm ceiling measured in the
 * same run. Training FLOPs per token = 3 (W + S) from model_flops_compute;
 * "impl" adds what the kernels do beyond S (impl_state_flops_per_token).
 *   build/bench/bench_train [steps [mixer [d_model [context]]]]   (threads: OMP_NUM_THREADS / all cores)
 * The optional filters run only the matching configurations (for profiling). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "model/model.h"
#include "util/util.h"

/* Best of a few 1024^3 sgemm calls: the ceiling the dense parts could reach. */
static double sgemm_gflops(void) {
    int n = 1024;
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n), *c = malloc(sizeof(float) * n * n);
    for (int i = 0; i < n * n; i++) a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.1f;
    double best = 0;
    for (int r = 0; r < 5; r++) {
        double t = util_monotonic();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        t = util_monotonic() - t;
        best = fmax(best, 2.0 * n * n * n / t / 1e9);
    }
    free(a), free(b), free(c);
    return best;
}

typedef struct result {
    const char *mixer;
    int d_model, context, batch;
    double tok_s, gflops, gflops_impl, wsfr, ceiling_here;
} result;

static int bench_one(int d_model, int context, const char *mixer, int steps, result *out) {
    model_config c;
    model_config_default(&c);
    char err[512];
    const char *sets[][2] = {{"model.d_model", NULL}, {"model.n_layer", "4"},      {"model.n_head", NULL},
                             {"model.mixer", mixer},  {"model.window", "128"},     {"model.chunk", "64"},
                             {"train.context", NULL}, {"train.batch_size", NULL}};
    char dm[16], nh[16], ctx[16], bs[16];
    snprintf(dm, sizeof dm, "%d", d_model);
    snprintf(nh, sizeof nh, "%d", d_model / 64);
    snprintf(ctx, sizeof ctx, "%d", context);
    snprintf(bs, sizeof bs, "%d", 4096 / context > 0 ? 4096 / context : 1);
    sets[0][1] = dm, sets[2][1] = nh, sets[6][1] = ctx, sets[7][1] = bs;
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
        if (model_config_set(&c, sets[i][0], sets[i][1], err, sizeof err)) return fprintf(stderr, "%s\n", err), -1;
    if (model_config_resolve(&c, err, sizeof err)) return fprintf(stderr, "%s\n", err), -1;
    model_flops f;
    model_flops_compute(&c, &f);
    model_net *net;
    if (model_net_alloc(&c, c.batch_size, kern_cpu_backend(), &net, err, sizeof err) ||
        model_net_init_params(net, 1, err, sizeof err))
        return fprintf(stderr, "%s\n", err), -1;
    size_t n = net->n_params;
    float *m = calloc(n, sizeof *m), *vv = calloc(n, sizeof *vv);
    int T = context, B = c.batch_size;
    int32_t *tok = malloc(sizeof *tok * (size_t)B * (T + 1));
    for (int i = 0; i < B * (T + 1); i++) tok[i] = (i * 31 + 7) % 256;
    double best = 1e30;
    for (int s = 0; s <= steps; s++) { /* step 0 warms caches and page tables */
        double t = util_monotonic();
        model_net_forward(net, tok);
        model_net_backward(net);
        for (size_t k = 0; k < net->n_tensors; k++) {
            const model_net_tensor *ten = &net->tensors[k];
            kern_adamw(ten->size, net->params + ten->offset, net->grads + ten->offset, m + ten->offset,
                       vv + ten->offset, 1e-3, 0.9, 0.95, 1e-8, 0.1, s + 1);
        }
        t = util_monotonic() - t;
        if (s > 0) best = fmin(best, t);
    }
    double tokens = (double)B * T;
    double model_flops = 3 * (f.weight_flops_per_token + f.state_flops_per_token) * tokens;
    double impl_s = f.impl_state_flops_per_token > 0 ? f.impl_state_flops_per_token : f.state_flops_per_token;
    double impl_flops = 3 * (f.weight_flops_per_token + impl_s) * tokens;
    *out = (result){mixer, d_model, T, B, tokens / best, model_flops / best / 1e9, impl_flops / best / 1e9, f.wsfr, 0};
    fprintf(stderr, "  %s d_model %d T %d: %.0f tok/s\n", mixer, d_model, T, out->tok_s);
    free(m), free(vv), free(tok);
    model_net_free(net);
    return 0;
}

/* Other processes share this machine, so the sgemm ceiling is measured right
 * before and after every configuration: "%here" is the ratio to the mean of
 * those two (what the machine gave us at that moment), "%max" the ratio to the
 * highest ceiling seen in the whole run (the most conservative reading). */
int main(int argc, char **argv) {
    util_reexec_with_env(argv, "OMP_WAIT_POLICY", "passive"); /* as scalelab train does (see scalelab.c) */
    int steps = argc > 1 ? atoi(argv[1]) : 2;
    const char *only_mixer = argc > 2 ? argv[2] : NULL;
    int only_d = argc > 3 ? atoi(argv[3]) : 0, only_t = argc > 4 ? atoi(argv[4]) : 0;
    const char *mixers[] = {"softmax", "window", "power"};
    result res[12];
    int n = 0, rc = 0;
    double ceiling = 0;
    for (int d = 128; d <= 256; d *= 2)
        for (int T = 512; T <= 2048; T *= 4)
            for (int k = 0; k < 3; k++) {
                if ((only_mixer && strcmp(only_mixer, mixers[k])) || (only_d && only_d != d) || (only_t && only_t != T))
                    continue;
                double before = sgemm_gflops();
                if (bench_one(d, T, mixers[k], steps, &res[n])) {
                    rc = 1;
                    continue;
                }
                double after = sgemm_gflops();
                ceiling = fmax(ceiling, fmax(before, after));
                res[n++].ceiling_here = 0.5 * (before + after);
            }
    printf("threads %d; OpenBLAS sgemm 1024^3 ceiling %.1f GFLOP/s (max over the run); best of %d steps;\n"
           "4 layers, head_dim 64, 4096 tokens per step (batch x context); window 128, power p=2 gated chunk 64\n",
           omp_get_max_threads(), ceiling, steps);
    printf("%-8s %7s %5s %5s %9s %9s %10s %10s %7s %7s %6s\n", "mixer", "d_model", "T", "batch", "tok/s",
           "GFLOP/s", "impl GF/s", "sgemm here", "%here", "%max", "WSFR");
    for (int i = 0; i < n; i++)
        printf("%-8s %7d %5d %5d %9.0f %9.2f %10.2f %10.1f %6.1f%% %6.1f%% %6.2f\n", res[i].mixer, res[i].d_model,
               res[i].context, res[i].batch, res[i].tok_s, res[i].gflops, res[i].gflops_impl, res[i].ceiling_here,
               100 * res[i].gflops / res[i].ceiling_here, 100 * res[i].gflops / ceiling, res[i].wsfr);
    return rc;
}
