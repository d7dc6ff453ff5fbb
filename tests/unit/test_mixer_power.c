/* Power retention, forward agreement between independent algorithms:
 * chunked kernel == attention form (kern_power_attention_forward) for chunk
 * sizes 1, 2, 4, T, gated and not, p = 1..4; p = 1 ungated == linear attention
 * written here; chunk 1 == the recurrent form written here with a
 * tensor-product embedding (d^p features, not the kernel's symmetric phi);
 * float32 vs float64 twin (forward and backward) on T = 256, d = 32, c = 64;
 * large negative gates stay finite. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>
#include <omp.h>

#include "test_mixer_common.h"

static kern_mixer_shape power(int seq, int nkv, int d, int p, int chunk, int gating, int rms) {
    kern_mixer_shape s = test_shape(KERN_MIXER_POWER, 2, seq, 2, nkv, d);
    s.p = p, s.chunk = chunk, s.gating = gating, s.normalize_rms = rms;
    return s;
}

static double chunked_vs_attention(kern_mixer_shape s, double gmin) {
    mixer_inputs in;
    inputs_init(&in, &s, 11, gmin, 0);
    double *y = malloc(sizeof(double) * in.nq), *ref = malloc(sizeof(double) * in.nq);
    forward_f64(&in, y);
    kern_power_attention_forward_f64(&s, in.q, in.k, in.v, in.log_g, ref);
    double e = rel_err(y, ref, in.nq);
    free(y), free(ref);
    inputs_free(&in);
    return e;
}

static void test_chunked_equals_attention_f64(void **st) {
    (void)st;
    const int chunks[] = {1, 2, 4, 16};
    for (int p = 1; p <= 4; p++)
        for (int gating = 0; gating <= 1; gating++)
            for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
                kern_mixer_shape s = power(16, p % 2 ? 1 : 2, 4, p, chunks[c], gating, p % 2);
                double e = chunked_vs_attention(s, -0.5);
                if (e >= 1e-10) printf("p=%d gating=%d chunk=%d rel err %.2e\n", p, gating, chunks[c], e);
                assert_true(e < 1e-10);
            }
}

/* float32 chunked kernel against the float64 attention form on the same (rounded) inputs. */
static void test_chunked_equals_attention_f32(void **st) {
    (void)st;
    const int chunks[] = {1, 2, 4, 32};
    for (int gating = 0; gating <= 1; gating++)
        for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
            kern_mixer_shape s = power(32, 1, 8, 2, chunks[c], gating, 0);
            mixer_inputs in;
            inputs_init(&in, &s, 5, -0.3, 0);
            round_to_f32(&in);
            float *qf = to_f32(in.q, in.nq), *kf = to_f32(in.k, in.nk), *vf = to_f32(in.v, in.nk);
            float *gf = to_f32(in.log_g, in.ng);
            float *y = malloc(sizeof(float) * in.nq), *saved = malloc(sizeof(float) * kern_mixer_saved_size(&s));
            float *work = malloc(sizeof(float) * kern_mixer_work_size(&s));
            double *ref = malloc(sizeof(double) * in.nq);
            kern_mixer_forward(&s, qf, kf, vf, gf, y, saved, work);
            kern_power_attention_forward_f64(&s, in.q, in.k, in.v, in.log_g, ref);
            double e = rel_err_f32(y, ref, in.nq);
            printf("float32 p=2 gating=%d chunk=%d rel err %.2e (tolerance 1e-5)\n", gating, chunks[c], e);
            assert_true(e < 1e-5);
            free(qf), free(kf), free(vf), free(gf), free(y), free(saved), free(work), free(ref);
            inputs_free(&in);
        }
}

