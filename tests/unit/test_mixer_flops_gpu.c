/* The CUDA backends' implementation FLOP count (kern_cuda_mixer_count_flops, kernels/cuda/flops.c)
 * against counts derived here by hand from the kernels' tiles and paddings, written out as
 * numbers so that a change in plan.h or flops.c that moves them fails here:
 *   - power, d64 p2 gated chunk 1024, bf16 defaults (fused state products over Dpad 2176 x np8
 *     72 x cpad 1024, 16 x 16 intra blocks, dphi over 1056 tokens x 2304 features x KP 80),
 *     and each opt-out switch moving the count the way its padding says;
 *   - power at the 4-layer bench shape, chunk 64: cpad 64, no padded token in the state
 *     products; chunks 192 and 96: cpad 192 and 128 (the chunk rounded up to 64);
 *   - flash attention at T = 128 (3 warpgroup tiles forward, 20 warp sub-tiles with
 *     SCALELAB_FLASH_WG=0; 2 whole tiles backward, 10 passes with SCALELAB_FLASH_BWD_WG=0), and the
 *     attn.cu fallback at head dim 48;
 *   - implementation >= model for every path and a grid of shapes.
 * Host arithmetic only: runs in every build, CUDA or not, without a GPU. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "kernels/kernels.h"

static kern_mixer_shape power_shape(int batch, int seq, int heads, int chunk) {
    kern_mixer_shape s = {.batch = batch, .seq = seq, .n_head = heads, .n_kv_head = heads, .head_dim = 64,
                          .kind = KERN_MIXER_POWER, .p = 2, .chunk = chunk, .gating = 1, .scale = 0.125, .eps = 1e-6};
    return s;
}

static kern_mixer_shape attn_shape(int seq, int d, int window) {
    kern_mixer_shape s = {.batch = 1, .seq = seq, .n_head = 2, .n_kv_head = 1, .head_dim = d,
                          .kind = window ? KERN_MIXER_WINDOW : KERN_MIXER_SOFTMAX, .window = window,
                          .scale = 0.125, .eps = 1e-6};
    return s;
}

static kern_flop_count_train count(const kern_mixer_shape *s, int bf16) {
    kern_flop_count_train t;
    kern_cuda_mixer_count_flops(s, bf16, &t);
    return t;
}

static void clear_switches(void) {
    unsetenv("SCALELAB_POWER_FUSED");
    unsetenv("SCALELAB_POWER_DPHI");
    unsetenv("SCALELAB_POWER_INTRA");
    unsetenv("SCALELAB_FLASH_BWD");
    unsetenv("SCALELAB_FLASH_WG");
    unsetenv("SCALELAB_FLASH_BWD_WG");
}

/* Exact in double: every count here is an integer below 2^53. */
#define EQ(a, b) assert_true((a) == (b))

static void test_power_defaults(void **state) {
    (void)state;
    clear_switches();
    /* b1 h8 d64 p2 chunk 1024 T 4096: R = 8 x 4 chunks, D = 2080 */
    kern_mixer_shape s = power_shape(1, 4096, 8, 1024);
    kern_flop_count_train t = count(&s, 1);
    double R = 32, st = 2.0 * 2176 * 72 * 1024, tile = 2.0 * 16 * 16 * 64 * (64 * 65 / 2),
           dphi = 2.0 * 1056 * 2304 * 80;
    EQ(t.forward.implementation, R * (st + tile * 2 + st));
    EQ(t.training.implementation, R * (2 * st + tile * 2 + 3 * st + 2 * dphi + tile * 7));
    /* DESIGN: per token h 2d(c+1) + (h + h_k) 2D(d+1), T tokens */
    EQ(t.forward.model, 4096.0 * (8 * 2 * 64 * 1025 + 16 * 2 * 2080 * 65));
    EQ(t.training.model, 3 * t.forward.model);
    /* the FP32 backend: cuBLAS throughout, [.|1] 68 wide, c x c blocks */
    kern_flop_count_train f = count(&s, 0);
    double cst = 2.0 * 2080 * 68 * 1024, cc = 1024.0 * 1024;
    EQ(f.forward.implementation, R * (cst + 2 * cc * 64 + 2 * cc * 68 + cst));
    EQ(f.training.implementation - f.forward.implementation,
       R * (3 * cst + 2 * cst + 3 * 2 * cc * 64 + 2 * 2 * cc * 68));
}

