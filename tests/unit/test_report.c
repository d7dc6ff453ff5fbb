/* Report internals: the knee rule on hand-computed curves, config summaries,
 * budget grouping, the data behind each plot, escaping and number format. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <stdio.h>

#include "analysis/report_internal.h"

static long knee_of(const double *loss, size_t n, double threshold) {
    report_point pts[32];
    for (size_t i = 0; i < n; i++) pts[i] = (report_point){(double)(1u << i), loss[i]};
    return report_knee(pts, n, threshold);
}

static void test_knee_hand_computed(void **state) {
    (void)state;
    /* Total drop 5 - 2.44 = 2.56, 2% of it = 0.0512. Bucket 3: 2.5 - 2.44 = 0.06
     * (not below), bucket 4: 2.45 - 2.44 = 0.01 (below): knee at index 4. */
    const double a[] = {5, 4, 3, 2.5, 2.45, 2.44, 2.44};
    assert_int_equal(knee_of(a, 7, 0.02), 4);
    /* A looser threshold (3% = 0.0768) accepts bucket 3 already. */
    assert_int_equal(knee_of(a, 7, 0.03), 3);
    /* Linear fall to bucket 4 then flat: the knee is where the plateau starts. */
    const double b[] = {4, 3.5, 3, 2.5, 2, 2, 2, 2};
    assert_int_equal(knee_of(b, 8, 0.02), 4);
    /* Still falling at the end: the knee is the last bucket. */
    const double c[] = {4, 3, 2, 1};
    assert_int_equal(knee_of(c, 4, 0.02), 3);
    /* A late drop counts even after a long plateau. */
    const double e[] = {3, 2, 2, 2, 2, 1};
    assert_int_equal(knee_of(e, 6, 0.02), 5);
    /* A small bump after the minimum does not move the knee back. */
    const double f[] = {4, 3, 2, 2.01, 2.02};
    assert_int_equal(knee_of(f, 5, 0.02), 2);
}

static void test_knee_degenerate(void **state) {
    (void)state;
    assert_int_equal(report_knee(NULL, 0, 0.02), -1);
    const double flat[] = {2, 2, 2};
    assert_int_equal(knee_of(flat, 3, 0.02), 0);
    const double rising[] = {1, 2, 3};
    assert_int_equal(knee_of(rising, 3, 0.02), 0);
    /* NaN buckets (no tokens that far) are skipped, never chosen. */
    const double gaps[] = {NAN, 4, 3, NAN, 2, 2};
    assert_int_equal(knee_of(gaps, 6, 0.02), 4);
    const double none[] = {NAN, NAN};
    assert_int_equal(knee_of(none, 2, 0.02), -1);
}

static void test_trim_partial_bucket(void **state) {
    (void)state;
    report_point pts[8];
    for (size_t i = 0; i < 8; i++) pts[i] = (report_point){(double)(1u << i), 4.0 - 0.1 * (double)i};
    /* Last bucket starts at 128: it holds 128..min(255, context) */
    const struct { int context; size_t kept; } cases[] = {
        {128, 7},  /* position 128 alone: 1 < 64 */
        {190, 7},  /* 63 positions: just under half */
        {191, 8},  /* 64 positions: half, kept */
        {256, 8},  /* full */
        {0, 8},    /* unknown context: keep */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        report_run r = {.pos_loss = pts, .n_pos_loss = 8, .context = cases[c].context};
        report_trim_partial_bucket(&r);
        assert_int_equal(r.n_pos_loss, cases[c].kept);
    }
}

static void test_config_parse(void **state) {
    (void)state;
    char err[256];
    report_run r = {.id = 7};
    assert_int_equal(report_config_parse("{\"data\":{\"source\":\"synthetic:recall\"},\"model\":{\"d_model\":64,"
                                         "\"mixer\":\"power\",\"n_head\":2,\"n_layer\":3,\"p\":2},"
                                         "\"train\":{\"context\":256}}", &r, err, sizeof err), 0);
    assert_string_equal(r.mixer, "power");
    assert_string_equal(r.label, "power p=2");
    assert_int_equal(r.d_model, 64);
    assert_int_equal(r.n_layer, 3);
    assert_int_equal(r.n_head, 2);
    assert_int_equal(r.context, 256);
    report_run w = {.id = 8};
    assert_int_equal(report_config_parse("{\"model\":{\"mixer\":\"window\",\"window\":32}}", &w, err, sizeof err), 0);
    assert_string_equal(w.label, "window w=32");
    report_run s = {.id = 9};
    assert_int_equal(report_config_parse("{\"model\":{\"mixer\":\"softmax\",\"window\":32}}", &s, err, sizeof err), 0);
    assert_string_equal(s.label, "softmax");
    report_run bad = {.id = 10};
    assert_int_not_equal(report_config_parse("{\"model\":{\"d_model\":64}}", &bad, err, sizeof err), 0);
    assert_non_null(strstr(err, "run 10"));
    assert_non_null(strstr(err, "model.mixer"));
    assert_int_not_equal(report_config_parse("{\"model\": [", &bad, err, sizeof err), 0);
    assert_non_null(strstr(err, "does not parse"));
}

