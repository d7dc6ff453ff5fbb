/* `scalelab fit --sweep S` reads the finished runs of a sweep from a real store: runs drawn from a
 * known additive law in N, D and S are inserted and finished through the store API, pending and
 * failed runs beside them must be ignored, and the stored fit (read back with store_fit_get)
 * recovers the law; `recommend` then finds an interior optimum with S > 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/cli.h"
#include "fit/fit.h"
#include "store/store.h"

static double law(double N, double D, double S) {
    return 1.7 + 400 * pow(N, -0.34) + 400 * pow(D, -0.28) + 30 * pow(S, -0.2);
}

static void test_fit_from_sweep(void **state) {
    (void)state;
    char db[256], err[512];
    snprintf(db, sizeof db, "/tmp/test_fit_sweep_%d.db", (int)getpid());
    unlink(db);
    store *s;
    assert_int_equal(store_open(db, &s, err, sizeof err), 0);
    assert_int_equal(store_sweep_put(s, "grid", "name: grid", err, sizeof err), 0);
    enum { N_RUNS = 64 };
    store_run_new runs[N_RUNS];
    char json[N_RUNS][64], hash[N_RUNS][32];
    for (int i = 0; i < N_RUNS; i++) {
        double N = 1e6 * pow(10, (i % 4)), D = 1e8 * pow(10, (i / 4) % 4 * 0.8), S = 1e5 * pow(10, (i / 16) * 0.7);
        snprintf(json[i], sizeof json[i], "{\"i\":%d}", i);
        snprintf(hash[i], sizeof hash[i], "%016x", i + 1);
        memset(&runs[i], 0, sizeof runs[i]);
        runs[i].config_json = json[i];
        runs[i].config_hash = hash[i];
        runs[i].acc.params = N;
        runs[i].acc.tokens = D;
        runs[i].acc.state_flops_per_token = S;
        runs[i].acc.weight_flops_per_token = 2 * N;
        runs[i].acc.wsfr = 2 * N / S;
        runs[i].acc.training_flops = 3 * (2 * N + S) * D;
    }
    int64_t ids[N_RUNS];
    size_t n_new;
    assert_int_equal(store_runs_insert(s, "grid", runs, N_RUNS, ids, &n_new, err, sizeof err), 0);
    for (int i = 0; i < N_RUNS; i++) {
        if (i == 5) continue; /* stays pending */
        assert_int_equal(store_run_claim_id(s, ids[i], "host", "cpu", err, sizeof err), 0);
        if (i == 9) { /* failed: its loss must not be used */
            assert_int_equal(store_run_end(s, ids[i], STORE_FAILED, "boom", err, sizeof err), 0);
            continue;
        }
        double L = law(runs[i].acc.params, runs[i].acc.tokens, runs[i].acc.state_flops_per_token);
        assert_int_equal(store_run_finish(s, ids[i], L * 1.01, L, L, err, sizeof err), 0);
    }
    store_close(s);

    char *argv[] = {"fit", "--sweep", "grid", "--form", "additive", "--grid", "e=0:1:1,a=0:10:5,alpha=0:0.5:0.5",
                    "--db", db, "--json", NULL};
    assert_int_equal(cli_fit(10, argv), 0);
    char *argv2[] = {"fit", "--sweep", "nope", "--db", db, NULL};
    assert_int_equal(cli_fit(5, argv2), 1);

    assert_int_equal(store_open(db, &s, err, sizeof err), 0);
    store_fit f;
    assert_int_equal(store_fit_get(s, 0, &f, err, sizeof err), 0);
    assert_string_equal(f.form, "additive");
    assert_string_equal(f.source, "sweep:grid");
    assert_int_equal(f.n_points, N_RUNS - 2);
    double E, aN, aD, aS;
    assert_int_equal(store_json_number(s, f.params_json, "$.E", &E, err, sizeof err), 0);
    assert_int_equal(store_json_number(s, f.params_json, "$.alpha_params", &aN, err, sizeof err), 0);
    assert_int_equal(store_json_number(s, f.params_json, "$.alpha_tokens", &aD, err, sizeof err), 0);
    assert_int_equal(store_json_number(s, f.params_json, "$.alpha_state_flops_per_token", &aS, err, sizeof err), 0);
    assert_true(fabs(E - 1.7) < 1e-3 && fabs(aN - 0.34) < 1e-3 && fabs(aD - 0.28) < 1e-3 && fabs(aS - 0.2) < 1e-3);
    fit_law l;
    double *boot;
    size_t nb;
    store_fit_inputs in;
    assert_int_equal(store_fit_inputs_read(s, f.inputs_json, &in, err, sizeof err), 0);
    assert_int_equal(fit_law_from_parts(in.form, (const char *const *)in.x_cols, in.n_x, in.theta, in.n_theta,
                                        in.boot_theta, in.n_boot_values, &l, &boot, &nb, err, sizeof err), 0);
    store_fit_inputs_free(&in);
    fit_optimum o;
    assert_int_equal(fit_law_optimum(&l, 1e19, &o, err, sizeof err), 0);
    assert_true(o.S > 0 && o.N > 0 && fabs(3 * (o.W + o.S) * o.D / 1e19 - 1) < 1e-9);
    free(boot);
    fit_law_free(&l);
    store_fit_clear(&f);
    store_close(s);
    char *argv3[] = {"recommend", "--budget", "1e19", "--db", db, NULL};
    assert_int_equal(cli_recommend(5, argv3), 0);
    unlink(db);
}

