/* The public Chinchilla runs (tests/data/chinchilla, Epoch AI's extraction): with Epoch's points
 * (loss < 3.446995: the 5 highest-loss rows dropped, 240 left), the sum-of-Huber (delta 1e-3)
 * objective and Hoffmann's 4,500-start grid, the fit must land on the optimum Epoch AI reports
 * (Besiroglu et al. 2024): E = 1.82, A = 482.01, alpha = 0.3478, B = 2085.43, beta = 0.3658.
 *
 * What we find: E = 1.8172, A = 477.8, alpha = 0.34731, B = 2143.4, beta = 0.36717, with objective
 * 0.00101827 against 0.00106743 at Epoch's (rounded) values: ours is the lower point. The
 * objective is nearly flat along a valley in (b, beta), so B moves by 2.8% while the objective moves
 * in the 4th digit; a mean instead of a sum would not change the minimiser (only the scale), so the
 * gap is the optimiser's stopping point in that valley (scipy's L-BFGS-B defaults there) and the
 * rounding of the published values. Tolerances: E 0.5%, alpha and beta 0.005 absolute, A 3%, B 5%. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "fit/fit.h"

static void load(fit_data *d) {
    char err[512], path[4096];
    const char *root = getenv("SCALELAB_TESTDATA");
    snprintf(path, sizeof path, "%s/chinchilla/svg_extracted_data.csv", root ? root : "tests/data");
    fit_table t;
    if (fit_table_read_csv(path, &t, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(fit_table_derive(&t, "tokens=[Training FLOP]/6/[Model Size]", err, sizeof err), 0);
    fit_filter f;
    assert_int_equal(fit_filter_parse("loss<3.446995", &f, err, sizeof err), 0);
    const char *x[] = {"Model Size", "tokens"};
    if (fit_data_select(&t, x, 2, "loss", NULL, &f, 1, d, err, sizeof err)) fail_msg("%s", err);
    fit_table_free(&t);
}

static void test_epoch_optimum(void **state) {
    (void)state;
    fit_data d;
    load(&d);
    assert_int_equal(d.n, 240);
    fit_options o;
    fit_options_default(&o); /* Huber 1e-3, Hoffmann's grid */
    assert_int_equal(fit_grid_size(&o.grid, 2), 4500);
    fit_result r;
    char err[256];
    assert_int_equal(fit_law_fit(&d, &o, &r, err, sizeof err), 0);
    double p[5];
    fit_law_natural(&r.law, r.law.theta, p);
    print_message("E %.5g A %.5g alpha %.5g B %.5g beta %.5g objective %.8g\n", p[0], p[1], p[2], p[3], p[4], r.objective);
    assert_true(fabs(p[0] / 1.82 - 1) < 0.005);
    assert_true(fabs(p[1] / 482.01 - 1) < 0.03);
    assert_true(fabs(p[2] - 0.3478) < 0.005);
    assert_true(fabs(p[3] / 2085.43 - 1) < 0.05);
    assert_true(fabs(p[4] - 0.3658) < 0.005);
    double epoch[5] = {log(1.82), log(482.01), 0.3478, log(2085.43), 0.3658};
    double f_epoch = fit_objective(&d, epoch, FIT_LOSS_HUBER, 1e-3, NULL);
    assert_true(r.objective <= f_epoch);
    assert_true(fabs(r.objective - 0.00101827) < 1e-7);
    /* the constrained minimiser changes nothing here: the optimum is interior; the verdict is ok */
    fit_diagnostics g;
    assert_int_equal(fit_law_diagnose(&d, &r, NULL, &g, err, sizeof err), 0);
    assert_int_equal(g.verdict, FIT_VERDICT_OK);
    assert_int_equal(g.n_at_bound, 0);
    assert_true(g.rel_se[2] < 0.1 && g.rel_se[4] < 0.1); /* alpha, beta: about 3% */
    fit_diagnostics_free(&g);
    /* BFGS2 (an independent minimiser) from a small grid around the basin ends on the same point */
    o.method = FIT_METHOD_BFGS2;
    assert_int_equal(fit_grid_parse("e=0:1:0.5,a=5:10:5,alpha=0:0.5:0.5", &o.grid, err, sizeof err), 0);
    o.screen_iter = o.max_iter;
    fit_result rb;
    assert_int_equal(fit_law_fit(&d, &o, &rb, err, sizeof err), 0);
    assert_true(fabs(rb.objective - r.objective) < 1e-9);
    fit_result_free(&rb);
    fit_result_free(&r);
    fit_data_free(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_epoch_optimum)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