/* Two budgets (three runs near 1e12, one at 3e12), two labels, one failed run. */
static void fixture_data(report_data *d) {
    memset(d, 0, sizeof *d);
    d->n_runs = 5;
    d->runs = calloc(d->n_runs, sizeof *d->runs);
    const struct {
        const char *label, *status;
        double flops, loss, wsfr, params;
    } rows[] = {{"softmax", "done", 1.00e12, 3.0, 2.0, 1e5}, {"power p=2", "done", 1.05e12, 2.9, 4.0, 2e5},
                {"softmax", "done", 0.98e12, 3.2, 8.0, 4e5}, {"power p=2", "done", 3.0e12, 2.7, 4.0, 3e5},
                {"softmax", "failed", 5e12, NAN, 1.0, 1e6}};
    for (size_t i = 0; i < d->n_runs; i++) {
        report_run *r = &d->runs[i];
        r->id = (int64_t)i + 1;
        snprintf(r->label, sizeof r->label, "%s", rows[i].label);
        snprintf(r->shape, sizeof r->shape, "%s d=%d", rows[i].label, (int)(rows[i].params / 1e4));
        snprintf(r->status, sizeof r->status, "%s", rows[i].status);
        r->training_flops = rows[i].flops;
        r->final_eval_loss = rows[i].loss;
        r->final_train_loss = NAN;
        r->wsfr = rows[i].wsfr;
        r->params = rows[i].params;
        r->n_pos_loss = 4;
        r->pos_loss = calloc(4, sizeof *r->pos_loss);
        for (size_t j = 0; j < 4; j++)
            r->pos_loss[j] = (report_point){(double)(1u << j), j < 2 ? 4.0 - j : 3.0};
        r->knee = report_knee(r->pos_loss, r->n_pos_loss, REPORT_KNEE_THRESHOLD);
        r->n_curve = 2;
        r->curve = calloc(2, sizeof *r->curve);
        r->curve[0] = (report_point){1000, 5.0};
        r->curve[1] = (report_point){2000, rows[i].loss};
    }
    /* Run 2 was evaluated twice; run 4 stored no curves at all (an empty series). */
    d->runs[1].n_eval = 2;
    d->runs[1].eval_curve = calloc(2, sizeof *d->runs[1].eval_curve);
    d->runs[1].eval_curve[0] = (report_point){1000, 5.5};
    d->runs[1].eval_curve[1] = (report_point){2000, 2.95};
    d->runs[3].n_curve = 0;
    d->runs[3].n_pos_loss = 0;
    d->runs[3].knee = -1;
    assert_int_equal(report_collect_labels(d), 0);
    assert_int_equal(report_group_budgets(d), 0);
}

static void test_budgets_and_labels(void **state) {
    (void)state;
    report_data d;
    fixture_data(&d);
    assert_int_equal(d.n_labels, 2);
    assert_string_equal(d.labels[0], "power p=2"); /* sorted */
    assert_string_equal(d.labels[1], "softmax");
    /* Shapes sort by label, then parameter count: one colour each. */
    assert_int_equal(d.n_shapes, 5);
    assert_string_equal(d.shapes[0], "power p=2 d=20");
    assert_string_equal(d.shapes[1], "power p=2 d=30");
    assert_string_equal(d.shapes[2], "softmax d=10");
    assert_string_not_equal(report_shape_colour(&d, "power p=2 d=20"), report_shape_colour(&d, "softmax d=10"));
    assert_int_equal(d.n_budgets, 2);
    assert_int_equal(d.budgets[0].n_runs, 3);
    assert_true(d.budgets[0].flops == 1.00e12); /* the median of 0.98, 1.00, 1.05 */
    assert_int_equal(d.budgets[0].best_run, 1);  /* loss 2.9 */
    assert_int_equal(d.budgets[1].n_runs, 1);
    assert_int_equal(d.runs[3].budget, 1);
    assert_int_equal(d.runs[4].budget, -1);     /* failed: in no budget */
    assert_int_equal(d.runs[0].knee, 1);          /* 4, 3, 3, 3 */
    report_data_free(&d);
}