static void test_linear_attention(void **st) {
    (void)st;
    kern_mixer_shape s = power(16, 1, 4, 1, 4, 0, 1);
    mixer_inputs in;
    inputs_init(&in, &s, 3, 0, 0);
    double *y = malloc(sizeof(double) * in.nq), *ref = malloc(sizeof(double) * in.nq);
    forward_f64(&in, y);
    int T = s.seq, d = s.head_dim, nh = s.n_head;
    for (int b = 0; b < s.batch; b++)
        for (int h = 0; h < nh; h++)
            for (int i = 0; i < T; i++) {
                double *o = ref + ((size_t)(b * T + i) * nh + h) * d, ms = 0;
                const double *qi = in.q + ((size_t)(b * T + i) * nh + h) * d;
                for (int f = 0; f < d; f++) o[f] = 0;
                for (int j = 0; j <= i; j++) {
                    const double *kj = in.k + (size_t)(b * T + j) * d, *vj = in.v + (size_t)(b * T + j) * d;
                    double w = 0;
                    for (int f = 0; f < d; f++) w += qi[f] * kj[f];
                    for (int f = 0; f < d; f++) o[f] += s.scale * w * vj[f];
                }
                for (int f = 0; f < d; f++) ms += o[f] * o[f] / d;
                for (int f = 0; f < d; f++) o[f] /= sqrt(ms + s.eps);
            }
    double e = rel_err(y, ref, in.nq);
    printf("p=1 ungated vs naive linear attention: rel err %.2e\n", e);
    assert_true(e < 1e-12);
    free(y), free(ref);
    inputs_free(&in);
}

/* x^{(x)p}: all d^p ordered products (x_{i1} ... x_{ip}), so phi(q).phi(k) = (q.k)^p. */
static void tensor_power(const double *x, int d, int p, double *out) {
    int n = 1;
    out[0] = 1;
    for (int r = 0; r < p; r++) {
        for (int a = n - 1; a >= 0; a--)
            for (int f = d - 1; f >= 0; f--) out[a * d + f] = out[a] * x[f];
        n *= d;
    }
}

static void test_recurrent_form(void **st) {
    (void)st;
    for (int p = 1; p <= 3; p++)
        for (int gating = 0; gating <= 1; gating++) {
            kern_mixer_shape s = power(16, 1, 3, p, 1, gating, p % 2);
            mixer_inputs in;
            inputs_init(&in, &s, 9, -0.7, 0);
            int T = s.seq, d = s.head_dim, nh = s.n_head, E = 1;
            for (int r = 0; r < p; r++) E *= d;
            double *y = malloc(sizeof(double) * in.nq), *ref = malloc(sizeof(double) * in.nq);
            double *S = malloc(sizeof(double) * E * d), *z = malloc(sizeof(double) * E);
            double *pk = malloc(sizeof(double) * E), *pq = malloc(sizeof(double) * E);
            forward_f64(&in, y);
            for (int b = 0; b < s.batch; b++) {
                memset(S, 0, sizeof(double) * E * d);
                memset(z, 0, sizeof(double) * E);
                for (int i = 0; i < T; i++) {
                    double gi = gating ? exp(in.log_g[b * T + i]) : 1;
                    const double *ki = in.k + (size_t)(b * T + i) * d, *vi = in.v + (size_t)(b * T + i) * d;
                    tensor_power(ki, d, p, pk);
                    for (int e = 0; e < E; e++) {
                        z[e] = gi * z[e] + pk[e];
                        for (int f = 0; f < d; f++) S[e * d + f] = gi * S[e * d + f] + pk[e] * vi[f];
                    }
                    for (int h = 0; h < nh; h++) {
                        double *o = ref + ((size_t)(b * T + i) * nh + h) * d, den = 0, ms = 0;
                        tensor_power(in.q + ((size_t)(b * T + i) * nh + h) * d, d, p, pq);
                        double sp = pow(s.scale, p);
                        for (int f = 0; f < d; f++) o[f] = 0;
                        for (int e = 0; e < E; e++) {
                            den += sp * pq[e] * z[e];
                            for (int f = 0; f < d; f++) o[f] += sp * pq[e] * S[e * d + f];
                        }
                        for (int f = 0; f < d; f++) ms += o[f] * o[f] / d;
                        double div = s.normalize_rms ? sqrt(ms + s.eps) : s.eps + den;
                        for (int f = 0; f < d; f++) o[f] /= div;
                    }
                }
            }
            double e = rel_err(y, ref, in.nq);
            printf("chunk 1 vs recurrent form p=%d gating=%d: rel err %.2e\n", p, gating, e);
            assert_true(e < 1e-10);
            free(y), free(ref), free(S), free(z), free(pk), free(pq);
            inputs_free(&in);
        }
}