/* Each opt-out trades its kernel's padding for cuBLAS over ld1 (or c x c) extents. */
static void test_power_switches(void **state) {
    (void)state;
    clear_switches();
    kern_mixer_shape s = power_shape(1, 4096, 8, 1024);
    kern_flop_count_train on = count(&s, 1);
    double R = 32;
    setenv("SCALELAB_POWER_FUSED", "0", 1);
    kern_flop_count_train off = count(&s, 1);
    /* 2 state products forward (update, query), 3 in backward (update again, dS', d[V|1]),
     * each 2176 x 72 -> 2080 x 68 over 1024 tokens */
    double diff = 2.0 * 1024 * (2176.0 * 72 - 2080.0 * 68);
    EQ(on.forward.implementation - off.forward.implementation, R * 2 * diff);
    EQ(on.training.implementation - off.training.implementation, R * 5 * diff);
    clear_switches();
    setenv("SCALELAB_POWER_DPHI", "0", 1);
    off = count(&s, 1);
    EQ(off.forward.implementation, on.forward.implementation);
    EQ(off.training.implementation - on.training.implementation,
       R * 2 * (2.0 * 1024 * 2080 * 68 - 2.0 * 1056 * 2304 * 80));
    clear_switches();
    setenv("SCALELAB_POWER_INTRA", "0", 1);
    off = count(&s, 1);
    assert_true(off.forward.implementation > on.forward.implementation); /* whole c x c blocks */
    assert_true(off.training.implementation > on.training.implementation);
    setenv("SCALELAB_POWER_INTRA", "1", 1); /* only "0" opts out */
    EQ(count(&s, 1).training.implementation, on.training.implementation);
    clear_switches();
    /* the model count does not depend on the path */
    EQ(off.forward.model, on.forward.model);
}

/* The 4-layer bench's layer: b8 T2048 h4 d64 p2 chunk 64: cpad 64 runs each state product over
 * the chunk's 64 tokens (phi_mm in blocks of 64 tokens there; until cpad was rounded to 128,
 * twice that); intra 4 x 5 / 2 = 10 blocks of 16 x 16 per chunk. Then cpad at chunks 192
 * (192, not 256) and 96 (128), with 12 x 13 / 2 = 78 and 6 x 7 / 2 = 21 intra blocks. */
static void test_power_chunk64(void **state) {
    (void)state;
    clear_switches();
    kern_mixer_shape s = power_shape(8, 2048, 4, 64);
    kern_flop_count_train t = count(&s, 1);
    double R = 8 * 4 * 32, st = 2.0 * 2176 * 72 * 64, tile = 2.0 * 16 * 16 * 64 * 10;
    EQ(t.forward.implementation, R * (2 * st + 2 * tile));
    /* dphi: one block of 96 tokens for 64 */
    double dphi = 2.0 * 96 * 2304 * 80;
    EQ(t.training.implementation, t.forward.implementation + R * (3 * st + 2 * dphi + 7 * tile));
    s = power_shape(1, 1920, 4, 192); /* R = 4 x 10 */
    EQ(count(&s, 1).forward.implementation, 40 * (2 * (2.0 * 2176 * 72 * 192) + 2 * (2.0 * 16 * 16 * 64 * 78)));
    s = power_shape(1, 1920, 4, 96); /* R = 4 x 20 */
    EQ(count(&s, 1).forward.implementation, 80 * (2 * (2.0 * 2176 * 72 * 128) + 2 * (2.0 * 16 * 16 * 64 * 21)));
}

/* The forward at T = 128, d64: one block, 2 key tiles. flash_wg.cu (the default at d64):
 * warpgroup 0 (rows 0..63) sees tile 0, warpgroup 1 both: 3 tiles of QK^T and PV (64 x 64 x d
 * each). fwd_kernel (SCALELAB_FLASH_WG=0): 2 tiles of 2 x 32 keys; warp w (rows 16w .. 16w + 15)
 * sees sub-tiles starting at or below 16w + 15: 1 1 2 2 3 3 4 4 = 20 sub-tiles of QK^T and PV
 * (16 x 32 x d each). flash_wg_bwd.cu (the default at d64): one block of 128 keys, 2 query tiles,
 * each 4 products of 128 x 64 x d and dQ (64 x 128 x d), nothing skipped. bwd2_kernel
 * (SCALELAB_FLASH_BWD_WG=0): the same block and tiles (dQ 64 x 128 x d each), warps of 32 keys at
 * 0, 32, 64, 96 see 4, 3, 2, 1 passes of 32 queries (4 products of 32 x 32 x d each). n_head 2:
 * twice that. */