static void test_plot_data(void **state) {
    (void)state;
    report_data d;
    fixture_data(&d);
    assert_int_equal(report_find_arms(&d), 0);
    char err[256];
    util_buf b = {0};
    /* Frontier: one block per shape with flops, loss, wsfr of finished runs,
     * then the budget optima (best runs here). */
    assert_int_equal(report_plot_data(&d, "frontier", &b, err, sizeof err), 0);
    assert_string_equal(b.data, "# power p=2 d=20: flops loss wsfr\n1.05e+12 2.9 4\n\n\n"
                                "# power p=2 d=30: flops loss wsfr\n3e+12 2.7 4\n\n\n"
                                "# softmax d=10: flops loss wsfr\n1e+12 3 2\n\n\n"
                                "# softmax d=40: flops loss wsfr\n9.8e+11 3.2 8\n\n\n"
                                "# budget optima: flops loss\n1e+12 2.9\n3e+12 2.7\n\n\n");
    /* IsoFLOP against N: the softmax width arm (two widths at one budget, so
     * no parabola and no vertex block) and power p=2's (one width per budget). */
    util_buf_reset(&b);
    assert_int_equal(report_plot_data(&d, "isoflop_params", &b, err, sizeof err), 0);
    assert_string_equal(b.data, "# budget 0 softmax d=10: x loss\n100000 3\n\n\n"
                                "# budget 0 softmax d=40: x loss\n400000 3.2\n\n\n"
                                "# budget 0 power p=2 d=20: x loss\n200000 2.9\n\n\n"
                                "# budget 1 power p=2 d=30: x loss\n300000 2.7\n\n\n");
    /* Context: per run its curve, then its knee; run 4 has none and is left out. */
    util_buf_reset(&b);
    assert_int_equal(report_plot_data(&d, "context", &b, err, sizeof err), 0);
    assert_non_null(strstr(b.data, "# run 1 softmax d=10\n1 4\n2 3\n4 3\n8 3\n\n\n# knee of run 1\n2 3\n\n\n"));
    assert_null(strstr(b.data, "run 5")); /* failed runs are not drawn */
    assert_null(strstr(b.data, "run 4"));
    /* Curves: the smoothed training loss, then the eval loss where there is one. */
    util_buf_reset(&b);
    assert_int_equal(report_plot_data(&d, "curves", &b, err, sizeof err), 0);
    assert_non_null(strstr(b.data, "# run 2 power p=2 d=20\n1000 5\n2000 "));
    assert_non_null(strstr(b.data, "# eval of run 2\n1000 5.5\n2000 2.95\n"));
    assert_null(strstr(b.data, "# run 4 "));
    assert_int_not_equal(report_plot_data(&d, "nonsense", &b, err, sizeof err), 0);
    assert_non_null(strstr(err, "nonsense"));
    util_buf_free(&b);
    report_data_free(&d);
}

