/* Sweep specs that try to exhaust the parsers: recursion (alias cycles, deep
 * nesting, long chains of derived values, long runs of unary operators) and
 * memory (huge seed counts, random.n, grids, alias "billion laughs", a base that
 * never ends), and specs that used to be accepted silently (names outside the
 * safe set, zip groups past 256, a second YAML document, a data file that is
 * missing). Each must end in a clear error naming file:line, before memory is
 * spent. The address space is capped (outside sanitizer builds) so a regression
 * fails here quickly instead of exhausting the machine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "sweep/sweep.h"
#include "util/util.h"

static int parse(const char *text, sweep_spec *s, char *err, size_t errlen) {
    return sweep_spec_parse("t.yaml", text, strlen(text), s, err, errlen);
}

static void spec_fails(const char *text, const char *want) {
    sweep_spec s;
    char err[1024] = "";
    if (!parse(text, &s, err, sizeof err)) {
        sweep_spec_free(&s);
        fail_msg("spec parsed but should fail with \"%s\":\n%.200s", want, text);
    }
    if (!strstr(err, want)) fail_msg("error \"%s\" lacks \"%s\"", err, want);
}

/* Parses text (which must parse), then expands or plans it: that must fail with want. */
static void later_fails(const char *text, int do_plan, const char *want) {
    sweep_spec s;
    char err[1024] = "";
    if (parse(text, &s, err, sizeof err)) {
        if (strstr(err, want)) return; /* found even earlier: better */
        fail_msg("parse: %s", err);
    }
    int rc;
    if (do_plan) {
        sweep_plan p;
        rc = sweep_plan_build(&s, &p, err, sizeof err);
        if (!rc) sweep_plan_free(&p);
    } else {
        sweep_points p;
        rc = sweep_expand(&s, NULL, 0, &p, err, sizeof err);
        if (!rc) sweep_points_free(&p);
    }
    sweep_spec_free(&s);
    if (!rc) fail_msg("%s succeeded but should fail with \"%s\"", do_plan ? "plan" : "expand", want);
    if (!strstr(err, want)) fail_msg("error \"%s\" lacks \"%s\"", err, want);
}

static char *repeat(const char *head, const char *unit, size_t n, const char *tail) {
    util_buf b = {0};
    util_buf_puts(&b, head);
    for (size_t i = 0; i < n; i++) util_buf_puts(&b, unit);
    util_buf_puts(&b, tail);
    return b.data;
}

/* ---- item 5: recursion ------------------------------------------------------- */

static void test_alias_cycle(void **state) {
    (void)state;
    /* 52 bytes: the mapping holds itself. */
    spec_fails("name: bad\nbase: &r {model: {d_model: 16}, self: *r}", "t.yaml:2:");
    spec_fails("name: bad\nbase: &r {model: {d_model: 16}, self: *r}", "nested");
    spec_fails("name: bad\ngrid: &g {model.d_model: [16], more: *g}\n", "nested");
    spec_fails("name: bad\nderived: &d {model.d_model: '${x}', more: *d}\n", "nested");
}

static void test_deep_nesting(void **state) {
    (void)state;
    for (int section = 0; section < 3; section++) {
        const char *head = section == 0 ? "name: deep\nbase: " : section == 1 ? "name: deep\ngrid: "
                                                                              : "name: deep\nderived: ";
        util_buf b = {0};
        util_buf_puts(&b, head);
        for (int i = 0; i < 13000; i++) util_buf_puts(&b, "{a: ");
        util_buf_puts(&b, "[1]");
        for (int i = 0; i < 13000; i++) util_buf_puts(&b, "}");
        util_buf_puts(&b, "\n");
        spec_fails(b.data, "t.yaml:2:");
        spec_fails(b.data, "nested more than");
        util_buf_free(&b);
    }
}

