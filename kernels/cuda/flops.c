/* kern_cuda_mixer_count_flops: the matrix-product FLOPs (2 per multiply-add) the CUDA
 * backends' mixer calls issue, forward and forward + backward, as DESIGN section 4's last
 * paragraph asks ("implementation FLOPs"). Counted from the kernels' own launch facts:
 * power from kcu_power_paths_of (plan.h, which pw_plan reads too), attn.cu from
 * kcu_attn_blocking (plan.h); flash.cu's tiles from plan.h too (flash.cu takes them from there).
 *
 * Counted: every mma / cuBLAS product as issued, over padded extents (tokens past the chunk,
 * features past D, columns past d + 1 are zeros multiplied all the same), masked scores
 * included, and the backward's recomputation (power: the key side and the states again;
 * attention: the scores and probabilities again). Not counted, as in kernels/cpu/mixer_flops.c:
 * elementwise work (building phi in registers or rows, phi's Jacobian in power_dphi.cu's FP32
 * dot and scatter sums and in pw_phi_backward, gates, exp, masks, normalisation, the state
 * scans, dot_rows).
 *
 * Plain C, host arithmetic only: in every build (CPU-only too, for tests/unit/test_mixer_flops_gpu.c). */
#include "kernels/cuda/plan.h"
#include "kernels/kernels.h"

/* ---- power retention: power.cu (forward), power_backward.cu ---- */

static void count_power(const kern_mixer_shape *s, int bf16, double *fwd, double *bwd) {
    kcu_power_paths w = kcu_power_paths_of(s, bf16);
    double R = (double)s->batch * s->n_kv_head * (s->seq / s->chunk), G = s->n_head / s->n_kv_head;
    double c = s->chunk, d = s->head_dim, D = kern_mx_phi_dim(s->head_dim, s->p), ld1 = w.ld1;
    /* One state product per chunk, phi(X)^T Y (D x [.|1] over the chunk's tokens) or phi(X) S
     * (tokens x [.|1] over D): power_phi.cu runs Dpad x np8 x cpad either way (its blocks tile
     * Dpad and cpad exactly; cpad is the chunk rounded up to 64, so chunk 64 runs no padded
     * token); cuBLAS D x ld1 x c. */
    double state = w.fused ? 2.0 * w.Dpad * w.np8 * w.cpad : 2.0 * D * ld1 * c;
    /* Y S^T (tokens x D over [.|1]) before phi's Jacobian, per chunk: power_dphi.cu runs every
     * token block whole (tokens past the chunk are zeros) over the triangle padded to blocks of
     * 8 features (kcu_dphi_rowoff) and k = d + 1 padded to KP; cuBLAS c x D x ld1. */
    double dphi;
    if (w.dphi) {
        int tok = KCU_DPHI_TOK(s->head_dim);
        double tokens = (double)((s->chunk + tok - 1) / tok) * tok;
        dphi = 2.0 * tokens * kcu_dphi_rowoff(s->head_dim, s->head_dim) * KCU_DPHI_KP(s->head_dim);
    } else {
        dphi = 2.0 * c * D * ld1;
    }
    /* Intra-chunk, per chunk and head. power_intra.cu: a warp's 16 rows against whole 16-wide
     * blocks up to and including the diagonal's: n16 (n16 + 1) / 2 blocks of 16 x 16 scores
     * (n16 = c / 16 rounded up), each product over d (the [.|1] column is FP32 adds). Forward
     * 2 products (S, A V); backward 7 (the query side S, dP, dq; the key side S, dP, dv, dk).
     * cuBLAS: c x c blocks: raw = Q K^T (c c d) and A [V|1] (c c ld1) forward; backward raw
     * again, dA = dN' [V|1]^T, d[V|1] += A^T dN' (c c ld1 each), dq and dk (c c d each). */
    double n16 = (s->chunk + 15) / 16, tile = 2.0 * 16 * 16 * d * n16 * (n16 + 1) / 2;
    double intra_f = w.intra ? 2 * tile : 2.0 * c * c * d + 2.0 * c * c * ld1;
    double intra_b = w.intra ? 7 * tile : 3 * 2.0 * c * c * d + 2 * 2.0 * c * c * ld1;
    /* forward: the update once, then per head of the group the intra part and the query */
    *fwd = R * (state + G * (intra_f + state));
    /* backward: the update again (pw_states), per head dS' += phi(Q~)^T dN'; once d[V|1] =
     * phi(U) dS' and dphi(U); per head dphi(Q~) and the intra part */
    *bwd = R * (state + G * state + state + dphi + G * (dphi + intra_b));
}

/* ---- softmax and window attention: flash.cu (bf16) ---- */

/* How many of a0, a0 + step, ..., a0 + (n - 1) step (step > 0) lie in [lo, hi): the tile walks
 * below count the sub-tiles and passes a warp runs as such ranges, so that the count takes
 * O(T) steps, not the O(T^2) of visiting every tile (train.context reaches 2^24: minutes). */
static long long ceil_div(long long x, long long m) { return x >= 0 ? (x + m - 1) / m : -((-x) / m); }
static long long in_range(long long a0, long long step, long long n, long long lo, long long hi) {
    long long j0 = ceil_div(lo - a0, step), j1 = ceil_div(hi - a0, step);
    if (j0 < 0) j0 = 0;
    if (j1 > n) j1 = n;
    return j1 > j0 ? j1 - j0 : 0;
}

