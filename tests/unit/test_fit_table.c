/* fit/table: CSV reading (RFC 4180), filters, derived columns, and the clear errors every
 * degenerate input gets (each must name the row/line and the column). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fit/fit.h"

static char path[256];

static void write_csv(const char *text) {
    snprintf(path, sizeof path, "/tmp/test_fit_table_%d.csv", (int)getpid());
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Reads text as CSV, selects x cols / y, expects failure with every needle in the message. */
static void expect_error(const char *text, const char *xcols, const char *y, const char *where, size_t n_params,
                         const char *needle1, const char *needle2) {
    char err[1024] = "";
    fit_table t;
    fit_data d;
    write_csv(text);
    int rc = fit_table_read_csv(path, &t, err, sizeof err);
    if (!rc) {
        char xc[256];
        snprintf(xc, sizeof xc, "%s", xcols);
        const char *cols[4];
        size_t k = 0;
        for (char *s = strtok(xc, ","); s; s = strtok(NULL, ",")) cols[k++] = s;
        fit_filter f;
        if (where) assert_int_equal(fit_filter_parse(where, &f, err, sizeof err), 0);
        rc = fit_data_select(&t, cols, k, y, NULL, &f, where ? 1 : 0, &d, err, sizeof err);
        if (!rc) {
            rc = fit_data_check(&d, n_params, err, sizeof err);
            fit_data_free(&d);
        }
        fit_table_free(&t);
    }
    unlink(path);
    assert_int_not_equal(rc, 0);
    if (!strstr(err, needle1) || (needle2 && !strstr(err, needle2))) fail_msg("error '%s' lacks '%s'/'%s'", err, needle1, needle2 ? needle2 : "");
}

/* Rows with an empty, NaN or text cell in a used column are skipped and counted; the other
 * rows are the points; a cell outside the used columns never matters. */
static void test_missing_cells_skipped(void **state) {
    (void)state;
    char err[512];
    fit_table t;
    write_csv("N,D,loss,note\n1e6,1e9,3,\n2e6,,2.9,x\n4e6,3e9,nan,\n8e6,5e9,2.7,\n1e7,crashed,2.6,\n");
    assert_int_equal(fit_table_read_csv(path, &t, err, sizeof err), 0);
    unlink(path);
    const char *x[] = {"N", "D"};
    fit_data d;
    assert_int_equal(fit_data_select(&t, x, 2, "loss", NULL, NULL, 0, &d, err, sizeof err), 0);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.n_skipped, 3);
    assert_int_equal(d.row[0], 0);
    assert_int_equal(d.row[1], 3);
    assert_non_null(strstr(d.first_skipped, "line 3 (row 2), column 'D': empty"));
    fit_data_free(&d);
    fit_table_free(&t);
}

static void test_rfc4180(void **state) {
    (void)state;
    char err[512];
    fit_table t;
    write_csv("\"Name\",\"N\",\"loss\"\r\n\"a, \"\"quoted\"\"\nname\",\"100\",\"3.5\"\r\nplain,200,3.25\n\n");
    assert_int_equal(fit_table_read_csv(path, &t, err, sizeof err), 0);
    unlink(path);
    assert_int_equal(t.n_cols, 3);
    assert_int_equal(t.n_rows, 2);
    assert_string_equal(t.cells[0], "a, \"quoted\"\nname");
    assert_string_equal(t.cells[4], "200");
    assert_int_equal(t.lines[0], 2);
    assert_int_equal(t.lines[1], 4); /* the quoted line break counts */
    fit_filter f;
    assert_int_equal(fit_filter_parse("Name~quoted", &f, err, sizeof err), 0);
    const char *x[] = {"N"};
    fit_data d;
    assert_int_equal(fit_data_select(&t, x, 1, "loss", NULL, &f, 1, &d, err, sizeof err), 0);
    assert_int_equal(d.n, 1);
    assert_float_equal(d.x[0], 100, 0);
    assert_float_equal(d.y[0], 3.5, 0);
    fit_data_free(&d);
    fit_table_free(&t);
}

