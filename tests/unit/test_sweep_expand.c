/* Sweep specs at the key/value level: the expression language, spec parsing
 * and its errors, and the expansion of grid, zip, random, seeds, derived values
 * and constraints, against hand-computed expectations. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sweep/sweep.h"

static int map_lookup(void *ctx, const char *key, util_value *out, char *err, size_t errlen) {
    const char *const *kv = ctx;
    for (; kv[0]; kv += 2)
        if (!strcmp(kv[0], key)) {
            char *end;
            double x = strtod(kv[1], &end);
            *out = *end ? (util_value){.is_str = 1, .s = kv[1], .len = strlen(kv[1])} : (util_value){.num = x};
            return 0;
        }
    snprintf(err, errlen, "unknown key %s", key);
    return -1;
}

static const char *vars[] = {"model.d_model", "256", "model.n_head", "4", "model.mixer", "power", "zero", "0", NULL};

static double num(const char *e) {
    util_value v;
    char err[512];
    size_t col;
    int rc = util_expr_eval(e, map_lookup, (void *)vars, &v, &col, err, sizeof err);
    if (rc) fail_msg("%s: %s", e, err);
    assert_false(v.is_str);
    return v.num;
}

static void expr_fails(const char *e, const char *want, size_t want_col) {
    util_value v;
    char err[512] = "";
    size_t col = 999;
    assert_int_not_equal(util_expr_eval(e, map_lookup, (void *)vars, &v, &col, err, sizeof err), 0);
    if (!strstr(err, want)) fail_msg("%s: error \"%s\" lacks \"%s\"", e, err, want);
    assert_int_equal(col, want_col);
}

static void test_expr_arithmetic(void **state) {
    (void)state;
    assert_true(num("1 + 2 * 3") == 7);
    assert_true(num("(1 + 2) * 3") == 9);
    assert_true(num("7 / 2") == 3.5);
    assert_true(num("7 // 2") == 3);
    assert_true(num("-7 // 2") == -4);   /* floors, like Python */
    assert_true(num("-7 % 3") == 2);     /* takes the divisor's sign */
    assert_true(num("7 % -3") == -2);
    assert_true(num("2 ** 3 ** 2") == 512); /* right associative */
    assert_true(num("-2 ** 2") == -4);      /* ** binds tighter than unary minus */
    assert_true(num("2 ** -1") == 0.5);
    assert_true(num("min(3, 1, 2) + max(4, 9)") == 10);
    assert_true(num("1.5e3 - .5") == 1499.5);
    assert_true(num("${model.d_model} // 64") == 4);
    assert_true(num("model.d_model % model.n_head == 0") == 1);
    assert_true(num("model.d_model / model.n_head") == 64);
}

static void test_expr_logic(void **state) {
    (void)state;
    assert_true(num("1 < 2 and not 3 == 4") == 1);
    assert_true(num("2 <= 2 and 3 >= 4") == 0);
    assert_true(num("1 != 1 or 5 > 4") == 1);
    assert_true(num("not 0") == 1);
    assert_true(num("true and false") == 0);
    /* short circuit: the right side is never evaluated */
    assert_true(num("zero != 0 and 1 / zero > 1") == 0);
    assert_true(num("zero == 0 or 1 // zero") == 1);
    assert_true(num("model.mixer == 'power'") == 1);
    assert_true(num("${model.mixer} != \"softmax\" and model.n_head > 2") == 1);
    util_value v;
    char err[256];
    assert_int_equal(util_expr_eval("${model.mixer}", map_lookup, (void *)vars, &v, NULL, err, sizeof err), 0);
    assert_true(v.is_str);
    char text[64];
    util_value_format(&v, text, sizeof text);
    assert_string_equal(text, "power");
    v = (util_value){.num = 12};
    util_value_format(&v, text, sizeof text);
    assert_string_equal(text, "12");
    v = (util_value){.num = 0.001};
    util_value_format(&v, text, sizeof text);
    assert_true(strtod(text, NULL) == 0.001);
}