static void test_flash(void **state) {
    (void)state;
    clear_switches();
    kern_mixer_shape s = attn_shape(128, 64, 0);
    kern_flop_count_train t = count(&s, 1);
    double fwd = 2 * 3 * 2 * (2.0 * 64 * 64 * 64), bwd = 2 * 2 * 5 * (2.0 * 128 * 64 * 64);
    EQ(t.forward.implementation, fwd);
    EQ(t.training.implementation, fwd + bwd);
    EQ(t.forward.model, 2 * 4.0 * 64 * (128 * 129 / 2)); /* causal pairs, 4d each */
    setenv("SCALELAB_FLASH_WG", "0", 1);
    double fwd0 = 2 * 20 * 2 * (2.0 * 16 * 32 * 64);
    EQ(count(&s, 1).forward.implementation, fwd0);
    EQ(count(&s, 1).training.implementation, fwd0 + bwd);
    clear_switches();
    setenv("SCALELAB_FLASH_BWD_WG", "0", 1);
    double bwd2 = 2 * (10 * 4 * (2.0 * 32 * 32 * 64) + 2 * 2.0 * 64 * 128 * 64);
    EQ(count(&s, 1).training.implementation, fwd + bwd2);
    /* bwd_kernel (SCALELAB_FLASH_BWD=0 too): 8 warps of 16 keys, passes of 16: warp w sees 8 - w */
    setenv("SCALELAB_FLASH_BWD", "0", 1);
    double bwd1 = 2 * (36 * 4 * (2.0 * 16 * 16 * 64) + 2 * 2.0 * 64 * 128 * 64);
    EQ(count(&s, 1).training.implementation, fwd + bwd1);
    clear_switches();
    /* head dim 48 has no flash kernel: attn.cu's T x T blocks, 2 products forward, 5 backward */
    s = attn_shape(256, 48, 0);
    t = count(&s, 1);
    EQ(t.forward.implementation, 2 * 2 * (2.0 * 256 * 256 * 48));
    EQ(t.training.implementation, 2 * 7 * (2.0 * 256 * 256 * 48));
    /* and so does the FP32 backend at any head dim; window 100 at T 300: blocks of 100 against 199 keys */
    s = attn_shape(300, 64, 100);
    EQ(count(&s, 0).forward.implementation, 2 * 3 * 2 * (2.0 * 100 * 199 * 64));
}

/* flops.c counts flash's sub-tiles and passes as ranges (O(T)); here the same kernels' tile
 * walks one tile at a time (O(T^2): the loops the kernels run), for a grid of lengths, windows
 * and head dims, bwd2_kernel and bwd_kernel: the two must agree exactly. */
static double walk_forward(int T, int W, int d, int wg) {
    int R = wg ? 64 : 16, K = wg ? 64 : 32; /* a warpgroup's rows and whole tiles; a warp's, sub-tiles */
    double sub = 0;
    for (int q0 = 0; q0 < T; q0 += 128) {
        int kfirst = (q0 - W + 1 > 0 ? q0 - W + 1 : 0) / 64 * 64, klast = (q0 + 128 < T ? q0 + 128 : T) - 1;
        int kend = kfirst + ((klast - kfirst) / 64 + 1) * 64;
        for (int wr = q0; wr < q0 + 128; wr += R)
            for (int kh = kfirst; kh < kend; kh += K)
                if (kh <= wr + R - 1 && kh + K - 1 > wr - W) sub++;
    }
    return sub * 2 * (2.0 * R * K * d);
}
static double walk_backward(int T, int W, int d, int bwd2, int wg) {
    int KB = wg || bwd2 ? 128 : 16 * (d >= 32 ? 8 : 4), KW = bwd2 ? 32 : 16, QP = bwd2 ? 32 : 16;
    double passes = 0, tiles = 0;
    for (int k0 = 0; k0 < T; k0 += KB) {
        int qend = k0 + KB - 1 + W - 1 < T - 1 ? k0 + KB - 1 + W - 1 : T - 1, nq = (qend - k0) / 64 + 1;
        tiles += nq;
        if (wg) continue; /* flash_wg_bwd.cu skips nothing: 4 products of 128 x 64 x d and dQ a tile */
        for (int qt = k0; qt < k0 + 64 * nq; qt += 64)
            for (int wk = k0; wk < k0 + KB; wk += KW) {
                int qlim = wk + KW - 1 + W < T ? wk + KW - 1 + W : T;
                for (int qh = qt; qh < qt + 64; qh += QP)
                    if (!(qh + QP - 1 < wk || qh >= qlim)) passes++;
            }
    }
    if (wg) return tiles * 5 * (2.0 * 64 * 128 * d);
    return passes * 4 * (2.0 * KW * QP * d) + tiles * 2.0 * 64 * KB * d;
}