static void test_filters_and_derive(void **state) {
    (void)state;
    char err[512];
    fit_table t;
    write_csv("N,C,loss\n10,600,3\n20,2400,2.5\n40,9600,2\n80,38400,1.9\n");
    assert_int_equal(fit_table_read_csv(path, &t, err, sizeof err), 0);
    unlink(path);
    assert_int_equal(fit_table_derive(&t, "tokens=C/6/N", err, sizeof err), 0);
    assert_int_equal(fit_table_derive(&t, "twice=[tokens]*2", err, sizeof err), 0);
    assert_int_not_equal(fit_table_derive(&t, "bad=C/nope", err, sizeof err), 0);
    if (!strstr(err, "--derive 'bad=C/nope'") || !strstr(err, "no column 'nope'")) fail_msg("%s", err);
    /* the whole language: 17 terms (the old term list stopped at 16; the CSV fuzzer found its
     * overflow), +, -, **, log, exp, min, comparisons */
    assert_int_equal(fit_table_derive(&t, "t17=2*2*2*2*2*2*2*2*2*2*2*2*2*2*2*2*2", err, sizeof err), 0);
    assert_int_equal(fit_table_derive(&t, "lang=N + N ** 2 - min(N, 3) * (loss > 2) + log(exp(0))", err, sizeof err), 0);
    assert_string_equal(t.cells[1 * t.n_cols + t.n_cols - 2], "131072");
    assert_string_equal(t.cells[1 * t.n_cols + t.n_cols - 1], "417"); /* 20 + 400 - 3 * 1 */
    assert_int_not_equal(fit_table_derive(&t, "syntax=N * * 2", err, sizeof err), 0);
    if (!strstr(err, "--derive 'syntax=N * * 2'") || !strstr(err, "at column 5")) fail_msg("%s", err);
    assert_int_not_equal(fit_table_derive(&t, "no_name", err, sizeof err), 0);
    static const struct { const char *w; size_t n; } cases[] = {
        {"loss<2.5", 2}, {"loss<=2.5", 3}, {"loss>2", 2}, {"loss>=2", 3}, {"N==20", 1}, {"N!=20", 3}, {"tokens >= 40", 2}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fit_filter f[2];
        assert_int_equal(fit_filter_parse(cases[i].w, &f[0], err, sizeof err), 0);
        const char *x[] = {"N", "tokens"};
        fit_data d;
        assert_int_equal(fit_data_select(&t, x, 2, "loss", NULL, f, 1, &d, err, sizeof err), 0);
        assert_int_equal(d.n, cases[i].n);
        if (i == 0) assert_float_equal(d.x[1], 40, 1e-12); /* tokens of N = 40: 9600 / 6 / 40 */
        fit_data_free(&d);
    }
    /* two filters are ANDed */
    fit_filter f[2];
    assert_int_equal(fit_filter_parse("loss<3", &f[0], err, sizeof err), 0);
    assert_int_equal(fit_filter_parse("N<80", &f[1], err, sizeof err), 0);
    const char *x[] = {"twice"};
    fit_data d;
    assert_int_equal(fit_data_select(&t, x, 1, "loss", NULL, f, 2, &d, err, sizeof err), 0);
    assert_int_equal(d.n, 2);
    assert_float_equal(d.x[0], 40, 1e-12);
    fit_data_free(&d);
    /* an expression: any column on either side, functions, and/or */
    assert_int_equal(fit_filter_parse("log(N) > log(15) and tokens / N < 4 and loss >= 2", &f[0], err, sizeof err), 0);
    assert_int_equal(fit_data_select(&t, x, 1, "loss", NULL, f, 1, &d, err, sizeof err), 0);
    assert_int_equal(d.n, 2); /* N = 20 and 40 (N = 80 has loss 1.9) */
    fit_data_free(&d);
    assert_int_equal(fit_filter_parse("loss<abc", &f[0], err, sizeof err), 0);
    assert_int_not_equal(fit_data_select(&t, x, 1, "loss", NULL, f, 1, &d, err, sizeof err), 0);
    if (!strstr(err, "--where 'loss<abc'") || !strstr(err, "no column 'abc'")) fail_msg("%s", err);
    assert_int_not_equal(fit_filter_parse("no operator", &f[0], err, sizeof err), 0);
    assert_int_not_equal(fit_filter_parse("loss < < 2", &f[0], err, sizeof err), 0);
    if (!strstr(err, "at column 8")) fail_msg("%s", err);
    fit_table_free(&t);
}