static void test_derived_chain(void **state) {
    (void)state;
    util_buf b = {0};
    util_buf_puts(&b, "name: chain\ngrid: {k0: [1]}\nderived:\n");
    for (int i = 1760; i >= 1; i--) util_buf_printf(&b, "  k%d: '${k%d} + 1'\n", i, i - 1);
    later_fails(b.data, 0, "chain of derived values");
    later_fails(b.data, 0, "t.yaml:");
    util_buf_free(&b);
    /* A chain within the limit still works. */
    util_buf c = {0};
    util_buf_puts(&c, "name: chain\ngrid: {k0: [1]}\nderived:\n");
    for (int i = 12; i >= 1; i--) util_buf_printf(&c, "  k%d: '${k%d} + 1'\n", i, i - 1);
    sweep_spec s;
    char err[1024];
    if (parse(c.data, &s, err, sizeof err)) fail_msg("%s", err);
    sweep_points p;
    if (sweep_expand(&s, NULL, 0, &p, err, sizeof err)) fail_msg("%s", err);
    assert_string_equal(sweep_point_get(&p.v[0], "k12"), "13");
    sweep_points_free(&p);
    sweep_spec_free(&s);
    util_buf_free(&c);
    /* The worst the limits allow fits the stack (also under ASan): a chain as long
     * as allowed, each value nested as deep as allowed around its reference. */
    util_buf w = {0};
    util_buf_puts(&w, "name: chain\ngrid: {k0: [1]}\nderived:\n");
    for (int i = SWEEP_MAX_CHAIN; i >= 1; i--) {
        util_buf_printf(&w, "  k%d: '", i);
        for (int j = 0; j < UTIL_EXPR_MAX_DEPTH - 2; j++) util_buf_puts(&w, "(");
        util_buf_printf(&w, "${k%d} + 1", i - 1);
        for (int j = 0; j < UTIL_EXPR_MAX_DEPTH - 2; j++) util_buf_puts(&w, ")");
        util_buf_puts(&w, "'\n");
    }
    if (parse(w.data, &s, err, sizeof err)) fail_msg("%s", err);
    if (sweep_expand(&s, NULL, 0, &p, err, sizeof err)) fail_msg("%s", err);
    char want[16];
    snprintf(want, sizeof want, "%d", SWEEP_MAX_CHAIN + 1);
    assert_string_equal(sweep_point_get(&p.v[0], "k16"), want);
    sweep_points_free(&p);
    sweep_spec_free(&s);
    util_buf_free(&w);
}

static void expr_fails(const char *e, const char *want) {
    util_value v;
    char err[512] = "";
    if (!util_expr_eval(e, NULL, NULL, &v, NULL, err, sizeof err)) fail_msg("%.40s... evaluated", e);
    if (!strstr(err, want)) fail_msg("error \"%.200s\" lacks \"%s\"", err, want);
}

static void test_expression_depth(void **state) {
    (void)state;
    char *minus = repeat("", "-", 23000, "1");
    char *pow = repeat("", "1 ** ", 23000, "1");
    char *nots = repeat("", "not ", 260000, "1");
    char *mixed = repeat("", "-(not ", 30000, "1");
    expr_fails(minus, "nested too deeply");
    expr_fails(pow, "nested too deeply");
    expr_fails(nots, "nested too deeply");
    expr_fails(mixed, "nested too deeply");
    free(minus), free(pow), free(nots), free(mixed);
    /* Within the limit, unary chains still evaluate. */
    util_value v;
    char err[512];
    char *ok = repeat("", "-", 40, "1");
    assert_int_equal(util_expr_eval(ok, NULL, NULL, &v, NULL, err, sizeof err), 0);
    assert_true(v.num == 1);
    free(ok);
    /* Through a spec, the error names the key's place. */
    char *spec = repeat("name: e\ngrid: {a: [1]}\nderived:\n  b: '${a} + ", "-", 23000, "1'\n");
    later_fails(spec, 0, "t.yaml:4:6: b: expression nested too deeply");
    free(spec);
}

/* ---- item 6: memory ---------------------------------------------------------- */