/* The gnuplot script of a plot (report_plot_data writes only the data). */
static char *plot_script(const report_data *d, const char *name) {
    char dir[] = "/tmp/scalelab-test-report.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/data", dir);
    assert_int_equal(util_mkdir_p(path, err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/plots", dir);
    assert_int_equal(util_mkdir_p(path, err, sizeof err), 0);
    /* gnuplot is not needed: "true" stands in for it. */
    setenv("SCALELAB_GNUPLOT", "true", 1);
    assert_int_equal(report_draw_plots(d, dir, err, sizeof err), 0);
    unsetenv("SCALELAB_GNUPLOT");
    snprintf(path, sizeof path, "%s/data/%s.gp", dir, name);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(util_read_file(path, &text, &len, err, sizeof err), 0);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return text;
}

/* A panel whose every series is empty still draws a frame that says so, and
 * plots with no arm of their kind say what is missing. */
static void test_empty_series(void **state) {
    (void)state;
    report_data d;
    fixture_data(&d);
    assert_int_equal(report_find_arms(&d), 0);
    char *gp = plot_script(&d, "curves");
    /* budget 1 holds only run 4, which has no curve */
    assert_non_null(strstr(gp, "no training curves stored"));
    assert_null(strstr(gp, "index -1"));
    free(gp);
    gp = plot_script(&d, "isoflop_wsfr");
    assert_non_null(strstr(gp, "no state arm"));
    free(gp);
    report_data_free(&d);
    /* No finished run at all: every plot is an empty frame, nothing fails. */
    memset(&d, 0, sizeof d);
    d.n_runs = 1;
    d.runs = calloc(1, sizeof *d.runs);
    snprintf(d.runs[0].status, sizeof d.runs[0].status, "pending");
    snprintf(d.runs[0].label, sizeof d.runs[0].label, "softmax");
    snprintf(d.runs[0].shape, sizeof d.runs[0].shape, "softmax d=8");
    char err[256];
    assert_int_equal(report_analyse(&d, err, sizeof err), 0);
    assert_int_equal(d.n_budgets, 0);
    gp = plot_script(&d, "frontier");
    assert_non_null(strstr(gp, "no finished runs yet"));
    free(gp);
    util_buf t = {0};
    assert_int_equal(report_answer_text(&d, &t), 0);
    assert_non_null(strstr(t.data, "No answer yet"));
    util_buf_free(&t);
    report_data_free(&d);
}

/* A width arm and a state arm built by hand with known optima. */
static void arms_fixture(report_data *d) {
    memset(d, 0, sizeof *d);
    d->runs = calloc(32, sizeof *d->runs);
    /* Width arm (window w=16): loss = 2 + 0.1 (ln N - ln 3e4)^2 at 1e11 (vertex
     * 3e4, inside 1e4..1e5), and falling with N at 3e11 (a bound above). */
    const double widths[] = {1e4, 2e4, 4e4, 6e4, 1e5};
    const double wiggle[] = {0.004, -0.003, 0.002, -0.004, 0.003};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 5; i++) {
            report_run *r = &d->runs[d->n_runs++];
            r->id = (int64_t)d->n_runs;
            snprintf(r->status, sizeof r->status, "done");
            snprintf(r->mixer, sizeof r->mixer, "window");
            snprintf(r->label, sizeof r->label, "window w=16");
            snprintf(r->shape, sizeof r->shape, "window w=16 d=%d", 8 * (i + 1));
            r->params = widths[i];
            r->weight_flops = 2 * widths[i];
            r->state_flops = 0.1 * widths[i];
            r->wsfr = 20;
            r->training_flops = k ? 3e11 : 1e11;
            double u = log(widths[i]) - log(3e4);
            r->final_eval_loss = k ? 2.5 - 0.1 * log(widths[i] / 1e4) : 2 + 0.1 * u * u + wiggle[i];
            r->final_train_loss = NAN;
            r->state_size = 1000;
        }
    /* State arm (window, d=32, W = 6.5e4): WSFR 4, 16, 64 at 1e11 with the
     * lowest loss at 16 (a vertex between), and a second seed of WSFR 4. */
    const double wsfr[] = {4, 16, 64}, loss[] = {2.3, 2.2, 2.28};
    for (int i = 0; i < 4; i++) {
        report_run *r = &d->runs[d->n_runs++];
        r->id = (int64_t)d->n_runs;
        snprintf(r->status, sizeof r->status, "done");
        snprintf(r->mixer, sizeof r->mixer, "window");
        snprintf(r->label, sizeof r->label, "window w=%d", 4 << (2 * (i % 3)));
        snprintf(r->shape, sizeof r->shape, "%s d=32", r->label);
        r->params = 4.16e4;
        r->d_model = 32;
        r->weight_flops = 6.5e4;
        r->wsfr = wsfr[i % 3];
        r->state_flops = 6.5e4 / r->wsfr;
        r->training_flops = 1e11;
        r->tokens = 1e11 / (3 * (6.5e4 + r->state_flops));
        r->final_eval_loss = loss[i % 3] + (i == 3 ? 0.006 : 0);
        r->final_train_loss = NAN;
        r->seed = i == 3;
        r->state_size = 64.0 * (4 << (2 * (i % 3)));
    }
    /* The sweeps: width arm in "w", state arm in "s". */
    d->n_sweeps = 2;
    snprintf(d->sweeps[0], sizeof d->sweeps[0], "w");
    snprintf(d->sweeps[1], sizeof d->sweeps[1], "s");
    for (size_t i = 0; i < d->n_runs; i++) d->runs[i].sweeps = i < 10 ? 1u : 2u;
    for (size_t i = 0; i < d->n_runs; i++) d->runs[i].knee = -1;
}