/* A row where --where or --derive has no value (an empty cell, log of a negative) is skipped
 * and counted like a missing cell, the first one named; mixer==power (a bare word) still
 * compares text, unless the table has a column of that name. */
static void test_where_derive_skip_rows(void **state) {
    (void)state;
    char err[1024];
    fit_table t;
    write_csv("N,D,loss,mixer,window,power\n1,10,3,power,,7\n2,-20,2.9,window,64,7\n4,40,2.8,power,,4\n"
              "8,80,2.7,window,128,7\n16,160,2.6,power,,7\n");
    assert_int_equal(fit_table_read_csv(path, &t, err, sizeof err), 0);
    unlink(path);
    assert_int_equal(fit_table_derive(&t, "logD=log(D)", err, sizeof err), 0);
    const char *x[] = {"N"};
    fit_filter f[2];
    fit_data d;
    assert_int_equal(fit_filter_parse("logD > 0", &f[0], err, sizeof err), 0);
    assert_int_equal(fit_data_select(&t, x, 1, "loss", NULL, f, 1, &d, err, sizeof err), 0);
    assert_int_equal(d.n, 4);
    assert_int_equal(d.n_skipped, 1);
    if (!strstr(d.first_skipped, "line 3 (row 2)") || !strstr(d.first_skipped, "column 'logD' is empty") ||
        !strstr(d.first_skipped, "log of a number that is not positive"))
        fail_msg("%s", d.first_skipped);
    fit_data_free(&d);
    /* the derived column as x: the same row, skipped with the same reason */
    const char *xl[] = {"logD"};
    assert_int_equal(fit_data_select(&t, xl, 1, "loss", NULL, NULL, 0, &d, err, sizeof err), 0);
    assert_int_equal(d.n_skipped, 1);
    fit_data_free(&d);
    /* an empty window: the power rows cannot say window < 100; skipped and counted */
    assert_int_equal(fit_filter_parse("window < 100", &f[0], err, sizeof err), 0);
    assert_int_equal(fit_data_select(&t, x, 1, "loss", NULL, f, 1, &d, err, sizeof err), 0);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.n_skipped, 3);
    if (!strstr(d.first_skipped, "line 2 (row 1): --where 'window < 100': column 'window' is empty"))
        fail_msg("%s", d.first_skipped);
    fit_data_free(&d);
    /* short circuit: the window of a power row is never read */
    assert_int_equal(fit_filter_parse("mixer == 'window' and window < 100", &f[0], err, sizeof err), 0);
    assert_int_equal(fit_data_select(&t, x, 1, "loss", NULL, f, 1, &d, err, sizeof err), 0);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.n_skipped, 0);
    fit_data_free(&d);
    /* a bare word is text only when it names no column */
    assert_int_equal(fit_filter_parse("mixer==power", &f[0], err, sizeof err), 0);
    assert_int_equal(fit_filter_parse("mixer!=window", &f[1], err, sizeof err), 0);
    assert_int_equal(fit_data_select(&t, x, 1, "loss", NULL, f, 1, &d, err, sizeof err), 0);
    assert_int_equal(d.n, 0); /* 'power' is a column (7, 7, 4, ...): mixer equals none of them */
    fit_data_free(&d);
    assert_int_equal(fit_data_select(&t, x, 1, "loss", NULL, f + 1, 1, &d, err, sizeof err), 0);
    /* mixer against the column window: text never equals a number; an empty window is missing */
    assert_int_equal(d.n, 2);
    assert_int_equal(d.n_skipped, 3);
    fit_data_free(&d);
    assert_int_equal(fit_filter_parse("mixer==window-x", &f[0], err, sizeof err), 0);
    assert_int_equal(fit_data_select(&t, x, 1, "loss", NULL, f, 1, &d, err, sizeof err), 0);
    assert_int_equal(d.n, 0);
    fit_data_free(&d);
    assert_int_equal(fit_filter_parse("mixer~pow", &f[0], err, sizeof err), 0);
    assert_int_equal(fit_data_select(&t, x, 1, "loss", NULL, f, 1, &d, err, sizeof err), 0);
    assert_int_equal(d.n, 3);
    fit_data_free(&d);
    fit_table_free(&t);
}