/* float32 kernels against their float64 twin, forward and backward, T = 256, d = 32, c = 64. */
static void f32_vs_f64(kern_mixer_shape s, const char *what, double tol) {
    mixer_inputs in;
    inputs_init(&in, &s, 21, -0.2, -0.001);
    size_t nsv = kern_mixer_saved_size(&s);
    round_to_f32(&in);
    float *qf = to_f32(in.q, in.nq), *kf = to_f32(in.k, in.nk), *vf = to_f32(in.v, in.nk);
    float *gf = to_f32(in.log_g, in.ng);
    double *dy = malloc(sizeof(double) * in.nq);
    uint64_t seed = 1;
    for (size_t i = 0; i < in.nq; i++) dy[i] = (float)(2 * test_uniform(&seed) - 1);
    float *dyf = to_f32(dy, in.nq);
    /* float64 */
    double *y = malloc(sizeof(double) * in.nq), *sv = malloc(sizeof(double) * nsv);
    double *w = malloc(sizeof(double) * kern_mixer_work_size_f64(&s));
    double *dq = malloc(sizeof(double) * in.nq), *dk = malloc(sizeof(double) * in.nk);
    double *dv = malloc(sizeof(double) * in.nk), *dg = gf ? malloc(sizeof(double) * in.ng) : NULL;
    kern_mixer_forward_f64(&s, in.q, in.k, in.v, in.log_g, y, sv, w);
    kern_mixer_backward_f64(&s, in.q, in.k, in.v, in.log_g, y, sv, dy, dq, dk, dv, dg, w);
    /* float32 */
    float *yf = malloc(sizeof(float) * in.nq), *svf = malloc(sizeof(float) * nsv);
    float *wf = malloc(sizeof(float) * kern_mixer_work_size(&s));
    float *dqf = malloc(sizeof(float) * in.nq), *dkf = malloc(sizeof(float) * in.nk);
    float *dvf = malloc(sizeof(float) * in.nk), *dgf = gf ? malloc(sizeof(float) * in.ng) : NULL;
    kern_mixer_forward(&s, qf, kf, vf, gf, yf, svf, wf);
    kern_mixer_backward(&s, qf, kf, vf, gf, yf, svf, dyf, dqf, dkf, dvf, dgf, wf);
    double ey = rel_err_f32(yf, y, in.nq), eq = rel_err_f32(dqf, dq, in.nq);
    double ek = rel_err_f32(dkf, dk, in.nk), ev = rel_err_f32(dvf, dv, in.nk);
    double eg = gf ? rel_err_f32(dgf, dg, in.ng) : 0;
    printf("%-24s f32 vs f64: y %.1e dq %.1e dk %.1e dv %.1e dlog_g %.1e (tolerance %.0e)\n", what, ey, eq,
           ek, ev, eg, tol);
    assert_true(ey < tol && eq < tol && ek < tol && ev < tol && eg < tol);
    free(qf), free(kf), free(vf), free(gf), free(dy), free(dyf), free(y), free(sv), free(w), free(dq);
    free(dk), free(dv), free(dg), free(yf), free(svf), free(wf), free(dqf), free(dkf), free(dvf), free(dgf);
    inputs_free(&in);
}

