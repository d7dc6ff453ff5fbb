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
    char err[256];
    util_buf b = {0};
    /* Frontier: one block per label with flops, loss, wsfr of finished runs,
     * then the budget optima (best runs here: no parabolas were fitted). */
    assert_int_equal(report_plot_data(&d, "frontier", &b, err, sizeof err), 0);
    assert_string_equal(b.data, "# power p=2: flops loss wsfr\n1.05e+12 2.9 4\n3e+12 2.7 4\n\n\n"
                                "# softmax: flops loss wsfr\n1e+12 3 2\n9.8e+11 3.2 8\n\n\n"
                                "# budget optima: flops loss\n1e+12 2.9\n3e+12 2.7\n\n\n");
    /* IsoFLOP against WSFR: blocks per budget and label, no empty blocks. */
    util_buf_reset(&b);
    assert_int_equal(report_plot_data(&d, "isoflop_wsfr", &b, err, sizeof err), 0);
    assert_string_equal(b.data, "# budget 0 power p=2: x loss\n4 2.9\n\n\n"
                                "# budget 0 softmax: x loss\n2 3\n8 3.2\n\n\n"
                                "# budget 1 power p=2: x loss\n4 2.7\n\n\n");
    /* Against N: one panel per label (power p=2 first), its budgets' points,
     * and where a parabola was fitted, its vertex right after its points. */
    d.label_params = calloc(d.n_budgets * d.n_labels, sizeof *d.label_params);
    d.label_params[0 * d.n_labels + 1] = (report_parabola){.ok = 1, .a = 1, .x_opt = 2e5, .loss_opt = 2.85};
    util_buf_reset(&b);
    assert_int_equal(report_plot_data(&d, "isoflop_params", &b, err, sizeof err), 0);
    assert_string_equal(b.data, "# budget 0 power p=2: x loss\n200000 2.9\n\n\n"
                                "# budget 1 power p=2: x loss\n300000 2.7\n\n\n"
                                "# budget 0 softmax: x loss\n100000 3\n400000 3.2\n\n\n"
                                "# budget 0 vertex: x loss\n200000 2.85\n\n\n");
    /* Context: per run its curve, then its knee. */
    util_buf_reset(&b);
    assert_int_equal(report_plot_data(&d, "context", &b, err, sizeof err), 0);
    assert_non_null(strstr(b.data, "# run 1 softmax\n1 4\n2 3\n4 3\n8 3\n\n\n# knee of run 1\n2 3\n\n\n"));
    assert_null(strstr(b.data, "run 5")); /* failed runs are not drawn */
    util_buf_reset(&b);
    assert_int_equal(report_plot_data(&d, "curves", &b, err, sizeof err), 0);
    assert_non_null(strstr(b.data, "# run 4 power p=2\n1000 5\n2000 2.7\n"));
    assert_int_not_equal(report_plot_data(&d, "nonsense", &b, err, sizeof err), 0);
    assert_non_null(strstr(err, "nonsense"));
    util_buf_free(&b);
    report_data_free(&d);
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