/* Runs of two mixers: the mixer (and window, p) come from each run's config; a state term over
 * both is refused naming the mixers and --where mixer==NAME; --pool-mixers fits it at best weak;
 * one mixer fits; the verdict and diagnostics are stored with the fit. */
static void test_mixers_and_verdict(void **state) {
    (void)state;
    char db[256], err[512];
    snprintf(db, sizeof db, "/tmp/test_fit_sweep_mix_%d.db", (int)getpid());
    unlink(db);
    store *s;
    assert_int_equal(store_open(db, &s, err, sizeof err), 0);
    assert_int_equal(store_sweep_put(s, "mix", "name: mix", err, sizeof err), 0);
    enum { N_RUNS = 48 };
    store_run_new runs[N_RUNS];
    char json[N_RUNS][160], hash[N_RUNS][32];
    for (int i = 0; i < N_RUNS; i++) {
        int power = i % 2;
        double N = 1e6 * pow(10, (i / 2) % 4 * 0.5), St = 1e4 * pow(10, (i / 8) % 3 * 0.7), D = 1e8 * pow(4, i / 24);
        if (power)
            snprintf(json[i], sizeof json[i], "{\"model\":{\"mixer\":\"power\",\"p\":2,\"head_dim\":32},\"i\":%d}", i);
        else
            snprintf(json[i], sizeof json[i], "{\"model\":{\"mixer\":\"window\",\"window\":64,\"head_dim\":32},\"i\":%d}", i);
        snprintf(hash[i], sizeof hash[i], "%016x", i + 1);
        memset(&runs[i], 0, sizeof runs[i]);
        runs[i].config_json = json[i];
        runs[i].config_hash = hash[i];
        runs[i].acc.params = N;
        runs[i].acc.tokens = D;
        runs[i].acc.state_size = St;
        runs[i].acc.state_flops_per_token = St;
        runs[i].acc.weight_flops_per_token = 2 * N;
        runs[i].acc.wsfr = 2 * N / St;
        runs[i].acc.training_flops = 3 * (2 * N + St) * D;
    }
    int64_t ids[N_RUNS];
    size_t n_new;
    assert_int_equal(store_runs_insert(s, "mix", runs, N_RUNS, ids, &n_new, err, sizeof err), 0);
    for (int i = 0; i < N_RUNS; i++) {
        double L = 1.7 + 400 * pow(runs[i].acc.params, -0.34) + 30 * pow(runs[i].acc.state_size, -0.3) +
                   (i % 2 ? 0 : 0.05);
        assert_int_equal(store_run_claim_id(s, ids[i], "host", "cpu", err, sizeof err), 0);
        assert_int_equal(store_run_finish(s, ids[i], L, L, L, err, sizeof err), 0);
    }
    store_close(s);
    const char *grid = "e=0:1:1,a=0:10:5,alpha=0:0.5:0.5";
    char *pooled[] = {"fit", "--sweep", "mix", "--form", "additive", "--x", "params,state_size", "--grid", (char *)grid,
                      "--db", db, NULL, NULL};
    assert_int_equal(cli_fit(11, pooled), 1); /* refused: two mixers under a state term */
    pooled[11] = "--pool-mixers";
    assert_int_equal(cli_fit(12, pooled), 0);
    char *one[] = {"fit", "--sweep", "mix", "--form", "additive", "--x", "params,state_size", "--grid", (char *)grid,
                   "--where", "mixer==power", "--where", "p==2", "--db", db, NULL};
    assert_int_equal(cli_fit(15, one), 0);
    char *win[] = {"fit", "--sweep", "mix", "--form", "powerlaw", "--x", "params", "--grid", (char *)grid,
                   "--where", "window==64", "--db", db, NULL};
    assert_int_equal(cli_fit(13, win), 0);

    assert_int_equal(store_open(db, &s, err, sizeof err), 0);
    store_fit f;
    assert_int_equal(store_fit_get(s, 1, &f, err, sizeof err), 0); /* the pooled fit */
    assert_non_null(f.verdict);
    assert_string_not_equal(f.verdict, "ok");
    assert_non_null(strstr(f.diagnostics_json, "\"mixers\": [\"power\", \"window\"], \"pooled_mixers\": true"));
    assert_non_null(strstr(f.diagnostics_json, "pooled mixers (power, window)"));
    store_fit_clear(&f);
    assert_int_equal(store_fit_get(s, 2, &f, err, sizeof err), 0); /* power only */
    assert_int_equal(f.n_points, N_RUNS / 2);
    assert_string_equal(f.verdict, "ok");
    char **v;
    size_t nv;
    assert_int_equal(store_json_strings(s, f.diagnostics_json, "$.mixers", &v, &nv, err, sizeof err), 0);
    assert_int_equal(nv, 1);
    assert_string_equal(v[0], "power");
    store_strings_free(v, nv);
    store_fit_clear(&f);
    assert_int_equal(store_fit_get(s, 3, &f, err, sizeof err), 0); /* window == 64 picks the window runs */
    assert_int_equal(f.n_points, N_RUNS / 2);
    assert_non_null(strstr(f.diagnostics_json, "\"mixers\": [\"window\"]"));
    store_fit_clear(&f);
    store_close(s);
    unlink(db);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_fit_from_sweep), cmocka_unit_test(test_mixers_and_verdict)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
