/* The whole network: the gradient of every parameter against central finite
 * differences in float64, for each mixer (softmax with GQA, window, power p=1
 * with rms normalisation, power p=2 gated), both norms and tied/untied heads;
 * and the float network against its float64 twin. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <omp.h>

#include "model/model.h"

enum { BATCH = 2, SEQ = 8, VOCAB = 11 };

static model_config tiny(model_mixer mixer) {
    model_config c;
    memset(&c, 0, sizeof c);
    c.vocab_size = VOCAB;
    c.d_model = 8;
    c.n_layer = 2;
    c.n_head = 2;
    c.n_kv_head = 2;
    c.head_dim = 4;
    c.mlp_hidden = 16;
    c.mixer = mixer;
    c.p = 2;
    c.chunk = 4;
    c.window = 3;
    c.norm = MODEL_NORM_LAYERNORM;
    c.context = SEQ;
    c.batch_size = BATCH;
    return c;
}

static void fill_tokens(int32_t *seqs, unsigned seed) {
    for (int i = 0; i < BATCH * (SEQ + 1); i++) seqs[i] = (int32_t)((seed * 7 + i * 5 + (i * i) % 3) % VOCAB);
}

/* Random parameters well away from the initialisation, so every term matters
 * (gates between 0.5 and 0.9, norms not identity). */
static void perturb(double *p, size_t n, unsigned seed) {
    unsigned long long s = 0x9e3779b97f4a7c15ULL * (seed + 1);
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        p[i] += 0.3 * ((double)(s >> 11) / 9007199254740992.0 * 2 - 1);
    }
}

static void check_model(model_config c, const char *label) {
    char err[256];
    model_net_f64 *net;
    assert_int_equal(model_net_alloc_f64(&c, BATCH, kern_cpu_backend_f64(), &net, err, sizeof err), 0);
    assert_int_equal(model_net_init_params_f64(net, 7, err, sizeof err), 0);
    perturb(net->params, net->n_params, 3);
    for (size_t t = 0; t < net->n_tensors; t++)
        if (strstr(net->tensors[t].name, ".bg"))
            for (size_t j = 0; j < net->tensors[t].size; j++) net->params[net->tensors[t].offset + j] = 1.0 + 0.5 * j;
    int32_t seqs[BATCH * (SEQ + 1)];
    fill_tokens(seqs, 1);
    double loss = model_net_forward_f64(net, seqs);
    assert_true(isfinite(loss) && loss > 0);
    model_net_backward_f64(net);
    double *g = malloc(net->n_params * sizeof *g);
    memcpy(g, net->grads, net->n_params * sizeof *g);
    const double h = 1e-5;
    for (size_t t = 0; t < net->n_tensors; t++) {
        const model_net_tensor *ten = &net->tensors[t];
        double gmax = 0;
        for (size_t j = 0; j < ten->size; j++) gmax = fmax(gmax, fabs(g[ten->offset + j]));
        if (!(gmax > 1e-8)) fail_msg("%s: %s has no gradient", label, ten->name);
        for (size_t j = 0; j < ten->size; j++) {
            double *x = net->params + ten->offset + j, save = *x;
            *x = save + h;
            double lp = model_net_forward_f64(net, seqs);
            *x = save - h;
            double lm = model_net_forward_f64(net, seqs);
            *x = save;
            double fd = (lp - lm) / (2 * h), an = g[ten->offset + j];
            if (fabs(fd - an) > 1e-6 * gmax + 1e-10)
                fail_msg("%s: %s[%zu]: analytic %.10g, finite difference %.10g (tensor max %.3g)", label, ten->name,
                         j, an, fd, gmax);
        }
    }
    free(g);
    model_net_free_f64(net);
}

static void test_grad_softmax_gqa(void **state) {
    (void)state;
    model_config c = tiny(MODEL_MIXER_SOFTMAX);
    c.n_kv_head = 1;
    check_model(c, "softmax gqa");
}

static void test_grad_window_rms_tied(void **state) {
    (void)state;
    model_config c = tiny(MODEL_MIXER_WINDOW);
    c.norm = MODEL_NORM_RMSNORM;
    c.tie_embeddings = 1;
    check_model(c, "window");
}

static void test_grad_power1_rms(void **state) {
    (void)state;
    model_config c = tiny(MODEL_MIXER_POWER);
    c.p = 1;
    c.normalize = MODEL_NORMALIZE_RMS;
    check_model(c, "power p=1 rms");
}