static void test_flash_walk(void **state) {
    (void)state;
    clear_switches();
    /* windows of every residue mod 16 near the tile edges: the skip tests' boundaries */
    const int Ts[] = {1, 15, 31, 64, 100, 128, 129, 255, 257, 300, 1000, 2048, 4096};
    const int Ws[] = {0, 1, 2, 3, 7, 17, 18, 31, 32, 33, 34, 63, 65, 66, 100, 128, 130, 1000};
    const int ds[] = {16, 32, 64, 128};
    int checked = 0;
    for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++)
        for (size_t wi = 0; wi < sizeof Ws / sizeof *Ws; wi++)
            for (size_t di = 0; di < sizeof ds / sizeof *ds; di++)
                for (int older = 0; older < 2; older++) {
                    /* older: every switch off (fwd_kernel, bwd_kernel) */
                    int T = Ts[ti], d = ds[di], W = Ws[wi] && Ws[wi] < T ? Ws[wi] : T;
                    clear_switches();
                    if (older) {
                        setenv("SCALELAB_FLASH_BWD", "0", 1), setenv("SCALELAB_FLASH_WG", "0", 1);
                        setenv("SCALELAB_FLASH_BWD_WG", "0", 1);
                    }
                    kern_mixer_shape s = attn_shape(T, d, Ws[wi]);
                    kern_flop_count_train t = count(&s, 1);
                    int bwd2 = !older && (d == 32 || d == 64), wg = !older && (d == 64 || d == 128);
                    double fwd = 2 * walk_forward(T, W, d, wg);
                    double bwd = 2 * walk_backward(T, W, d, bwd2, !older && d == 64);
                    if (t.forward.implementation != fwd || t.training.implementation != fwd + bwd)
                        fail_msg("T %d W %d d %d bwd2 %d wg %d: count %.17g / %.17g, walk %.17g / %.17g", T, W, d,
                                 bwd2, wg, t.forward.implementation, t.training.implementation, fwd, fwd + bwd);
                    checked++;
                }
    clear_switches();
    assert_int_equal(checked, 13 * 18 * 4 * 2);
}

/* Padding and masked work only add: implementation >= model, forward and training, on every path. */
static void test_impl_at_least_model(void **state) {
    (void)state;
    clear_switches();
    const char *sw[] = {NULL, "SCALELAB_POWER_FUSED", "SCALELAB_POWER_DPHI", "SCALELAB_POWER_INTRA",
                        "SCALELAB_FLASH_BWD"};
    const int ds[] = {16, 32, 48, 64, 128}, cs[] = {16, 64, 100, 256}, ps[] = {1, 2, 3};
    int checked = 0;
    for (size_t k = 0; k < sizeof sw / sizeof *sw; k++) {
        if (sw[k]) setenv(sw[k], "0", 1);
        for (int bf16 = 0; bf16 < 2; bf16++)
            for (size_t i = 0; i < sizeof ds / sizeof *ds; i++) {
                for (size_t j = 0; j < sizeof cs / sizeof *cs; j++)
                    for (size_t q = 0; q < sizeof ps / sizeof *ps; q++) {
                        kern_mixer_shape s = power_shape(2, 2 * cs[j], 4, cs[j]);
                        s.head_dim = ds[i], s.p = ps[q], s.n_kv_head = 2;
                        kern_flop_count_train t = count(&s, bf16);
                        assert_true(t.forward.implementation >= t.forward.model);
                        assert_true(t.training.implementation >= t.training.model);
                        checked++;
                    }
                const int Tw[][2] = {{64, 0}, {200, 0}, {512, 0}, {512, 100}, {1000, 256}, {256, 300}};
                for (size_t j = 0; j < sizeof Tw / sizeof *Tw; j++) {
                    kern_mixer_shape s = attn_shape(Tw[j][0], ds[i], Tw[j][1]);
                    kern_flop_count_train t = count(&s, bf16);
                    assert_true(t.forward.implementation >= t.forward.model);
                    assert_true(t.training.implementation >= t.training.model);
                    checked++;
                }
            }
        clear_switches();
    }
    assert_int_equal(checked, 5 * 2 * 5 * (4 * 3 + 6));
}

/* The CPU backend's entry: its forward count, training 3 x that. */
static void test_cpu_entry(void **state) {
    (void)state;
    const kern_backend *be = kern_cpu_backend();
    assert_ptr_equal(be->mixer_count_flops, kern_cpu_mixer_count_flops);
    kern_mixer_shape s = power_shape(1, 256, 2, 64);
    kern_flop_count f;
    kern_flop_count_train t;
    kern_mixer_count_flops(&s, &f);
    be->mixer_count_flops(&s, &t);
    EQ(t.forward.implementation, f.implementation);
    EQ(t.training.implementation, 3 * f.implementation);
    EQ(t.training.model, 3 * f.model);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_power_defaults), cmocka_unit_test(test_power_switches),
        cmocka_unit_test(test_power_chunk64),  cmocka_unit_test(test_flash), cmocka_unit_test(test_flash_walk),
        cmocka_unit_test(test_impl_at_least_model), cmocka_unit_test(test_cpu_entry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
