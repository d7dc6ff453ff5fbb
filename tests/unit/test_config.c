/* Run config: parsing (YAML and JSON), checks and their messages, --set,
 * resolution, canonical JSON and hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "model/config.h"
#include "util/util.h"

typedef struct fixture {
    char dir[64];
    char path[128];
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/scalelab-config-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->path, sizeof f->path, "%s/run.yaml", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Loads text (as a file) over the defaults; returns load's status, err filled. */
static int load_text(fixture *f, const char *text, model_config *c, char *err, size_t errlen) {
    assert_int_equal(util_write_file_atomic(f->path, text, strlen(text), err, errlen), 0);
    model_config_default(c);
    return model_config_load(c, f->path, err, errlen);
}

static void expect_load_error(fixture *f, const char *text, const char *const *needles) {
    model_config c;
    char err[512] = "";
    int rc = load_text(f, text, &c, err, sizeof err);
    if (!rc) rc = model_config_resolve(&c, err, sizeof err);
    assert_int_not_equal(rc, 0);
    for (; *needles; needles++) {
        if (!strstr(err, *needles)) fail_msg("error '%s' lacks '%s' (input: %s)", err, *needles, text);
    }
}

static void test_defaults_resolve(void **state) {
    (void)state;
    model_config c;
    char err[256];
    model_config_default(&c);
    assert_int_equal(model_config_resolve(&c, err, sizeof err), 0);
    assert_int_equal(c.n_kv_head, 4);
    assert_int_equal(c.head_dim, 32);
    assert_int_equal(c.mlp_hidden, 512);
    assert_int_equal(c.normalize, MODEL_NORMALIZE_SUM);
    assert_string_equal(c.data_source, "synthetic:recall");
    char *json = model_config_canonical_json(&c);
    /* The contract: sorted sections and keys, power keys in, window out, exact numbers. */
    assert_string_equal(json,
        "{\"data\":{\"source\":\"synthetic:recall\"},"
        "\"model\":{\"chunk\":64,\"d_model\":128,\"gating\":true,\"head_dim\":32,\"mixer\":\"power\","
        "\"mlp_hidden\":512,\"n_head\":4,\"n_kv_head\":4,\"n_layer\":4,\"norm\":\"layernorm\","
        "\"normalize\":\"sum\",\"p\":2,\"tie_embeddings\":false,\"vocab_size\":256},"
        "\"train\":{\"batch_size\":16,\"context\":512,\"eval_every\":100,\"eval_tokens\":65536,"
        "\"grad_clip\":1,\"lr\":0.003,\"min_lr_ratio\":0.1,\"precision\":\"auto\",\"seed\":0,"
        "\"tokens\":2000000,\"warmup_steps\":50,\"weight_decay\":0.1}}");
    free(json);
}

static void test_odd_p_defaults_to_rms(void **state) {
    (void)state;
    model_config c;
    char err[256];
    model_config_default(&c);
    assert_int_equal(model_config_set(&c, "model.p", "3", err, sizeof err), 0);
    assert_int_equal(model_config_resolve(&c, err, sizeof err), 0);
    assert_int_equal(c.normalize, MODEL_NORMALIZE_RMS);
    model_config_default(&c);
    assert_int_equal(model_config_set(&c, "model.p", "1", err, sizeof err), 0);
    assert_int_equal(model_config_set(&c, "model.normalize", "sum", err, sizeof err), 0);
    assert_int_equal(model_config_resolve(&c, err, sizeof err), 0);
    assert_int_equal(c.normalize, MODEL_NORMALIZE_SUM); /* an explicit choice wins */
}

static void test_load_yaml_block_and_flow(void **state) {
    fixture *f = *state;
    model_config c;
    char err[512];
    assert_int_equal(load_text(f,
        "# comment\nmodel:\n  d_model: 64\n  n_head: 8\n  n_kv_head: 2\n  mixer: window\n  window: 1024\n"
        "train: {context: 256, tokens: 2e6, lr: 1e-3, seed: 18446744073709551615}\n"
        "data:\n  source: \"file:data/x.bin\"\n", &c, err, sizeof err), 0);
    assert_int_equal(model_config_resolve(&c, err, sizeof err), 0);
    assert_int_equal(c.d_model, 64);
    assert_int_equal(c.head_dim, 8);
    assert_int_equal(c.n_kv_head, 2);
    assert_int_equal(c.mixer, MODEL_MIXER_WINDOW);
    assert_int_equal(c.window, 1024); /* wider than the context: legal, full attention */
    assert_int_equal(c.tokens, 2000000);
    assert_true(c.lr == 1e-3);
    assert_true(c.seed == UINT64_MAX);
    assert_string_equal(c.data_source, "file:data/x.bin");
    /* Empty file and empty sections: the defaults. */
    assert_int_equal(load_text(f, "", &c, err, sizeof err), 0);
    assert_int_equal(c.d_model, 128);
    assert_int_equal(load_text(f, "model:\ntrain:\n", &c, err, sizeof err), 0);
}