static void test_grad_power2_gated(void **state) {
    (void)state;
    model_config c = tiny(MODEL_MIXER_POWER);
    c.gating = 1;
    check_model(c, "power p=2 gated");
}

/* Parameter inventory of model/flops.c: count by hand for a gated power model. */
static void test_inventory(void **state) {
    (void)state;
    model_config c = tiny(MODEL_MIXER_POWER);
    c.gating = 1;
    char err[256];
    model_net *net;
    assert_int_equal(model_net_alloc(&c, 1, kern_cpu_backend(), &net, err, sizeof err), 0);
    size_t H = 8, hd = 8, kd = 8, hk = 2, F = 16, V = VOCAB;
    size_t block = 2 * H + H * hd + 2 * H * kd + hd * H + H * hk + hk + 2 * H + H * F + F + F * H + H;
    assert_int_equal(net->n_params, V * H + 2 * block + 2 * H + V * H);
    size_t decayed = 0;
    for (size_t t = 0; t < net->n_tensors; t++)
        if (net->tensors[t].decay) decayed += net->tensors[t].size;
    assert_int_equal(decayed, 2 * (H * hd + 2 * H * kd + hd * H + H * hk + H * F + F * H) + V * H);
    model_net_free(net);
    /* And the same count as model/flops.c's inventory, for every mixer and option. */
    for (int m = 0; m < 3; m++)
        for (int opt = 0; opt < 4; opt++) {
            model_config k = tiny((model_mixer)m);
            k.gating = opt & 1;
            k.tie_embeddings = (opt >> 1) & 1;
            k.norm = (opt & 1) ? MODEL_NORM_RMSNORM : MODEL_NORM_LAYERNORM;
            k.n_kv_head = 1;
            model_flops f;
            model_flops_compute(&k, &f);
            assert_int_equal(model_net_alloc(&k, 1, kern_cpu_backend(), &net, err, sizeof err), 0);
            if ((double)net->n_params != f.params)
                fail_msg("mixer %d option %d: net has %zu parameters, model_flops_compute %.0f", m, opt, net->n_params,
                         f.params);
            model_net_free(net);
        }
}

/* model_net_adamw (one backend call per run of adjacent tensors with the same decay rule)
 * against one call per tensor with that tensor's decay: the same bits, for a gated power model
 * with layer norms (runs of norm weights, biases, gate biases and matrices) and a tied head. */
static void test_adamw_runs(void **state) {
    (void)state;
    const kern_backend *be = kern_cpu_backend();
    for (int tied = 0; tied <= 1; tied++) {
        model_config c = tiny(MODEL_MIXER_POWER);
        c.gating = 1;
        c.tie_embeddings = tied;
        char err[256];
        model_net *net;
        assert_int_equal(model_net_alloc(&c, 1, be, &net, err, sizeof err), 0);
        size_t n = net->n_params;
        float *p0 = malloc(n * sizeof *p0), *g = malloc(n * sizeof *g), *state_ = calloc(4 * n, sizeof *state_);
        float *m = state_, *v = m + n, *m2 = v + n, *v2 = m2 + n;
        for (size_t i = 0; i < n; i++) /* values of both signs and sizes, no two alike */
            p0[i] = (float)sin(0.7 * (double)i + 0.3), g[i] = (float)cos(1.3 * (double)i) * 1e-2f;
        memcpy(net->params, p0, n * sizeof *p0);
        memcpy(net->grads, g, n * sizeof *g);
        for (int64_t step = 1; step <= 2; step++) model_net_adamw(net, m, v, 1e-2, 0.9, 0.95, 1e-8, 0.5, step);
        float *merged = malloc(n * sizeof *merged);
        memcpy(merged, net->params, n * sizeof *merged);
        memcpy(net->params, p0, n * sizeof *p0);
        size_t decayed = 0;
        for (int64_t step = 1; step <= 2; step++)
            for (size_t t = 0; t < net->n_tensors; t++) {
                const model_net_tensor *ten = &net->tensors[t];
                decayed += ten->decay && step == 1;
                be->adamw(ten->size, net->params + ten->offset, net->grads + ten->offset, m2 + ten->offset,
                          v2 + ten->offset, 1e-2, 0.9, 0.95, 1e-8, ten->decay ? 0.5 : 0, step);
            }
        assert_true(decayed > 0 && decayed < net->n_tensors); /* both rules occur */
        assert_memory_equal(merged, net->params, n * sizeof *merged);
        assert_memory_equal(m, m2, 2 * n * sizeof *m); /* m and v */
        free(merged), free(p0), free(g), free(state_);
        model_net_free(net);
    }
}