static const report_arm *arm_of(const report_data *d, report_arm_kind kind) {
    for (size_t i = 0; i < d->n_arms; i++)
        if (d->arms[i].kind == kind) return &d->arms[i];
    return NULL;
}

static void test_arms_and_answer(void **state) {
    (void)state;
    report_data d;
    arms_fixture(&d);
    char err[256];
    assert_int_equal(report_analyse(&d, err, sizeof err), 0);
    assert_int_equal(d.n_arms, 2);
    const report_arm *w = arm_of(&d, REPORT_ARM_WIDTH), *s = arm_of(&d, REPORT_ARM_STATE);
    assert_non_null(w);
    assert_non_null(s);
    assert_string_equal(w->name, "window w=16");
    assert_string_equal(s->name, "window d=32");
    assert_int_equal(w->n_budgets, 2);
    assert_int_equal(s->n_budgets, 1);
    /* 1e11: the vertex near 3e4 with an interval inside the widths: ok. */
    const report_arm_budget *b0 = &w->budgets[0];
    assert_string_equal(b0->verdict, "ok");
    assert_true(fabs(b0->x_opt / 3e4 - 1) < 0.1);
    assert_true(b0->lo < b0->x_opt && b0->x_opt < b0->hi);
    /* tokens at N_opt = C / (3 (W + S)) with W = 2N, S = 0.1 N between the widths */
    assert_true(fabs(b0->tokens_opt / (1e11 / (3 * 2.1 * b0->x_opt)) - 1) < 0.05);
    /* 3e11: loss falls all the way: the optimum is at or above the largest width. */
    assert_string_equal(w->budgets[1].verdict, "bound");
    assert_non_null(strstr(w->budgets[1].why, "above the largest"));
    /* The state arm: 3 settings, a vertex between 4 and 64, nearest setting w=16. */
    const report_arm_budget *sb = &s->budgets[0];
    assert_int_equal(sb->n, 3);
    assert_true(sb->x_opt > 4 && sb->x_opt < 64);
    assert_string_equal(d.runs[sb->nearest_run].label, "window w=16");
    util_buf t = {0};
    assert_int_equal(report_answer_text(&d, &t), 0);
    assert_non_null(strstr(t.data, "Width: window w=16, sweep w"));
    assert_non_null(strstr(t.data, "C = 1e11: N_opt = "));
    assert_non_null(strstr(t.data, "C = 3e11: N_opt >= 1e5 params"));
    assert_non_null(strstr(t.data, "State at fixed weights: window d=32"));
    assert_non_null(strstr(t.data, "WSFR_opt"));
    assert_non_null(strstr(t.data, "1 (balanced)"));
    util_buf_free(&t);
    /* The seed pair is the noise floor. */
    util_buf n = {0};
    double worst = 0;
    assert_int_equal(report_noise_pairs(&d, &n, &worst), 1);
    assert_true(fabs(worst - 0.006) < 1e-9);
    assert_non_null(strstr(n.data, "window w=4 d=32 at C = 1e11"));
    util_buf_free(&n);
    report_data_free(&d);
}

/* The sentence comparing WSFR_opt with 1, for each case. */
static void test_wsfr_sentence(void **state) {
    (void)state;
    char s[512];
    report_arm_budget ab = {.x_opt = 4, .lo = 2, .hi = 8, .x_min = 1, .x_max = 16};
    snprintf(ab.verdict, sizeof ab.verdict, "ok");
    report_wsfr_sentence(&ab, s, sizeof s);
    assert_non_null(strstr(s, "above 1 (balanced) with its whole interval"));
    ab.lo = 0.5;
    report_wsfr_sentence(&ab, s, sizeof s);
    assert_non_null(strstr(s, "contains 1, consistent with balanced"));
    ab.x_opt = 0.3, ab.lo = 0.2, ab.hi = 0.6;
    report_wsfr_sentence(&ab, s, sizeof s);
    assert_non_null(strstr(s, "below 1 (balanced)"));
    snprintf(ab.verdict, sizeof ab.verdict, "bound");
    snprintf(ab.why, sizeof ab.why, "the optimum lies at or above the largest sampled state setting");
    ab.x_min = 4, ab.x_max = 64;
    report_wsfr_sentence(&ab, s, sizeof s);
    assert_non_null(strstr(s, "WSFR_opt >= 64: weight-heavy"));
    snprintf(ab.why, sizeof ab.why, "the optimum lies at or below the smallest sampled state setting");
    report_wsfr_sentence(&ab, s, sizeof s);
    assert_non_null(strstr(s, "cannot say how the optimum compares with 1"));
}