/* The functions and bracketed references fit's --derive and --where use. */
static void test_expr_functions(void **state) {
    (void)state;
    assert_true(fabs(num("log(exp(2.5))") - 2.5) < 1e-15);
    assert_true(fabs(num("exp(log(model.d_model)) - 256")) < 1e-12);
    assert_true(num("[model.d_model] / [model.n_head]") == 64);
    assert_true(num("max(log(1), -1)") == 0);
    expr_fails("log(0 - 1)", "log of a number that is not positive", 0);
    expr_fails("1 + log(zero)", "log of a number that is not positive", 4);
    expr_fails("exp(1000)", "exp overflows", 0);
    expr_fails("[model.d_model", "unterminated [", 0);
    expr_fails("log(1", "expected )", 5);
    expr_fails("log('a')", "log needs numbers", 4);
    /* a key may be called log: only "log(" calls the function */
    expr_fails("log + 1", "unknown key log", 0);
    char err[256] = "";
    size_t col = 0;
    assert_int_equal(util_expr_check("log(x) > [a b] and y / 0 < 1", &col, err, sizeof err), 0);
    assert_int_not_equal(util_expr_check("a < < 2", &col, err, sizeof err), 0);
    assert_int_equal(col, 4);
}

static void test_expr_errors(void **state) {
    (void)state;
    expr_fails("1 / zero", "division by zero", 2);
    expr_fails("5 // (zero)", "division by zero", 2);
    expr_fails("3 % 0", "division by zero", 2);
    expr_fails("1 +", "unexpected end", 3);
    expr_fails("1 2", "unexpected text", 2);
    expr_fails("(1 + 2", "expected )", 6);
    expr_fails("${model.nope} + 1", "unknown key model.nope", 0);
    expr_fails("model.mixer + 1", "needs numbers", 12);
    expr_fails("1 < 2 < 3", "chained", 6);
    expr_fails("`rm -rf /`", "unexpected '`'", 0);
    expr_fails("10 ** 400", "overflows", 3);
    expr_fails("min 3", "expected (", 4);
}

/* ---- specs ------------------------------------------------------------------ */

static int parse(const char *text, sweep_spec *s, char *err, size_t errlen) {
    return sweep_spec_parse("t.yaml", text, strlen(text), s, err, errlen);
}

static void spec_fails(const char *text, const char *want) {
    sweep_spec s;
    char err[1024] = "";
    int rc = parse(text, &s, err, sizeof err);
    if (!rc) {
        sweep_spec_free(&s);
        fail_msg("spec parsed but should fail with \"%s\":\n%s", want, text);
    }
    if (!strstr(err, want)) fail_msg("error \"%s\" lacks \"%s\"", err, want);
}

static void test_spec_errors(void **state) {
    (void)state;
    spec_fails("name: a\ngrid: {model.d_model: [16, 32}\n", "t.yaml:2:");
    spec_fails("name: a\ngrid: {model.d_model: [16, 32}\n", "YAML syntax error");
    spec_fails("name: a\ngird:\n  model.d_model: [1]\n", "t.yaml:2:1: gird: unknown key");
    spec_fails("name: a\ngrid:\n  model.d_model: 16\n", "t.yaml:3:18: model.d_model: expected a list");
    spec_fails("name: a\ngrid:\n  model.d_model: []\n", "t.yaml:3:18: model.d_model: empty list");
    spec_fails("name: a\ngrid: {}\n", "t.yaml:2:7: grid: empty");
    spec_fails("name: a\nretries: many\n", "t.yaml:2:10: retries: expected a number");
    spec_fails("name: a\nretries: -1\n", "retries: expected a whole number >= 0");
    spec_fails("grid: {model.d_model: [16]}\n", "name: missing");
    spec_fails("name: a\nzip: {model.d_model: [16, 32], model.n_layer: [1]}\n", "equal lengths");
    spec_fails("name: a\nrandom: {n: 3, params: {train.lr: {log_uniform: [0, 1]}}}\n", "positive");
    spec_fails("name: a\nrandom: {n: 3, params: {train.lr: {gaussian: [0, 1]}}}\n", "unknown distribution");
    spec_fails("name: a\nrandom: {params: {train.lr: {uniform: [0, 1]}}}\n", "random.n: missing");
    spec_fails("name: a\nisoflop: {budgets: []}\n", "isoflop.budgets: expected a non-empty list");
    spec_fails("name: a\nisoflop: {budgets: [-1]}\n", "budgets must be positive");
    spec_fails("name: a\nisoflop: {budgets: [1e9], min_tokens: 10, max_tokens: 5}\n", "min_tokens <= max_tokens");
    spec_fails("name: a\nisoflop: {budgets: [1e9]}\ngrid: {train.tokens: [5]}\n", "isoflop derives train.tokens");
    spec_fails("name: a\nbase: no/such/file.yaml\n", "t.yaml:2:7: base:");
    spec_fails("name: a\nconstraints: model.d_model > 1\n", "constraints: expected a list");
    spec_fails("name: a/b\n", "t.yaml:1:7: name: character 2 (byte 0x2f) is not allowed");
    spec_fails("- 1\n- 2\n", "a sweep spec is a mapping");
}