/* The forward, one (batch, head): blocks of 128 queries, the block's 64-key tiles from kfirst to
 * klast. fwd_kernel: 8 warps of R = 16 rows, each tile in 2 sub-tiles of K = 32 keys;
 * flash_wg.cu (wg): 2 warpgroups of R = 64 rows, whole tiles (K = 64). A warp or warpgroup
 * runs S = Q K^T and P V (R x K x d each) on a (sub-)tile unless none of its rows sees a key
 * of it: kh counts when kh <= wr + R - 1 and kh + K - 1 > wr - W. Counted at that granularity,
 * as the kernels skip. */
static double flash_forward(int T, int W, int d, int wg) {
    enum { BQ = KCU_FLASH_BQ, BK = KCU_FLASH_BK };
    const int R = wg ? KCU_FLASH_WG_ROWS : 16, K = wg ? BK : KCU_FLASH_KH;
    double sub = 0;
    for (long long q0 = 0; q0 < T; q0 += BQ) {
        long long kfirst = (q0 - W + 1 > 0 ? q0 - W + 1 : 0) / BK * BK, klast = (q0 + BQ < T ? q0 + BQ : T) - 1;
        long long n = ((klast - kfirst) / BK + 1) * (BK / K);
        for (long long wr = q0; wr < q0 + BQ; wr += R) sub += in_range(kfirst, K, n, wr - W - K + 2, wr + R);
    }
    return sub * 2 * (2.0 * R * K * d);
}

/* The backward, one (batch, kv head) and one query head of its group: blocks of KB keys, each
 * visiting the 64-query tiles from its first key to the last query that sees one of them;
 * warps of KW keys take a tile in passes of QP queries, skipping a pass none of whose queries
 * sees a key of the warp (pass qh counts when qh + QP - 1 >= wk and qh < min(T, wk + KW - 1 +
 * W)), and run S^T = K Q^T, dP^T = V dy^T, dV += P^T dy and dK += dS^T Q (KW x QP x d each).
 * dQ (64 x KB x d) runs on every tile, skipped passes' dS being zeros. A block's passes are
 * k0, k0 + QP, ... over its tiles. bwd2_kernel (head dims 32, 64; SCALELAB_FLASH_BWD=0 opts
 * out): KB 128, 4 warps of 32 keys, passes of 32. bwd_kernel: 8 warps of 16 keys (4 at head
 * dim 16), passes of 16. flash_wg_bwd.cu (wg: head dim 64; SCALELAB_FLASH_BWD_WG=0 opts out):
 * KB 128, no pass skipped: per tile the four products over 128 keys x 64 queries and dQ. */
static double flash_backward(int T, int W, int d, int bwd2, int wg) {
    int KB = wg ? KCU_FLASH_WGB_KB : bwd2 ? KCU_FLASH_BWD2_KB : 16 * (d >= 32 ? 8 : 4), KW = bwd2 ? 32 : 16;
    int QP = bwd2 ? KCU_FLASH_BWD2_QP : KCU_FLASH_BWD_QP, QT = KCU_FLASH_QT;
    double passes = 0, tiles = 0;
    for (long long k0 = 0; k0 < T; k0 += KB) {
        long long qend = k0 + KB - 1 + W - 1 < T - 1 ? k0 + KB - 1 + W - 1 : T - 1, nq = (qend - k0) / QT + 1;
        tiles += nq;
        if (wg) continue; /* no pass skipped: every tile's four products whole (below) */
        for (long long wk = k0; wk < k0 + KB; wk += KW) {
            long long qlim = wk + KW - 1 + W < T ? wk + KW - 1 + W : T;
            passes += in_range(k0, QP, nq * (QT / QP), wk - QP + 1, qlim);
        }
    }
    if (wg) return tiles * 5 * (2.0 * QT * KB * d);
    return passes * 4 * (2.0 * KW * QP * d) + tiles * 2.0 * QT * KB * d;
}

void kern_cuda_mixer_count_flops(const kern_mixer_shape *s, int bf16, kern_flop_count_train *out) {
    kern_flop_count cpu;
    kern_mixer_count_flops(s, &cpu); /* its model is DESIGN's, whoever runs the call */
    double fwd, bwd;
    if (s->kind == KERN_MIXER_POWER) {
        count_power(s, bf16, &fwd, &bwd);
    } else if (bf16 && kcu_flash_ok(s)) {
        int W = kcu_attn_window(s);
        int bwd2 = kcu_flash_bwd2(s->head_dim);
        double heads = (double)s->batch * s->n_head; /* every query head: the same tiles */
        fwd = heads * flash_forward(s->seq, W, s->head_dim, kcu_flash_wg(s->head_dim));
        bwd = heads * flash_backward(s->seq, W, s->head_dim, bwd2, kcu_flash_bwd_wg(s->head_dim));
    } else {
        /* attn.cu: per (batch, head) and query block, cuBLAS over qb x nk scores: forward
         * S = Q K^T and P V; backward S again, dP = dy V^T, dQ, dK, dV */
        int W, qb, nk;
        kcu_attn_blocking(s, &W, &qb, &nk);
        double blocks = (double)s->batch * s->n_head * (s->seq / qb), one = 2.0 * qb * nk * s->head_dim;
        fwd = blocks * 2 * one;
        bwd = blocks * 5 * one;
    }
    out->forward.model = cpu.model;
    out->forward.implementation = fwd;
    out->training.model = 3 * cpu.model;
    out->training.implementation = fwd + bwd;
}
