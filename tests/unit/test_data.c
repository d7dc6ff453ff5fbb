/* Data: shard preparation and loading, the document split, bad shards,
 * deterministic batches and the synthetic tasks' own invariants. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "model/data.h"
#include "util/util.h"

typedef struct fixture {
    char dir[64];
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/scalelab-data-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc;
}

static void write_file(const char *dir, const char *name, const void *data, size_t len) {
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (util_write_file_atomic(path, data, len, err, sizeof err)) fail_msg("%s", err);
}

/* A shard written by hand: header fields as given, then body bytes. */
static void write_shard(const char *dir, const char *name, const char *magic, uint32_t version, uint32_t vocab,
                        uint32_t width, uint64_t count, const void *body, size_t body_len) {
    unsigned char buf[4096] = {0};
    memcpy(buf, magic, 8);
    uint32_t w[4] = {version, vocab, width, 0};
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 4; b++) buf[8 + 4 * i + b] = (unsigned char)(w[i] >> (8 * b));
    for (int b = 0; b < 8; b++) buf[24 + b] = (unsigned char)(count >> (8 * b));
    memcpy(buf + 32, body, body_len);
    write_file(dir, name, buf, 32 + body_len);
}

static void expect_open_error(const char *dir, const char *name, int vocab, const char *needle) {
    char src[256], err[512] = "";
    model_data *d;
    snprintf(src, sizeof src, "file:%s/%s", dir, name);
    assert_int_not_equal(model_data_open(src, vocab, 0, &d, err, sizeof err), 0);
    assert_null(d);
    if (!strstr(err, needle) || !strstr(err, name)) fail_msg("error '%s' lacks '%s' or the file name", err, needle);
}

static void test_bad_shards(void **state) {
    fixture *f = *state;
    const unsigned char body[8] = {'a', 'b', 0, 'c', 'd', 'e', 0, 'f'};
    write_shard(f->dir, "good.bin", "SLTOKENS", 1, 256, 1, 8, body, 8);
    model_data *d;
    char src[256], err[512];
    snprintf(src, sizeof src, "file:%s/good.bin", f->dir);
    assert_int_equal(model_data_open(src, 256, 0, &d, err, sizeof err), 0);
    model_data_close(d);

    write_shard(f->dir, "magic.bin", "NOTTOKEN", 1, 256, 1, 8, body, 8);
    expect_open_error(f->dir, "magic.bin", 256, "magic");
    write_shard(f->dir, "trunc.bin", "SLTOKENS", 1, 256, 1, 100, body, 8);
    expect_open_error(f->dir, "trunc.bin", 256, "truncated");
    write_shard(f->dir, "trail.bin", "SLTOKENS", 1, 256, 1, 4, body, 8);
    expect_open_error(f->dir, "trail.bin", 256, "trailing");
    expect_open_error(f->dir, "good.bin", 512, "vocabulary size 256");
    write_shard(f->dir, "version.bin", "SLTOKENS", 7, 256, 1, 8, body, 8);
    expect_open_error(f->dir, "version.bin", 256, "version 7");
    write_shard(f->dir, "width.bin", "SLTOKENS", 1, 256, 3, 2, body, 6);
    expect_open_error(f->dir, "width.bin", 256, "width 3");
    /* Two-byte tokens, vocabulary 300, one token (310) outside it. */
    const unsigned char wide[6] = {10, 0, 0x36, 0x01, 5, 0};
    write_shard(f->dir, "range.bin", "SLTOKENS", 1, 300, 2, 3, wide, 6);
    expect_open_error(f->dir, "range.bin", 300, "token 1 is 310");
    write_file(f->dir, "short.bin", "SLTOK", 5);
    expect_open_error(f->dir, "short.bin", 256, "magic");
    expect_open_error(f->dir, "missing.bin", 256, "No such file");
}

/* 25 documents, document i made of the letter 'A'+i: every window of the
 * validation split holds only letter 'T' (document 19) and separators. */