/* The float network computes the same loss as its float64 twin from the same start. */
static void test_float_twin(void **state) {
    (void)state;
    model_config c = tiny(MODEL_MIXER_POWER);
    c.gating = 1;
    char err[256];
    model_net *nf;
    model_net_f64 *nd;
    assert_int_equal(model_net_alloc(&c, BATCH, kern_cpu_backend(), &nf, err, sizeof err), 0);
    assert_int_equal(model_net_alloc_f64(&c, BATCH, kern_cpu_backend_f64(), &nd, err, sizeof err), 0);
    assert_int_equal(model_net_init_params(nf, 11, err, sizeof err), 0);
    assert_int_equal(model_net_init_params_f64(nd, 11, err, sizeof err), 0);
    int32_t seqs[BATCH * (SEQ + 1)];
    fill_tokens(seqs, 2);
    double lf = model_net_forward(nf, seqs), ld = model_net_forward_f64(nd, seqs);
    assert_true(fabs(lf - ld) < 1e-5 * ld);
    assert_true(fabs(ld - log(VOCAB)) < 0.1); /* small init: near-uniform predictions */
    model_net_backward(nf);
    model_net_backward_f64(nd);
    double num = 0, den = 0;
    for (size_t i = 0; i < nd->n_params; i++) {
        num += (nf->grads[i] - nd->grads[i]) * (nf->grads[i] - nd->grads[i]);
        den += nd->grads[i] * nd->grads[i];
    }
    assert_true(sqrt(num / den) < 1e-4);
    model_net_free(nf);
    model_net_free_f64(nd);
}

/* A network allocated while the process ran 1 thread keeps working, with the same
 * numbers, after the count goes up: the mixer's work buffer has one slice per thread
 * of the count at allocation and a call never uses more (before, the mixer sized its
 * slices from omp_get_max_threads() at each call and wrote past the buffer; the ASan
 * pass reports that). The shape is big enough for the mixer's parallel path. */
static void test_threads_raised_after_alloc(void **state) {
    (void)state;
    model_config c = tiny(MODEL_MIXER_POWER);
    c.d_model = 64;
    c.n_head = c.n_kv_head = 4;
    c.head_dim = 16;
    c.context = 128;
    c.chunk = 16;
    c.gating = 1;
    enum { B = 4 };
    char err[256];
    model_net *net;
    omp_set_num_threads(1);
    assert_int_equal(model_net_alloc(&c, B, kern_cpu_backend(), &net, err, sizeof err), 0);
    assert_int_equal(net->mixer.threads, 1);
    assert_int_equal(model_net_init_params(net, 5, err, sizeof err), 0);
    int32_t *seqs = malloc(B * (128 + 1) * sizeof *seqs);
    for (int i = 0; i < B * 129; i++) seqs[i] = (int32_t)((i * 7 + i / 5) % VOCAB);
    double l1 = model_net_forward(net, seqs);
    model_net_backward(net);
    float *g1 = malloc(net->n_params * sizeof *g1);
    memcpy(g1, net->grads, net->n_params * sizeof *g1);
    omp_set_num_threads(4);
    double l4 = model_net_forward(net, seqs);
    model_net_backward(net);
    omp_set_num_threads(1);
    assert_memory_equal(&l1, &l4, sizeof l1);
    assert_memory_equal(g1, net->grads, net->n_params * sizeof *g1);
    free(g1);
    free(seqs);
    model_net_free(net);
}

int main(void) {
    omp_set_num_threads(1); /* tiny shapes: threads only add contention */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inventory),          cmocka_unit_test(test_float_twin),
        cmocka_unit_test(test_grad_softmax_gqa),   cmocka_unit_test(test_grad_window_rms_tied),
        cmocka_unit_test(test_grad_power1_rms),    cmocka_unit_test(test_grad_power2_gated),
        cmocka_unit_test(test_threads_raised_after_alloc), cmocka_unit_test(test_adamw_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