static sweep_points expand_ok(const char *text, const sweep_entry *defaults, size_t nd) {
    sweep_spec s;
    char err[1024];
    if (parse(text, &s, err, sizeof err)) fail_msg("parse: %s", err);
    sweep_points p;
    int rc = sweep_expand(&s, defaults, nd, &p, err, sizeof err);
    sweep_spec_free(&s);
    if (rc) fail_msg("expand: %s", err);
    return p;
}

static void expect(const sweep_point *p, const char *key, const char *value) {
    const char *v = sweep_point_get(p, key);
    if (!v || strcmp(v, value)) fail_msg("%s = %s, expected %s", key, v ? v : "(unset)", value);
}

static void test_expand_grid_zip_seeds_derived_constraints(void **state) {
    (void)state;
    const char *spec =
        "name: t\n"
        "base: {model: {d_model: 32, n_head: 2}, train: {lr: 0.001}}\n"
        "grid:\n"
        "  model.d_model: [32, 48, 64]\n"
        "  model: {n_head: [2, 4]}\n"
        "zip:\n"
        "  model.n_layer: [1, 2]\n"
        "  train.batch_size: [8, 4]\n"
        "seeds: [0, 1]\n"
        "derived:\n"
        "  model.mlp_hidden: \"${model.d_model} * 3\"\n"
        "  train.warmup_steps: \"${model.mlp_hidden} // ${model.n_layer}\"\n"
        "constraints:\n"
        "  - model.d_model % (model.n_head * 8) == 0\n";
    sweep_points p = expand_ok(spec, NULL, 0);
    /* (d_model, n_head): 48 with 4 heads fails 48 % 32; 5 shapes x 2 zip x 2 seeds */
    assert_int_equal(p.n, 20);
    assert_int_equal(p.n_filtered, 4);
    expect(&p.v[0], "model.d_model", "32");
    expect(&p.v[0], "model.n_head", "2");
    expect(&p.v[0], "model.n_layer", "1");
    expect(&p.v[0], "train.batch_size", "8");
    expect(&p.v[0], "train.seed", "0");
    expect(&p.v[0], "train.lr", "0.001");
    expect(&p.v[0], "model.mlp_hidden", "96");
    expect(&p.v[0], "train.warmup_steps", "96");
    expect(&p.v[1], "train.seed", "1"); /* seeds move fastest */
    expect(&p.v[2], "model.n_layer", "2");
    expect(&p.v[2], "train.batch_size", "4");
    expect(&p.v[2], "train.warmup_steps", "48");
    expect(&p.v[4], "model.n_head", "4");
    expect(&p.v[8], "model.d_model", "48");
    expect(&p.v[12], "model.d_model", "64");
    expect(&p.v[12], "model.n_head", "2");
    expect(&p.v[19], "model.mlp_hidden", "192");
    expect(&p.v[19], "train.warmup_steps", "96");
    for (size_t i = 0; i < p.n; i++) {
        const sweep_point *q = &p.v[i];
        int d = atoi(sweep_point_get(q, "model.d_model")), h = atoi(sweep_point_get(q, "model.n_head"));
        assert_int_equal(d % (h * 8), 0);
    }
    sweep_points_free(&p);
}