static void test_prepare_load_split(void **state) {
    fixture *f = *state;
    char tree[128], err[512];
    snprintf(tree, sizeof tree, "%s/tree", f->dir);
    assert_int_equal(util_mkdir_p(tree, err, sizeof err), 0);
    for (int i = 0; i < 25; i++) {
        char name[32], text[64];
        snprintf(name, sizeof name, "doc%02d.txt", i);
        memset(text, 'A' + i, (size_t)(10 + i));
        write_file(tree, name, text, (size_t)(10 + i));
    }
    const unsigned char binary[4] = {'x', 0, 'y', 0};
    write_file(tree, "zz.bin", binary, 4);
    write_file(tree, "empty.txt", "", 0);
    char out[128], src[160];
    snprintf(out, sizeof out, "%s/shard.bin", f->dir);
    const char *paths[] = {tree};
    model_data_prepare_stats st;
    assert_int_equal(model_data_prepare(paths, 1, out, &st, err, sizeof err), 0);
    assert_int_equal(st.files_read, 25);
    assert_int_equal(st.files_skipped, 2);
    assert_int_equal(st.documents, 25);
    assert_int_equal(st.bytes, 25 * 10 + 24 * 25 / 2); /* sum of 10+i for i < 25 = 550 */

    char *shard;
    size_t len;
    assert_int_equal(util_read_file(out, &shard, &len, err, sizeof err), 0);
    assert_int_equal(len, 32 + 550 + 24);
    assert_memory_equal(shard, "SLTOKENS", 8);
    assert_int_equal(shard[32], 'A'); /* doc00 first: sorted by name */
    assert_int_equal(shard[32 + 10], 0);
    assert_int_equal(shard[32 + 11], 'B');

    model_data *d;
    snprintf(src, sizeof src, "file:%s", out);
    assert_int_equal(model_data_open(src, 256, 7, &d, err, sizeof err), 0);
    int32_t tok[4 * 33];
    int saw_train_letter[26] = {0};
    for (int b = 0; b < 20; b++) {
        assert_int_equal(model_data_batch(d, MODEL_SPLIT_VALID, b, 4, 32, tok, err, sizeof err), 0);
        for (int i = 0; i < 4 * 33; i++)
            if (tok[i] != 'T' && tok[i] != 0) fail_msg("validation window holds %d", tok[i]);
        assert_int_equal(model_data_batch(d, MODEL_SPLIT_TRAIN, b, 4, 32, tok, err, sizeof err), 0);
        for (int i = 0; i < 4 * 33; i++) {
            assert_int_not_equal(tok[i], 'T');
            if (tok[i]) saw_train_letter[tok[i] - 'A'] = 1;
        }
    }
    int letters = 0;
    for (int i = 0; i < 25; i++) letters += saw_train_letter[i];
    assert_true(letters >= 20); /* windows range over the whole train split */
    model_data_close(d);

    /* Same tree, same bytes; the second run replaces the first atomically. */
    char *again;
    assert_int_equal(model_data_prepare(paths, 1, out, &st, err, sizeof err), 0);
    assert_int_equal(util_read_file(out, &again, &len, err, sizeof err), 0);
    assert_memory_equal(shard, again, len);
    free(again);
    /* A failed prepare leaves the existing output alone. */
    const char *missing[] = {tree, "/nonexistent/scalelab"};
    assert_int_not_equal(model_data_prepare(missing, 2, out, &st, err, sizeof err), 0);
    assert_non_null(strstr(err, "/nonexistent/scalelab"));
    assert_int_equal(util_read_file(out, &again, &len, err, sizeof err), 0);
    assert_memory_equal(shard, again, len);
    free(again);
    free(shard);
}