static void test_unknown_keys_named_with_line_and_suggestion(void **state) {
    fixture *f = *state;
    expect_load_error(f, "model:\n  d_model: 64\n  n_heads: 4\n",
                      (const char *const[]){f->path, ":3:", "model.n_heads", "did you mean model.n_head", NULL});
    expect_load_error(f, "train:\n  context: 64\n  lerning_rate: 1\n  lr: 2\n",
                      (const char *const[]){":3:", "train.lerning_rate", NULL});
    expect_load_error(f, "modle:\n  d_model: 64\n",
                      (const char *const[]){":1:", "unknown section 'modle'", "did you mean model", NULL});
    /* A key in the wrong section points to its real home. */
    expect_load_error(f, "model:\n  lr: 0.1\n", (const char *const[]){":2:", "did you mean train.lr", NULL});
    expect_load_error(f, "model:\n  d_model: 64\n  d_model: 32\n", (const char *const[]){":3:", "duplicate", NULL});
    expect_load_error(f, "model: [1, 2]\n", (const char *const[]){":1:", "mapping", NULL});
    expect_load_error(f, "model:\n  d_model: [64]\n", (const char *const[]){":2:", "single value", NULL});
    expect_load_error(f, "model:\n  d_model: 64\n bad indent\n", (const char *const[]){"YAML syntax error", NULL});
    expect_load_error(f, "model: {d_model: 64}\n---\nmodel: {d_model: 32}\n",
                      (const char *const[]){"more than one YAML document", NULL});
    /* A file that never ends is refused before it is read (it used to be read until memory ran out). */
    model_config z;
    char zerr[512];
    model_config_default(&z);
    assert_int_not_equal(model_config_load(&z, "/dev/zero", zerr, sizeof zerr), 0);
    if (!strstr(zerr, "/dev/zero: not a regular file")) fail_msg("%s", zerr);
}

static void test_types_and_ranges(void **state) {
    fixture *f = *state;
    expect_load_error(f, "model:\n  d_model: abc\n", (const char *const[]){":2:", "model.d_model", "integer", "'abc'", NULL});
    expect_load_error(f, "model:\n  d_model: 1.5\n", (const char *const[]){":2:", "integer", NULL});
    expect_load_error(f, "model:\n  d_model: \"64\"\n", (const char *const[]){":2:", "the string \"64\"", NULL});
    expect_load_error(f, "model:\n  d_model: 0\n", (const char *const[]){"model.d_model", "integer in [1, 1048576]", NULL});
    expect_load_error(f, "model:\n  p: 5\n", (const char *const[]){"model.p", "[1, 4]", NULL});
    expect_load_error(f, "model:\n  vocab_size: 1\n", (const char *const[]){"model.vocab_size", NULL});
    expect_load_error(f, "model:\n  gating: yes\n", (const char *const[]){"model.gating", "true or false", NULL});
    expect_load_error(f, "model:\n  mixer: mamba\n", (const char *const[]){"softmax, window, power", "'mamba'", NULL});
    expect_load_error(f, "train:\n  lr: 0\n", (const char *const[]){"train.lr", "(0,", NULL});
    expect_load_error(f, "train:\n  lr: -1e-3\n", (const char *const[]){"train.lr", NULL});
    expect_load_error(f, "train:\n  min_lr_ratio: 1.5\n", (const char *const[]){"train.min_lr_ratio", NULL});
    expect_load_error(f, "train:\n  batch_size: -4\n", (const char *const[]){"train.batch_size", NULL});
    expect_load_error(f, "data:\n  source: \"synthetic:nope\"\n", (const char *const[]){"data.source", "synthetic:nope", NULL});
    expect_load_error(f, "data:\n  source: \"file:\"\n", (const char *const[]){"data.source", NULL});
}