static void test_expand_defaults_and_errors(void **state) {
    (void)state;
    sweep_entry defaults[] = {{.key = "model.n_head", .value = "4"}, {.key = "model.d_model", .value = "128"}};
    sweep_points p = expand_ok("name: t\ngrid: {model.d_model: [64, 256]}\n"
                               "derived: {model.head_dim: \"${model.d_model} // model.n_head\"}\n",
                               defaults, 2);
    assert_int_equal(p.n, 2);
    expect(&p.v[0], "model.head_dim", "16");
    expect(&p.v[1], "model.head_dim", "64");
    sweep_points_free(&p);

    const struct { const char *spec, *want; } bad[] = {
        {"name: t\ngrid: {model.n_head: [0, 2]}\nderived:\n  model.head_dim: \"64 // ${model.n_head}\"\n",
         "t.yaml:4:19: model.head_dim: division by zero"},
        {"name: t\nderived:\n  model.a: \"${model.b} + 1\"\n  model.b: \"${model.a} + 1\"\n", "cycle"},
        {"name: t\nconstraints: [\"model.missing > 1\"]\n", "t.yaml:2:15: constraints[0]: unknown key model.missing"},
        {"name: t\ngrid: {model.d_model: [\"${model.d_model} * 2\"]}\n", "refers to itself"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sweep_spec s;
        char err[1024] = "";
        if (parse(bad[i].spec, &s, err, sizeof err)) fail_msg("parse: %s", err);
        int rc = sweep_expand(&s, NULL, 0, &p, err, sizeof err);
        sweep_spec_free(&s);
        if (!rc) fail_msg("expanded but should fail: %s", bad[i].spec);
        if (!strstr(err, bad[i].want)) fail_msg("error \"%s\" lacks \"%s\"", err, bad[i].want);
    }
}

static void test_expand_random(void **state) {
    (void)state;
    const char *spec = "name: r\nrandom:\n  n: 2000\n  seed: 7\n  params:\n"
                       "    train.lr: {log_uniform: [1e-4, 1e-2]}\n"
                       "    train.warmup_steps: {uniform: [10, 20], integer: true}\n"
                       "    model.mixer: {choice: [power, softmax, window]}\n"
                       "    train.min_lr_ratio: {uniform: [0, 1]}\n";
    sweep_points p = expand_ok(spec, NULL, 0), q = expand_ok(spec, NULL, 0);
    assert_int_equal(p.n, 2000);
    double sum_u = 0, sum_loglr = 0;
    int mixers[3] = {0};
    for (size_t i = 0; i < p.n; i++) {
        for (size_t k = 0; k < p.v[i].n; k++) assert_string_equal(p.v[i].kv[k].value, q.v[i].kv[k].value); /* seeded */
        double lr = strtod(sweep_point_get(&p.v[i], "train.lr"), NULL);
        assert_true(lr >= 1e-4 && lr <= 1e-2);
        sum_loglr += log10(lr);
        char *end;
        double w = strtod(sweep_point_get(&p.v[i], "train.warmup_steps"), &end);
        assert_true(*end == 0 && w == floor(w) && w >= 10 && w <= 20);
        double u = strtod(sweep_point_get(&p.v[i], "train.min_lr_ratio"), NULL);
        assert_true(u >= 0 && u < 1);
        sum_u += u;
        const char *m = sweep_point_get(&p.v[i], "model.mixer");
        int which = !strcmp(m, "power") ? 0 : !strcmp(m, "softmax") ? 1 : !strcmp(m, "window") ? 2 : -1;
        if (which < 0) fail_msg("mixer %s not among the choices", m);
        mixers[which]++;
    }
    /* uniform mean 0.5 (sd of the mean 0.0065); log-uniform: mean log10 = -3 (sd 0.013) */
    assert_true(fabs(sum_u / 2000 - 0.5) < 0.03);
    assert_true(fabs(sum_loglr / 2000 + 3) < 0.06);
    for (int i = 0; i < 3; i++) assert_true(mixers[i] > 550 && mixers[i] < 780);
    sweep_points_free(&q);
    /* another seed draws other values */
    char other[1024];
    snprintf(other, sizeof other, "%s", spec);
    *strstr(other, "seed: 7") = 0;
    strcat(other, "seed: 8\n  params:\n    train.lr: {log_uniform: [1e-4, 1e-2]}\n");
    q = expand_ok(other, NULL, 0);
    assert_string_not_equal(sweep_point_get(&p.v[0], "train.lr"), sweep_point_get(&q.v[0], "train.lr"));
    sweep_points_free(&p);
    sweep_points_free(&q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expr_arithmetic),
        cmocka_unit_test(test_expr_logic),
        cmocka_unit_test(test_expr_functions),
        cmocka_unit_test(test_expr_errors),
        cmocka_unit_test(test_spec_errors),
        cmocka_unit_test(test_expand_grid_zip_seeds_derived_constraints),
        cmocka_unit_test(test_expand_defaults_and_errors),
        cmocka_unit_test(test_expand_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