static void test_size_limits(void **state) {
    (void)state;
    spec_fails("name: s\nseeds: 1000000000\n", "t.yaml:2:8: seeds:");
    spec_fails("name: s\nrandom: {n: 1e8, params: {train.lr: {uniform: [0, 1]}}}\n", "t.yaml:2:");
    spec_fails("name: s\nrandom: {n: 1e8, params: {train.lr: {uniform: [0, 1]}}}\n", "more than");
    /* 10^7 points: refused before any point is built. */
    const char *grid = "name: g\ngrid:\n"
                       "  a: [0,1,2,3,4,5,6,7,8,9]\n  b: [0,1,2,3,4,5,6,7,8,9]\n  c: [0,1,2,3,4,5,6,7,8,9]\n"
                       "  d: [0,1,2,3,4,5,6,7,8,9]\n  e: [0,1,2,3,4,5,6,7,8,9]\n  f: [0,1,2,3,4,5,6,7,8,9]\n"
                       "  g: [0,1,2,3,4,5,6,7,8,9]\n";
    later_fails(grid, 0, "narrow the grid");
    later_fails(grid, 0, "t.yaml:3:");
    /* seeds and random multiply the grid too. */
    later_fails("name: g\ngrid: {a: [0,1,2,3,4,5,6,7,8,9]}\nseeds: 100000\n", 0, "narrow the grid");
    /* isoflop budgets multiply the runs. */
    util_buf b = {0};
    util_buf_puts(&b, "name: g\ngrid: {a: [0,1,2,3,4,5,6,7,8,9]}\nseeds: 1000\nisoflop:\n  budgets: [");
    for (int i = 0; i < 200; i++) util_buf_printf(&b, "%s%de9", i ? ", " : "", i + 1);
    util_buf_puts(&b, "]\n");
    later_fails(b.data, 0, "narrow the grid");
    util_buf_free(&b);
    /* 100,000 points are allowed, but not with 2,000 derived values copied into each. */
    util_buf w = {0};
    util_buf_puts(&w, "name: g\ngrid: {a: [0,1,2,3,4,5,6,7,8,9]}\nseeds: 10000\nderived:\n");
    for (int i = 0; i < 2000; i++) util_buf_printf(&w, "  k%d: '${a} + %d'\n", i, i);
    later_fails(w.data, 0, "values in all");
    util_buf_free(&w);
}

/* The largest seed count allowed parses in linear time (it reallocated per seed:
 * the spec fuzzer's input "seeds: 97218" took over 10 s under ASan). */