static void test_inconsistent_shapes(void **state) {
    fixture *f = *state;
    expect_load_error(f, "model: {n_head: 4, n_kv_head: 3}\n", (const char *const[]){"n_kv_head", "multiple", NULL});
    expect_load_error(f, "model: {n_head: 4, n_kv_head: 8}\n", (const char *const[]){"n_kv_head", NULL});
    expect_load_error(f, "model: {d_model: 100, n_head: 3}\n", (const char *const[]){"divisible", NULL});
    expect_load_error(f, "model: {chunk: 48}\ntrain: {context: 512}\n",
                      (const char *const[]){"train.context (512)", "model.chunk (48)", NULL});
    expect_load_error(f, "train: {context: 512, eval_tokens: 100}\n", (const char *const[]){"eval_tokens", NULL});
    /* A power state the kernels cannot index is refused with its size, not overflowed:
     * head_dim 512 at p 4 is D = C(515, 4) = 2.9e9; head_dim 65536 at p 4 is 7.7e17. */
    expect_load_error(f, "model: {mixer: power, p: 4, d_model: 512, n_head: 1}\n",
                      (const char *const[]){"model.head_dim 512", "model.p 4", "2.9e+09", NULL});
    expect_load_error(f, "model: {mixer: power, p: 4, d_model: 1024, n_head: 1, head_dim: 65536}\n",
                      (const char *const[]){"model.head_dim 65536", "7.69e+17", NULL});
    /* The chunk only matters for power; head_dim given explicitly lifts the divisibility rule. */
    model_config c;
    char err[512];
    assert_int_equal(load_text(f, "model: {mixer: softmax, chunk: 48, d_model: 100, n_head: 3, head_dim: 32}\n",
                               &c, err, sizeof err), 0);
    assert_int_equal(model_config_resolve(&c, err, sizeof err), 0);
    /* The largest power states still accepted: p 4 at head_dim 128 (D = 11.2M, x 129 < 2^31). */
    assert_int_equal(load_text(f, "model: {mixer: power, p: 4, d_model: 128, n_head: 1}\n", &c, err, sizeof err), 0);
    assert_int_equal(model_config_resolve(&c, err, sizeof err), 0);
}

static void test_set(void **state) {
    (void)state;
    model_config c;
    char err[512];
    model_config_default(&c);
    const char *good[] = {"model.d_model=256", "train.lr=1e-4", "model.gating=false", "data.source=synthetic:markov",
                          "train.tokens=3e6", "model.mixer=softmax", "model.tie_embeddings=true"};
    assert_int_equal(model_config_apply_sets(&c, good, 7, err, sizeof err), 0);
    assert_int_equal(c.d_model, 256);
    assert_true(c.lr == 1e-4);
    assert_int_equal(c.gating, 0);
    assert_int_equal(c.tokens, 3000000);
    assert_int_equal(c.mixer, MODEL_MIXER_SOFTMAX);
    assert_int_equal(c.tie_embeddings, 1);
    assert_string_equal(c.data_source, "synthetic:markov");
    char value[64];
    assert_int_equal(model_config_get(&c, "train.lr", value, sizeof value), 0);
    assert_string_equal(value, "0.0001");
    assert_int_equal(model_config_get(&c, "model.mixer", value, sizeof value), 0);
    assert_string_equal(value, "softmax");
    assert_int_equal(model_config_get(&c, "data.source", value, sizeof value), 0);
    assert_string_equal(value, "synthetic:markov");
    assert_int_equal(model_config_get(&c, "model.nope", value, sizeof value), -1);
    assert_true(model_config_key_count() >= 28);

    struct { const char *set, *needle; } bad[] = {
        {"model.n_layer=1.5", "integer"}, {"model.n_layer=abc", "'abc'"}, {"model.gating=1", "true or false"},
        {"model.d_modle=3", "did you mean model.d_model"}, {"d_model=3", "did you mean model.d_model"},
        {"modl.d_model=3", "unknown section"}, {"model.d_model", "key=value"}, {"=3", "key=value"},
        {"train.seed=-1", "train.seed"}, {"model.n_head=", "model.n_head"},
        /* 2^64 and above: used to pass the range check (k->max rounds to 2^64) and be cast to 0 */
        {"train.seed=1.8446744073709552e19", "train.seed"}, {"train.seed=18446744073709551616", "train.seed"},
        {"train.seed=99999999999999999999", "train.seed"}, {"train.seed=2e19", "train.seed"},
        {"train.precision=fp16", "train.precision"}, {"train.precision=BF16", "train.precision"},
    };
    /* precision: auto is the default; the explicit values keep their meaning */
    model_config_default(&c);
    assert_int_equal(c.precision, MODEL_PRECISION_AUTO);
    const char *const precisions[][2] = {{"train.precision=fp32", "fp32"}, {"train.precision=bf16", "bf16"},
                                         {"train.precision=auto", "auto"}};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(model_config_apply_sets(&c, &precisions[i][0], 1, err, sizeof err), 0);
        assert_int_equal(model_config_get(&c, "train.precision", value, sizeof value), 0);
        assert_string_equal(value, precisions[i][1]);
        assert_string_equal(model_precision_name(c.precision), precisions[i][1]);
    }
    /* the largest seed is kept exactly */
    model_config_default(&c);
    const char *max_seed[] = {"train.seed=18446744073709551615"};
    assert_int_equal(model_config_apply_sets(&c, max_seed, 1, err, sizeof err), 0);
    assert_true(c.seed == UINT64_MAX);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *one[] = {bad[i].set};
        model_config_default(&c);
        assert_int_not_equal(model_config_apply_sets(&c, one, 1, err, sizeof err), 0);
        if (!strstr(err, bad[i].needle) || !strstr(err, "--set"))
            fail_msg("--set %s: error '%s' lacks '%s'", bad[i].set, err, bad[i].needle);
    }
}