static void test_small_splits_and_text_detection(void **state) {
    fixture *f = *state;
    char err[512], out[128], src[160];
    /* Latin-1 in a mostly ASCII file is text; mostly invalid UTF-8 is binary. */
    char latin[200];
    memset(latin, 'a', sizeof latin);
    latin[50] = (char)0xe9;
    write_file(f->dir, "a.txt", latin, sizeof latin);
    unsigned char noise[200];
    for (int i = 0; i < 200; i++) noise[i] = (unsigned char)(0x80 + (i * 37) % 64);
    write_file(f->dir, "b.dat", noise, sizeof noise);
    write_file(f->dir, "c.txt", "second document", 15);
    snprintf(out, sizeof out, "%s/s.bin", f->dir);
    char pa[128], pb[128], pc[128];
    snprintf(pa, sizeof pa, "%s/a.txt", f->dir);
    snprintf(pb, sizeof pb, "%s/b.dat", f->dir);
    snprintf(pc, sizeof pc, "%s/c.txt", f->dir);
    model_data_prepare_stats st;
    assert_int_equal(model_data_prepare((const char *const[]){pa, pb, pc}, 3, out, &st, err, sizeof err), 0);
    assert_int_equal(st.files_read, 2);
    assert_int_equal(st.files_skipped, 1);
    /* Two documents: the last is validation. */
    model_data *d;
    int32_t tok[2 * 9];
    snprintf(src, sizeof src, "file:%s", out);
    assert_int_equal(model_data_open(src, 256, 1, &d, err, sizeof err), 0);
    for (int b = 0; b < 10; b++) {
        assert_int_equal(model_data_batch(d, MODEL_SPLIT_VALID, b, 2, 8, tok, err, sizeof err), 0);
        for (int i = 0; i < 18; i++) assert_true(strchr("second document", tok[i]) && tok[i] != 'a');
    }
    model_data_close(d);
    /* One document: split by position, validation is its last 5%. */
    assert_int_equal(model_data_prepare((const char *const[]){pa}, 1, out, &st, err, sizeof err), 0);
    assert_int_equal(model_data_open(src, 256, 1, &d, err, sizeof err), 0);
    for (int b = 0; b < 10; b++) {
        assert_int_equal(model_data_batch(d, MODEL_SPLIT_VALID, b, 2, 8, tok, err, sizeof err), 0);
        for (int i = 0; i < 18; i++) assert_int_equal(tok[i], 'a'); /* positions 190..199 */
        assert_int_equal(model_data_batch(d, MODEL_SPLIT_TRAIN, b, 2, 8, tok, err, sizeof err), 0);
    }
    model_data_close(d);
    /* Only binary inputs: an error, no output. */
    char out2[160];
    snprintf(out2, sizeof out2, "%s/none.bin", f->dir);
    assert_int_not_equal(model_data_prepare((const char *const[]){pb}, 1, out2, &st, err, sizeof err), 0);
    assert_non_null(strstr(err, "no text files"));
    assert_int_not_equal(access(out2, F_OK), 0);
}

static void batch(const char *source, uint64_t seed, int split, int64_t index, int32_t *tok, int rows, int context) {
    model_data *d;
    char err[512];
    if (model_data_open(source, 256, seed, &d, err, sizeof err)) fail_msg("%s", err);
    if (model_data_batch(d, split, index, rows, context, tok, err, sizeof err)) fail_msg("%s", err);
    model_data_close(d);
}

static void test_synthetic_determinism(void **state) {
    (void)state;
    const char *sources[] = {"synthetic:recall", "synthetic:markov", "synthetic:recall:32"};
    enum { R = 3, T = 128, N = R * (T + 1) };
    for (int s = 0; s < 3; s++) {
        int32_t a[N], b[N];
        batch(sources[s], 5, MODEL_SPLIT_TRAIN, 3, a, R, T);
        batch(sources[s], 5, MODEL_SPLIT_TRAIN, 3, b, R, T);
        assert_memory_equal(a, b, sizeof a);
        batch(sources[s], 5, MODEL_SPLIT_VALID, 3, b, R, T);
        assert_memory_not_equal(a, b, sizeof a);
        batch(sources[s], 6, MODEL_SPLIT_TRAIN, 3, b, R, T);
        assert_memory_not_equal(a, b, sizeof a);
        batch(sources[s], 5, MODEL_SPLIT_TRAIN, 4, b, R, T);
        assert_memory_not_equal(a, b, sizeof a);
        assert_memory_not_equal(a, a + (T + 1), (T + 1) * sizeof a[0]); /* rows differ */
        for (int i = 0; i < N; i++) assert_true(a[i] > 0 && a[i] < 256);
    }
    model_data *d;
    char err[256];
    assert_int_not_equal(model_data_open("synthetic:recall", 128, 0, &d, err, sizeof err), 0);
    assert_non_null(strstr(err, "vocab_size must be >= 256"));
    assert_int_not_equal(model_data_open("synthetic:nope", 256, 0, &d, err, sizeof err), 0);
    assert_non_null(strstr(err, "synthetic:nope"));
}