static void test_f32_vs_f64(void **st) {
    (void)st;
    kern_mixer_shape s = test_shape(KERN_MIXER_SOFTMAX, 2, 256, 2, 1, 32);
    f32_vs_f64(s, "softmax", 1e-5);
    s.kind = KERN_MIXER_WINDOW, s.window = 100;
    f32_vs_f64(s, "window 100", 1e-5);
    s = power(256, 1, 32, 2, 64, 1, 0);
    f32_vs_f64(s, "power p=2 gated", 1e-5);
    s.p = 1, s.normalize_rms = 1, s.gating = 0;
    f32_vs_f64(s, "power p=1 rms ungated", 1e-5);
}

/* forward + backward in float64 with the given OpenMP thread count; outputs concatenated. */
static void run_threads(const mixer_inputs *in, int threads, const double *dy, double *out) {
    omp_set_num_threads(threads);
    const kern_mixer_shape *s = &in->s;
    double *sv = malloc(sizeof(double) * kern_mixer_saved_size_f64(s));
    double *w = malloc(sizeof(double) * kern_mixer_work_size_f64(s));
    double *y = out, *dq = y + in->nq, *dk = dq + in->nq, *dv = dk + in->nk, *dg = dv + in->nk;
    kern_mixer_forward_f64(s, in->q, in->k, in->v, in->log_g, y, sv, w);
    kern_mixer_backward_f64(s, in->q, in->k, in->v, in->log_g, y, sv, dy, dq, dk, dv, in->log_g ? dg : NULL, w);
    free(sv), free(w);
}

/* The parallel schedule (pairs over threads, per-thread work slices) gives the
 * serial results: no pair reads another's slice or writes another's rows. */
static void test_parallel_equals_serial(void **st) {
    (void)st;
    kern_mixer_kind kinds[] = {KERN_MIXER_SOFTMAX, KERN_MIXER_WINDOW, KERN_MIXER_POWER};
    int saved_threads = omp_get_max_threads();
    for (int i = 0; i < 3; i++) {
        kern_mixer_shape s = test_shape(kinds[i], 3, 128, 4, 2, 32);
        s.window = 40, s.chunk = 32, s.gating = 1;
        mixer_inputs in;
        inputs_init(&in, &s, 31, -0.2, 0);
        size_t n = 2 * in.nq + 2 * in.nk + in.ng;
        double *dy = malloc(sizeof(double) * in.nq), *a = calloc(n, sizeof(double)), *b = calloc(n, sizeof(double));
        uint64_t seed = 2;
        for (size_t j = 0; j < in.nq; j++) dy[j] = 2 * test_uniform(&seed) - 1;
        run_threads(&in, 1, dy, a);
        run_threads(&in, 3, dy, b);
        assert_memory_equal(a, b, sizeof(double) * n);
        free(dy), free(a), free(b);
        inputs_free(&in);
    }
    omp_set_num_threads(saved_threads);
}

/* Callers carve `work` out of larger buffers at any float offset: the result
 * must not depend on it (and UBSan checks the kernels' doubles stay aligned). */
