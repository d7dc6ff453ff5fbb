/* Token-mixer benchmark: forward and forward+backward time, tokens/s and
 * achieved GFLOP/s of each mixer (float32), beside the OpenBLAS sgemm ceiling
 * (1024^3 on all OpenBLAS threads) measured in the same run.
 * GFLOP/s use kern_mixer_count_flops' implementation FLOPs; forward+backward
 * counts 3 x forward (DESIGN section 4's training convention: the backward's
 * real work, including the recomputed power states, is not counted on its own).
 *   build/bench/bench_mixer [--quick]      best of 3 runs per case */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "kernels/kernels.h"
#include "util/util.h"

static float *fill(size_t n, unsigned *seed, float lo, float hi) {
    float *x = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)rand_r(seed) / (float)RAND_MAX;
    return x;
}

static double sgemm_ceiling(void) {
    int n = 1024;
    unsigned seed = 1;
    float *a = fill((size_t)n * n, &seed, -1, 1), *b = fill((size_t)n * n, &seed, -1, 1);
    float *c = calloc((size_t)n * n, sizeof(float));
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        double t0 = util_monotonic();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        double t = util_monotonic() - t0;
        best = t < best ? t : best;
    }
    free(a), free(b), free(c);
    return 2.0 * n * n * n / best / 1e9;
}

static void bench(kern_mixer_shape s, const char *name, double ceiling, int reps) {
    size_t nq = (size_t)s.batch * s.seq * s.n_head * s.head_dim;
    size_t nk = (size_t)s.batch * s.seq * s.n_kv_head * s.head_dim, ng = (size_t)s.batch * s.seq * s.n_kv_head;
    unsigned seed = 3;
    float *q = fill(nq, &seed, -1, 1), *k = fill(nk, &seed, -1, 1), *v = fill(nk, &seed, -1, 1);
    float *lg = s.gating ? fill(ng, &seed, -0.1f, -0.001f) : NULL, *dy = fill(nq, &seed, -1, 1);
    float *y = malloc(sizeof(float) * nq), *dq = malloc(sizeof(float) * nq);
    float *dk = malloc(sizeof(float) * nk), *dv = malloc(sizeof(float) * nk);
    float *dg = s.gating ? malloc(sizeof(float) * ng) : NULL;
    float *saved = malloc(sizeof(float) * kern_mixer_saved_size(&s));
    float *work = malloc(sizeof(float) * kern_mixer_work_size(&s));
    double tf = 1e30, tfb = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = util_monotonic();
        kern_mixer_forward(&s, q, k, v, lg, y, saved, work);
        double t1 = util_monotonic();
        kern_mixer_backward(&s, q, k, v, lg, y, saved, dy, dq, dk, dv, dg, work);
        double t2 = util_monotonic();
        tf = t1 - t0 < tf ? t1 - t0 : tf;
        tfb = t2 - t0 < tfb ? t2 - t0 : tfb;
    }
    kern_flop_count fc;
    kern_mixer_count_flops(&s, &fc);
    double tokens = (double)s.batch * s.seq, gf = fc.implementation / tf / 1e9;
    double gfb = 3 * fc.implementation / tfb / 1e9;
    printf("%-16s d=%-3d T=%-5d fwd %8.2f ms %6.1f GFLOP/s (%4.1f%%) | fwd+bwd %8.2f ms %9.0f tok/s "
           "%6.1f GFLOP/s (%4.1f%% of sgemm) impl/model %.2f\n",
           name, s.head_dim, s.seq, tf * 1e3, gf, 100 * gf / ceiling, tfb * 1e3, tokens / tfb, gfb,
           100 * gfb / ceiling, fc.implementation / fc.model);
    fflush(stdout);
    free(q), free(k), free(v), free(lg), free(dy), free(y), free(dq), free(dk), free(dv), free(dg);
    free(saved), free(work);
}

int main(int argc, char **argv) {
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0, reps = quick ? 1 : 3;
    double ceiling = sgemm_ceiling();
    printf("sgemm 1024^3 ceiling: %.1f GFLOP/s (OpenBLAS threads %d, OpenMP threads %d)\n", ceiling,
           openblas_get_num_threads(), omp_get_max_threads());
    printf("shape: B=4 h=4 h_k=4; window 256; power chunk 64, gated\n");
    const int dims[] = {32, 64}, seqs[] = {512, 2048};
    for (int di = 0; di < 2; di++)
        for (int ti = 0; ti < 2; ti++) {
            if (quick && (di || ti)) continue;
            int d = dims[di], T = seqs[ti];
            kern_mixer_shape s = {.batch = 4, .seq = T, .n_head = 4, .n_kv_head = 4, .head_dim = d,
                                  .kind = KERN_MIXER_SOFTMAX, .p = 2, .chunk = 64, .window = 256,
                                  .gating = 1, .normalize_rms = 0, .scale = 1.0 / sqrt(d), .eps = 1e-6};
            bench(s, "softmax", ceiling, reps);
            s.kind = KERN_MIXER_WINDOW;
            bench(s, "window", ceiling, reps);
            s.kind = KERN_MIXER_POWER;
            bench(s, "power p=2", ceiling, reps);
            s.p = 1, s.normalize_rms = 1;
            bench(s, "power p=1 rms", ceiling, reps);
        }
    return 0;
}