/* The generator's invariant: a query's answer is the value bound to its key
 * by the latest definition before it, within max_gap tokens. Also checks
 * that long distances actually occur. */
static void check_recall(const char *source, int max_gap, int context, int *longest) {
    enum { ROWS = 8 };
    int32_t *tok = malloc(sizeof *tok * ROWS * (size_t)(context + 1));
    batch(source, 11, MODEL_SPLIT_TRAIN, 0, tok, ROWS, context);
    int queries = 0;
    *longest = 0;
    for (int r = 0; r < ROWS; r++) {
        const int32_t *t = tok + r * (context + 1);
        int def_pos[64], value[64];
        for (int k = 0; k < 64; k++) def_pos[k] = -1;
        for (int i = 0; i + 1 <= context; i++) {
            int is_key = t[i] >= 96 && t[i] < 160;
            if (!is_key) {
                assert_true(t[i] == 1 || (t[i] >= 32 && t[i] < 96) || t[i] >= 160);
                continue;
            }
            int k = t[i] - 96;
            assert_true(t[i + 1] >= 160 && t[i + 1] < 256); /* a key is always followed by a value */
            if (i > 0 && t[i - 1] == 1) {
                assert_true(def_pos[k] >= 0);             /* asked only after being defined */
                assert_int_equal(t[i + 1], value[k]);     /* the answer is determined */
                int gap = i - 1 - def_pos[k];
                assert_true(gap <= max_gap);
                if (gap > *longest) *longest = gap;
                queries++;
            } else {
                def_pos[k] = i, value[k] = t[i + 1];
            }
        }
    }
    assert_true(queries > ROWS * context / 20);
    free(tok);
}

static void test_recall_invariant(void **state) {
    (void)state;
    int longest;
    check_recall("synthetic:recall", 1 << 30, 2048, &longest);
    assert_true(longest > 512);
    check_recall("synthetic:recall:16", 16, 512, &longest);
    assert_true(longest <= 16 && longest > 8);
}

/* synthetic:markov: symbols 32..95, at most 8 successors per pair, and the
 * same language under every seed. */
static void test_markov(void **state) {
    (void)state;
    enum { T = 4096 };
    static int32_t a[T + 1], b[T + 1];
    static unsigned char succ[64][64][64];
    batch("synthetic:markov", 1, MODEL_SPLIT_TRAIN, 0, a, 1, T);
    batch("synthetic:markov", 2, MODEL_SPLIT_VALID, 9, b, 1, T);
    memset(succ, 0, sizeof succ);
    for (int s = 0; s < 2; s++) {
        const int32_t *t = s ? b : a;
        for (int i = 2; i <= T; i++) {
            assert_true(t[i] >= 32 && t[i] < 96);
            succ[t[i - 2] - 32][t[i - 1] - 32][t[i] - 32] = 1;
        }
    }
    int pairs = 0;
    for (int x = 0; x < 64; x++)
        for (int y = 0; y < 64; y++) {
            int n = 0;
            for (int z = 0; z < 64; z++) n += succ[x][y][z];
            assert_true(n <= 8);
            pairs += n > 0;
        }
    assert_true(pairs > 200);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bad_shards, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prepare_load_split, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_splits_and_text_detection, setup, teardown),
        cmocka_unit_test(test_synthetic_determinism),
        cmocka_unit_test(test_recall_invariant),
        cmocka_unit_test(test_markov),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
