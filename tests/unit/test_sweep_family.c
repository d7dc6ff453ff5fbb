/* sweep/family: a family YAML -> the configs it can build. Every member re-resolves and its
 * accounting equals model_flops of the resolved config; for small softmax members the numbers are
 * checked against DESIGN section 4 by hand; invalid combinations are counted and left out,
 * identical configs (a key the mixer ignores) kept once; values may be expressions (the family is
 * expanded by sweep_expand); edges and errors with file and line. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "model/model.h"
#include "sweep/sweep.h"

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void check_members(const sweep_family *f) {
    for (size_t i = 0; i < f->n; i++) {
        model_config c = f->configs[i];
        char err[512];
        if (model_config_resolve(&c, err, sizeof err)) fail_msg("member %zu does not re-resolve: %s", i, err);
        assert_memory_equal(&c, &f->configs[i], sizeof c); /* resolving again changes nothing */
        model_flops fl;
        model_flops_compute(&c, &fl);
        const sweep_family_member *m = &f->members[i];
        assert_true(m->params == fl.params && m->W == fl.weight_flops_per_token && m->S == fl.state_flops_per_token);
        assert_true(m->state_size == fl.state_size && m->state_dim == fl.state_dim && m->wsfr == fl.wsfr);
        assert_true(sweep_family_value(m, "weight_flops_per_token") == m->W);
        assert_true(sweep_family_value(m, "state_size") == m->state_size);
        assert_true(isnan(sweep_family_value(m, "lr")));
    }
}

static void test_repo_family(void **state) {
    (void)state;
    const char *root = getenv("SCALELAB_ROOT");
    char path[4096], err[1024];
    snprintf(path, sizeof path, "%s/configs/family-power.yaml", root ? root : ".");
    sweep_family f;
    if (sweep_family_load(path, &f, err, sizeof err)) fail_msg("%s", err);
    /* 8 widths x 7 depths x 2 head counts x 2 degrees x 2 contexts, all valid */
    assert_int_equal(f.n_combinations, 448);
    assert_int_equal(f.n, 448);
    assert_int_equal(f.n_invalid + f.n_duplicates, 0);
    check_members(&f);
    sweep_family_free(&f);
}

static void test_invalid_duplicates_by_hand(void **state) {
    (void)state;
    char err[1024];
    write_file("fam_base.yaml", "model: {mixer: softmax, n_layer: 1, vocab_size: 256}\ntrain: {context: 32}\n");
    /* n_head 3 divides neither width; p is ignored by softmax, so p 1 and 2 are one config */
    write_file("fam.yaml", "base: fam_base.yaml\nd_model: [16, 32]\nn_head: [2, 3]\np: [1, 2]\n");
    sweep_family f;
    if (sweep_family_load("fam.yaml", &f, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(f.n_combinations, 8);
    assert_int_equal(f.n_invalid, 4);
    assert_int_equal(f.n_duplicates, 2);
    assert_int_equal(f.n, 2);
    check_members(&f);
    /* by hand, DESIGN section 4 (softmax, L 1, h 2, T 32, V 256):
     *   d 16: P_layer = 4*16*16 + 2*16*64 = 3072, W = 2 (3072 + 16*256) = 14336, S = 2*2*8*33 = 1056,
     *         state size = L h_k 2 d T = 2*2*8*32 = 1024
     *   d 32: P_layer = 12288, W = 2 (12288 + 32*256) = 40960, S = 2*2*16*33 = 2112, state 2048 */
    size_t i16 = !strcmp(f.members[0].values[0], "16") ? 0 : 1, i32 = 1 - i16;
    assert_string_equal(f.keys[0], "model.d_model");
    assert_string_equal(f.members[i32].values[0], "32");
    assert_true(f.members[i16].W == 14336 && f.members[i16].S == 1056 && f.members[i16].state_size == 1024);
    assert_true(f.members[i32].W == 40960 && f.members[i32].S == 2112 && f.members[i32].state_size == 2048);
    /* d_model varies over the members; n_head and p do not (only 2 and the first p survive) */
    assert_true(sweep_family_key_varies(&f, 0));
    assert_false(sweep_family_key_varies(&f, 1));
    assert_false(sweep_family_key_varies(&f, 2));
    assert_int_equal(sweep_family_edge(&f, i32, 0), 1);
    assert_int_equal(sweep_family_edge(&f, i16, 0), -1);
    assert_int_equal(sweep_family_edge(&f, i16, 1), 0);
    assert_true(sweep_family_key_is_state("model.p") && !sweep_family_key_is_state("model.d_model"));
    sweep_family_free(&f);
    unlink("fam.yaml");
    unlink("fam_base.yaml");
}

static void test_expressions_and_edges(void **state) {
    (void)state;
    char err[1024];
    write_file("fam.yaml", "mixer: power\nn_head: [2, 4, 8]\nd_model: ['${model.n_head} * 32']\nn_layer: [2]\n");
    sweep_family f;
    if (sweep_family_load("fam.yaml", &f, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(f.n, 3);
    check_members(&f);
    for (size_t i = 0; i < f.n; i++) {
        model_config *c = &f.configs[i];
        assert_int_equal(c->d_model, 32 * c->n_head);
        assert_int_equal(c->head_dim, 32);
    }
    /* n_head 4 is interior; 2 and 8 are the edges */
    for (size_t i = 0; i < f.n; i++) {
        int want = f.configs[i].n_head == 2 ? -1 : f.configs[i].n_head == 8 ? 1 : 0;
        assert_int_equal(sweep_family_edge(&f, i, 1), want);
    }
    sweep_family_free(&f);
    unlink("fam.yaml");
}

static void expect_error(const char *text, const char *needle) {
    char err[1024] = "";
    sweep_family f;
    write_file("fam.yaml", text);
    assert_int_not_equal(sweep_family_load("fam.yaml", &f, err, sizeof err), 0);
    if (!strstr(err, needle)) fail_msg("error '%s' lacks '%s'", err, needle);
    unlink("fam.yaml");
}

static void test_errors(void **state) {
    (void)state;
    expect_error("mixer: [power]\nd_modl: [64]\n", "fam.yaml:2: 'd_modl' is not a run-config key");
    expect_error("d_model: [64]\nn_head: [5]\n", "fam.yaml: none of the 1 combinations is a valid run config");
    expect_error("d_model: [64, abc]\n", "fam.yaml:1: model.d_model");
    expect_error("d_model: []\n", "d_model: expected a value or a non-empty list");
    expect_error("base: missing.yaml\nd_model: [64]\n", "missing.yaml");
    expect_error("- 1\n- 2\n", "fam.yaml:1: expected a mapping");
    sweep_family f;
    char err[256];
    assert_int_not_equal(sweep_family_load("no-such-family.yaml", &f, err, sizeof err), 0);
    assert_non_null(strstr(err, "no-such-family.yaml: cannot open"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repo_family),
        cmocka_unit_test(test_invalid_duplicates_by_hand),
        cmocka_unit_test(test_expressions_and_edges),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