/* Stored IsoFLOP fits: budgets from residuals_json (before v3) or from the
 * diagnostics (with vertex_bound), verdict and reasons where present. */
static void test_stored_fit_parse(void **state) {
    (void)state;
    report_stored_fit f;
    char err[256];
    const char *budgets = "[{\"budget\": 1e11, \"n\": 5, \"x_opt\": 30000, \"x_opt_interval\": [20000, 45000], "
                          "\"loss_opt\": 2.0, \"curvature\": 0.1}, {\"budget\": 3e11, \"n\": 5, \"x_opt\": 2e5, "
                          "\"x_opt_interval\": [null, null], \"loss_opt\": 1.9, \"curvature\": 0.01}]";
    assert_int_equal(report_stored_fit_parse("params", "{\"k_params\": 3, \"a_params\": 0.5}",
                                             "{\"k_params\": [1, 9], \"a_params\": [0.3, 0.7]}", budgets, NULL, NULL,
                                             &f, err, sizeof err), 0);
    assert_int_equal(f.n_budgets, 2);
    assert_true(f.budgets[0].x_opt == 30000 && f.budgets[0].lo == 20000 && f.budgets[0].hi == 45000);
    assert_true(isnan(f.budgets[1].lo));
    assert_int_equal(f.budgets[1].bound, 0);
    assert_true(f.exponent == 0.5 && f.exponent_lo == 0.3 && f.exponent_hi == 0.7);
    assert_string_equal(f.verdict, "");
    free(f.budgets);
    const char *diag = "{\"verdict\": \"weak\", \"reasons\": [\"2 budgets\", \"vertex at the edge\"], "
                       "\"budgets\": [{\"budget\": 1e11, \"x_opt\": 5, \"x_opt_interval\": [4, 6], \"loss_opt\": 2, "
                       "\"vertex_bound\": \"upper\"}]}";
    assert_int_equal(report_stored_fit_parse("wsfr", NULL, NULL, budgets, "weak", diag, &f, err, sizeof err), 0);
    assert_int_equal(f.n_budgets, 1); /* the diagnostics' budgets win */
    assert_int_equal(f.budgets[0].bound, 1);
    assert_string_equal(f.verdict, "weak");
    assert_string_equal(f.reasons, "2 budgets; vertex at the edge");
    assert_true(isnan(f.exponent));
    free(f.budgets);
    assert_int_not_equal(report_stored_fit_parse("wsfr", NULL, NULL, "not json [", NULL, NULL, &f, err, sizeof err), 0);
}

static void test_escape_and_numbers(void **state) {
    (void)state;
    util_buf b = {0};
    report_html_escape(&b, "<script>alert('x') & \"y\"</script>");
    assert_string_equal(b.data, "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;");
    util_buf_reset(&b);
    report_md_escape(&b, "a|b_c*d\n[e](f) <b> #1 (x)");
    assert_string_equal(b.data, "a\\|b\\_c\\*d \\[e\\](f) \\<b\\> #1 (x)");
    util_buf_free(&b);
    char s[32];
    report_fmt_num(s, sizeof s, 40960), assert_string_equal(s, "4.1e4");
    report_fmt_num(s, sizeof s, 1e13), assert_string_equal(s, "1e13");
    report_fmt_num(s, sizeof s, 2.54812), assert_string_equal(s, "2.548");
    report_fmt_num(s, sizeof s, 1.5e-5), assert_string_equal(s, "1.5e-5");
    report_fmt_num(s, sizeof s, NAN), assert_string_equal(s, "–");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_knee_hand_computed), cmocka_unit_test(test_knee_degenerate),
        cmocka_unit_test(test_trim_partial_bucket), cmocka_unit_test(test_config_parse),
        cmocka_unit_test(test_budgets_and_labels),
        cmocka_unit_test(test_plot_data),          cmocka_unit_test(test_escape_and_numbers),
        cmocka_unit_test(test_empty_series),       cmocka_unit_test(test_arms_and_answer),
        cmocka_unit_test(test_wsfr_sentence),      cmocka_unit_test(test_stored_fit_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