static void test_unaligned_work(void **st) {
    (void)st;
    kern_mixer_shape s = power(64, 1, 8, 2, 16, 1, 0);
    mixer_inputs in;
    inputs_init(&in, &s, 41, -0.3, 0);
    float *qf = to_f32(in.q, in.nq), *kf = to_f32(in.k, in.nk), *vf = to_f32(in.v, in.nk);
    float *gf = to_f32(in.log_g, in.ng);
    size_t nw = kern_mixer_work_size(&s), nsv = kern_mixer_saved_size(&s);
    float *buf = malloc(sizeof(float) * (nw + 1)), *sv = malloc(sizeof(float) * nsv);
    float *y[2] = {malloc(sizeof(float) * in.nq), malloc(sizeof(float) * in.nq)};
    float *dg[2] = {malloc(sizeof(float) * in.ng), malloc(sizeof(float) * in.ng)};
    float *dq = malloc(sizeof(float) * in.nq), *dk = malloc(sizeof(float) * in.nk);
    float *dv = malloc(sizeof(float) * in.nk);
    for (int off = 0; off < 2; off++) {
        kern_mixer_forward(&s, qf, kf, vf, gf, y[off], sv, buf + off);
        kern_mixer_backward(&s, qf, kf, vf, gf, y[off], sv, qf, dq, dk, dv, dg[off], buf + off);
    }
    assert_memory_equal(y[0], y[1], sizeof(float) * in.nq);
    assert_memory_equal(dg[0], dg[1], sizeof(float) * in.ng);
    free(qf), free(kf), free(vf), free(gf), free(buf), free(sv), free(y[0]), free(y[1]);
    free(dg[0]), free(dg[1]), free(dq), free(dk), free(dv);
    inputs_free(&in);
}

static int all_finite_f32(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

/* Gates of -1e4 (a hard reset) and -80 (exp underflows in float32): the
 * chunked kernel must stay finite and match the attention form in float64. */
static void test_large_negative_gates(void **st) {
    (void)st;
    kern_mixer_shape s = power(32, 1, 8, 2, 8, 1, 0);
    mixer_inputs in;
    inputs_init(&in, &s, 13, -0.1, 0);
    for (size_t i = 0; i < in.ng; i += 5) in.log_g[i] = (i / 5) % 2 ? -1e4 : -80;
    round_to_f32(&in);
    double *y = malloc(sizeof(double) * in.nq), *ref = malloc(sizeof(double) * in.nq);
    forward_f64(&in, y);
    kern_power_attention_forward_f64(&s, in.q, in.k, in.v, in.log_g, ref);
    double e = rel_err(y, ref, in.nq);
    printf("large negative gates, f64 chunked vs attention: rel err %.2e\n", e);
    assert_true(e < 1e-10);
    float *qf = to_f32(in.q, in.nq), *kf = to_f32(in.k, in.nk), *vf = to_f32(in.v, in.nk);
    float *gf = to_f32(in.log_g, in.ng), *yf = malloc(sizeof(float) * in.nq);
    float *sv = malloc(sizeof(float) * kern_mixer_saved_size(&s)), *w = malloc(sizeof(float) * kern_mixer_work_size(&s));
    float *dq = malloc(sizeof(float) * in.nq), *dk = malloc(sizeof(float) * in.nk);
    float *dv = malloc(sizeof(float) * in.nk), *dg = malloc(sizeof(float) * in.ng);
    kern_mixer_forward(&s, qf, kf, vf, gf, yf, sv, w);
    kern_mixer_backward(&s, qf, kf, vf, gf, yf, sv, qf, dq, dk, dv, dg, w);
    assert_true(all_finite_f32(yf, in.nq) && all_finite_f32(dq, in.nq) && all_finite_f32(dk, in.nk));
    assert_true(all_finite_f32(dv, in.nk) && all_finite_f32(dg, in.ng));
    e = rel_err_f32(yf, ref, in.nq);
    printf("large negative gates, f32 chunked vs f64 attention: rel err %.2e (tolerance 1e-5)\n", e);
    assert_true(e < 1e-5);
    free(y), free(ref), free(qf), free(kf), free(vf), free(gf), free(yf), free(sv), free(w);
    free(dq), free(dk), free(dv), free(dg);
    inputs_free(&in);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunked_equals_attention_f64),
        cmocka_unit_test(test_chunked_equals_attention_f32),
        cmocka_unit_test(test_linear_attention),
        cmocka_unit_test(test_recurrent_form),
        cmocka_unit_test(test_f32_vs_f64),
        cmocka_unit_test(test_large_negative_gates),
        cmocka_unit_test(test_parallel_equals_serial),
        cmocka_unit_test(test_unaligned_work),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