static void test_degenerate_inputs(void **state) {
    (void)state;
    const char *ok = "N,D,loss\n1e6,1e9,3\n2e6,2e9,2.9\n4e6,3e9,2.8\n8e6,5e9,2.7\n1e7,8e9,2.6\n2e7,1e10,2.5\n";
    expect_error(ok, "N,tokens", "loss", NULL, 5, "no column 'tokens'", "columns: 'N', 'D', 'loss'");
    expect_error(ok, "N,D", "Loss", NULL, 5, "no column 'Loss'", NULL);
    expect_error(ok, "N,D", "loss", "loss<2.75", 5, "3 points", "5 parameters");
    expect_error("N,D,loss\n1e6,1e9,3\n1e6,2e9,2.9\n1e6,3e9,2.8\n1e6,5e9,2.7\n1e6,8e9,2.6\n1e6,1e10,2.5\n",
                 "N,D", "loss", NULL, 5, "column 'N' is constant", NULL);
    expect_error("N,D,loss\n1e6,1e9,3\n2e6,2e9,-2.9\n", "N,D", "loss", NULL, 5, "line 3 (row 2), column 'loss'", "not positive");
    expect_error("N,D,loss\n1e6,1e9,3\n2e6,2e9,0\n", "N,D", "loss", NULL, 5, "line 3", "not positive");
    /* A missing cell skips its row (counted, the first named); too few rows are left to fit. */
    expect_error("N,D,loss\n1e6,1e9,3\n2e6,NaN,2.9\n", "N,D", "loss", NULL, 5, "line 3 (row 2), column 'D': NaN",
                 "1 rows skipped");
    expect_error("N,D,loss\n1e6,1e9,3\n2e6,2e9\n", "N,D", "loss", NULL, 5, ":3: ragged row: 2 fields, the header has 3", NULL);
    expect_error("N,D,loss\n1e6,1e9,3\n2e6,2e9,2.9,7\n", "N,D", "loss", NULL, 5, ":3: ragged row", NULL);
    expect_error("N,D,loss\n1e6,1e9,3\n2e6,abc,2.9\n", "N,D", "loss", NULL, 5, "column 'D': 'abc' is not a number", "line 3");
    expect_error("N,D,loss\n1e6,1e9,3\n2e6,,2.9\n", "N,D", "loss", NULL, 5, "column 'D': empty", "1 rows skipped");
    expect_error("N,D,loss\n1e6,\"1e9,3\n", "N,D", "loss", NULL, 5, ":2: quoted field never closed", NULL);
    expect_error("", "N,D", "loss", NULL, 5, "empty file", NULL);
    expect_error("N,N,loss\n1,2,3\n", "N", "loss", NULL, 3, "column 'N' appears twice", NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4180),
        cmocka_unit_test(test_filters_and_derive),
        cmocka_unit_test(test_where_derive_skip_rows),
        cmocka_unit_test(test_missing_cells_skipped),
        cmocka_unit_test(test_degenerate_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