static void test_many_seeds_fast(void **state) {
    (void)state;
    sweep_spec s;
    char err[512];
    if (parse("name: s\nseeds: 100000\n", &s, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(s.n_seeds, 100000);
    assert_string_equal(s.seeds[99999].value, "99999");
    sweep_spec_free(&s);
}

static void test_billion_laughs(void **state) {
    (void)state;
    util_buf b = {0};
    util_buf_puts(&b, "name: lol\nbase:\n  l0: &l0 {a: 1, b: 1, c: 1, d: 1, e: 1, f: 1, g: 1, h: 1, i: 1, j: 1}\n");
    for (int i = 1; i < 9; i++) {
        util_buf_printf(&b, "  l%d: &l%d {", i, i);
        for (int j = 0; j < 10; j++) util_buf_printf(&b, "%s%c: *l%d", j ? ", " : "", 'a' + j, i - 1);
        util_buf_puts(&b, "}\n");
    }
    spec_fails(b.data, "t.yaml:");
    spec_fails(b.data, "too large");
    util_buf_free(&b);
    /* The same in the grid. */
    util_buf g = {0};
    util_buf_puts(&g, "name: lol\ngrid:\n  l0: &l0 {a: [1], b: [1], c: [1], d: [1], e: [1], f: [1], g: [1], h: [1]}\n");
    for (int i = 1; i < 9; i++) {
        util_buf_printf(&g, "  l%d: &l%d {", i, i);
        for (int j = 0; j < 8; j++) util_buf_printf(&g, "%s%c: *l%d", j ? ", " : "", 'a' + j, i - 1);
        util_buf_puts(&g, "}\n");
    }
    spec_fails(g.data, "too large");
    util_buf_free(&g);
}

static void test_endless_base(void **state) {
    (void)state;
    spec_fails("name: z\nbase: /dev/zero\n", "t.yaml:2:7: base:");
    spec_fails("name: z\nbase: /dev/zero\n", "not a regular file");
    sweep_spec s;
    char err[512];
    assert_int_not_equal(sweep_spec_load("/dev/zero", &s, err, sizeof err), 0);
    if (!strstr(err, "not a regular file")) fail_msg("%s", err);
}

/* ---- item 8: names ------------------------------------------------------------- */

static void test_names(void **state) {
    (void)state;
    spec_fails("name: ..\n", "t.yaml:1:7: name:");
    spec_fails("name: ..\n", "[A-Za-z0-9._-]");
    spec_fails("name: .hidden\n", "start with '.'");
    spec_fails("name: \"a\\nb\"\n", "name:");
    spec_fails("name: a%jb\n", "name:");
    spec_fails("name: a b\n", "name:");
    spec_fails("name: a/b\n", "name:");
    spec_fails("name: ''\n", "name:");
    char *longname = repeat("name: ", "x", 65, "\n");
    spec_fails(longname, "64");
    free(longname);
    const char *good[] = {"name: a\n", "name: scale-law_v2.1\n", "name: A9\n"};
    for (size_t i = 0; i < 3; i++) {
        sweep_spec s;
        char err[512];
        if (parse(good[i], &s, err, sizeof err)) fail_msg("%s: %s", good[i], err);
        sweep_spec_free(&s);
    }
    char *max = repeat("name: ", "x", 64, "\n");
    sweep_spec s;
    char err[512];
    if (parse(max, &s, err, sizeof err)) fail_msg("%s", err);
    sweep_spec_free(&s);
    free(max);
}

/* ---- item 9: specs accepted silently --------------------------------------------- */

static void test_many_zip_groups(void **state) {
    (void)state;
    util_buf b = {0};
    util_buf_puts(&b, "name: z\nzip:\n");
    for (int i = 0; i < 300; i++) util_buf_printf(&b, "  - {k%d: [%d]}\n", i, i);
    sweep_spec s;
    char err[512];
    if (parse(b.data, &s, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(s.n_zips, 300);
    sweep_points p;
    if (sweep_expand(&s, NULL, 0, &p, err, sizeof err)) fail_msg("%s", err);
    assert_string_equal(sweep_point_get(&p.v[0], "k299"), "299");
    sweep_points_free(&p);
    sweep_spec_free(&s);
    util_buf_free(&b);
}

static void test_second_document(void **state) {
    (void)state;
    spec_fails("name: a\n---\nname: b\ngrid: {model.d_model: [16]}\n", "t.yaml:2:");
    spec_fails("name: a\n---\nname: b\n", "more than one YAML document");
    char path[] = "/tmp/scalelab-limits-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *two = "model: {d_model: 16}\n---\nmodel: {d_model: 32}\n";
    assert_int_equal(write(fd, two, strlen(two)), (ssize_t)strlen(two));
    close(fd);
    char spec[200];
    snprintf(spec, sizeof spec, "name: a\nbase: %s\n", path);
    spec_fails(spec, "more than one YAML document");
    unlink(path);
}

static void test_missing_data_file_at_plan(void **state) {
    (void)state;
    later_fails("name: d\nbase: {model: {mixer: softmax, d_model: 16, n_layer: 1, n_head: 2},\n"
                "       data: {source: 'file:/no/such/corpus.bin'}}\ngrid: {train.lr: [0.001, 0.002]}\n",
                1, "t.yaml:3:23: data.source:");
    later_fails("name: d\nbase: {model: {mixer: softmax, d_model: 16, n_layer: 1, n_head: 2}}\n"
                "grid: {data.source: ['synthetic:recall', 'file:/no/such/corpus.bin']}\n",
                1, "/no/such/corpus.bin");
}

static int cap_memory(void **state) {
    (void)state;
    /* A regression should fail fast, not take the machine's memory. ASan reserves
     * terabytes of address space, so only the plain build is capped. */
    if (!getenv("SCALELAB_SANITIZED")) {
        struct rlimit rl = {.rlim_cur = (rlim_t)2 << 30, .rlim_max = RLIM_INFINITY};
        setrlimit(RLIMIT_AS, &rl);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1) cmocka_set_test_filter(argv[1]); /* one test by name */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alias_cycle),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_derived_chain),
        cmocka_unit_test(test_expression_depth),
        cmocka_unit_test(test_size_limits),
        cmocka_unit_test(test_many_seeds_fast),
        cmocka_unit_test(test_billion_laughs),
        cmocka_unit_test(test_endless_base),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_many_zip_groups),
        cmocka_unit_test(test_second_document),
        cmocka_unit_test(test_missing_data_file_at_plan),
    };
    return cmocka_run_group_tests(tests, cap_memory, NULL);
}