static void hash_of(const char *const *sets, size_t n, char out[17]) {
    model_config c;
    char err[512];
    model_config_default(&c);
    assert_int_equal(model_config_apply_sets(&c, sets, n, err, sizeof err), 0);
    assert_int_equal(model_config_resolve(&c, err, sizeof err), 0);
    model_config_hash(&c, out);
}

static void test_hash_ignores_unused_keys(void **state) {
    (void)state;
    char a[17], b[17];
    hash_of(NULL, 0, a);
    assert_int_equal(strlen(a), 16);
    hash_of((const char *const[]){"model.window=7"}, 1, b); /* power ignores window */
    assert_string_equal(a, b);
    hash_of((const char *const[]){"model.n_kv_head=4", "model.head_dim=32", "model.mlp_hidden=512"}, 3, b);
    assert_string_equal(a, b); /* explicit values equal to the derived ones */
    hash_of((const char *const[]){"model.chunk=32"}, 1, b);
    assert_string_not_equal(a, b);
    hash_of((const char *const[]){"model.mixer=softmax"}, 1, a);
    hash_of((const char *const[]){"model.mixer=softmax", "model.p=3", "model.chunk=8", "model.gating=false",
                                  "model.normalize=rms", "model.window=9"}, 6, b);
    assert_string_equal(a, b);
    hash_of((const char *const[]){"model.mixer=window"}, 1, a);
    hash_of((const char *const[]){"model.mixer=window", "model.p=1"}, 2, b);
    assert_string_equal(a, b);
    hash_of((const char *const[]){"model.mixer=window", "model.window=64"}, 2, b);
    assert_string_not_equal(a, b);
    hash_of((const char *const[]){"train.seed=1"}, 1, a);
    hash_of((const char *const[]){"train.seed=2"}, 1, b);
    assert_string_not_equal(a, b);
}

static void test_canonical_round_trip(void **state) {
    fixture *f = *state;
    const char *variants[][4] = {
        {"model.mixer=power", "model.p=3", "train.lr=0.0031415926535897933", "train.seed=18446744073709551615"},
        {"model.mixer=softmax", "model.n_kv_head=2", "train.weight_decay=0", "data.source=file:a b/\"q\".bin"},
        {"model.mixer=window", "model.window=4096", "model.norm=rmsnorm", "data.source=synthetic:recall:100"},
    };
    for (size_t v = 0; v < 3; v++) {
        model_config c, back;
        char err[512], h1[17], h2[17];
        model_config_default(&c);
        assert_int_equal(model_config_apply_sets(&c, variants[v], 4, err, sizeof err), 0);
        assert_int_equal(model_config_resolve(&c, err, sizeof err), 0);
        char *json = model_config_canonical_json(&c);
        assert_int_equal(load_text(f, json, &back, err, sizeof err), 0);
        assert_int_equal(model_config_resolve(&back, err, sizeof err), 0);
        char *json2 = model_config_canonical_json(&back);
        assert_string_equal(json, json2);
        model_config_hash(&c, h1);
        model_config_hash(&back, h2);
        assert_string_equal(h1, h2);
        assert_true(back.lr == c.lr && back.seed == c.seed && back.weight_decay == c.weight_decay);
        free(json);
        free(json2);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_resolve),
        cmocka_unit_test(test_odd_p_defaults_to_rms),
        cmocka_unit_test_setup_teardown(test_load_yaml_block_and_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_keys_named_with_line_and_suggestion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_types_and_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inconsistent_shapes, setup, teardown),
        cmocka_unit_test(test_set),
        cmocka_unit_test(test_hash_ignores_unused_keys),
        cmocka_unit_test_setup_teardown(test_canonical_round_trip, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
