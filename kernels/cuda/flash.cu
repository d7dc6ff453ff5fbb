/* Softmax and sliding-window causal attention (GQA) for the bf16 backend:
 * tiled flash-style forward and backward on the tensor cores (FlashAttention-2,
 * Dao 2023), memory linear in the sequence length.
 *
 * Precision: q, k, v, dy are FP32 in the model's memory (the layouts of kern_mixer_shape);
 * the operands that tiles stream (k, v in forward; q, dy in backward) are first rounded
 * to bf16 copies in `work` by one elementwise pass, the rest is rounded as it is loaded
 * into registers or shared memory; products run on mma.sync m16n8k16 bf16 with FP32
 * accumulation, and the softmax statistics (row maximum, sum, log-sum-exp) and every
 * output are FP32.
 *
 * At head dims 64 and 128 the forward is flash_wg.cu's, on Hopper's warpgroup MMA (kcu_flash_wg,
 * plan.h; 1.37x fwd_kernel at 64k), unless SCALELAB_FLASH_WG=0; at head dim 64 the backward is
 * flash_wg_bwd.cu's (kcu_flash_bwd_wg; 1.15x bwd2_kernel at 64k), unless SCALELAB_FLASH_BWD_WG=0.
 * fwd_kernel and the backward kernels here take the other head dims, and are the references that
 * test_backend compares the wgmma kernels with.
 *
 * Forward (fwd_kernel): one block of 8 warps per 128 queries of one (batch, head); each
 * warp owns 16 query rows with Q in registers, streams 64-key tiles of K and V (bf16)
 * through shared memory with cp.async, three stages deep, reads them with ldmatrix (V
 * transposed by ldmatrix.trans), keeps the online softmax (running max, sum) and the
 * output accumulator in registers, and writes y and the row log-sum-exp (natural log,
 * the CPU's `saved`), and where the caller asks, y's bf16 copy beside y (the bf16 matmul's
 * kept copy for the output projection's products: one rounding pass fewer a layer). Only key
 * tiles that intersect [i - window + 1, i] for some query
 * of the block are visited, and a warp skips the products of a tile none of its rows
 * sees: causal skips the upper triangle, window work is O(T w). The running max is
 * taken on the raw scores with scale log2(e) folded into the exponent, so it needs
 * scale > 0 (kcu_flash_supported sends other scales to the FP32 attn.cu).
 *
 * Backward: one block per 128 keys of one (batch, kv head) (64 at head dim 16), looping
 * over the query heads of its group and the 64-query tiles that can see its keys (same
 * tile skipping; Q and dy tiles double-buffered by cp.async), K and V in shared memory,
 * dK and dV accumulated in registers, P recomputed from the saved log-sum-exp. dQ sums
 * over key blocks: each block adds its 64 x d piece per tile with FP32 float4 atomics (dq
 * is cleared first), so dq's low bits vary from run to run; dK and dV are owned by one
 * block each (deterministic). D_i = dy_i . y_i comes from a row kernel. Two kernels:
 *   bwd2_kernel (head dims 32, 64): 4 warps of 32 keys, each taking a tile in two passes
 *     of 32 queries; every shared-memory fragment feeds 4 mma instead of 2 (the backward
 *     is bound by shared-memory reads), at the price of 218 / 255 registers, two blocks
 *     a multiprocessor.
 *   bwd_kernel (head dims 16, 128; 32, 64 with SCALELAB_FLASH_BWD=0, the older path kept
 *     for timing): 8 warps of 16 keys (4 at head dim 16) in 16-query passes, within 128
 *     registers at head dims <= 64 (two blocks, 16 warps a multiprocessor).
 *
 * fwd_kernel and the backward kernels cut the instructions per score (one FFMA +
 * MUFU.EX2, cheap masks) and launch the heaviest causal blocks first (details at each
 * kernel).
 * ptxas, sm_90, registers / spills / dynamic shared memory (bytes), head dims 16, 32,
 * 64, 128:
 *   fwd_kernel   78 / 101 / 127 / 216, no spills;  smem 18432 / 30720 / 55296 / 104448
 *   bwd_kernel  100 / 126 / 128 / 246, no spills;  smem 28672 / 60416 / 93184 / 158720
 *   bwd2_kernel       218 / 255,       no spills;  smem       60416 / 93184
 * On the H200, b1 h8 kv8 d64 causal, ms at T = 4k / 16k / 64k and window 4096 at 64k
 * (measured 2026-12-01 at commit 7396a91, bench_cuda 3 8 attn 0):
 *   forward                     0.128 / 1.06  / 15.4             (SDPA flash 0.161 / 1.295 / 14.77)
 *   forward + bwd2_kernel       0.453 / 3.804 / 57.42, window 7.701
 *   forward + bwd_kernel        0.498 / 4.400 / 66.98, window 8.885
 *   PyTorch SDPA, same call     0.667 / 3.827 / 53.25 (flash);  cuDNN 0.491 / 2.331 / 35.13
 *
 * Head dims 16, 32, 64 and 128 with scale > 0 take this path; others fall back to attn.cu
 * (FP32). */
#include <cuda_bf16.h>

#include "kernels/cuda/cuda_common.h"
#include "kernels/cuda/flash_step.h"
#include "kernels/cuda/mma.h"

namespace {

/* The tiles come from plan.h, where the FLOP count (flops.c) walks them too: forward blocks of
 * BQ = 128 queries over BK = 64-key tiles in FWD_KH = 32-key sub-tiles; backward 64-query tiles
 * (QT), bwd_kernel's passes of BWD_QH = 16 queries, bwd2_kernel's 128 keys and 32-query passes. */
constexpr int BQ = KCU_FLASH_BQ, BK = KCU_FLASH_BK, FWD_KH = KCU_FLASH_KH, QT = KCU_FLASH_QT;
constexpr int BWD_QH = KCU_FLASH_BWD_QP, BWD2_KB = KCU_FLASH_BWD2_KB, BWD2_QW = KCU_FLASH_BWD2_QP;
constexpr int FWD_THR = 256, FWD_STAGES = 3; /* forward: 8 warps, K/V tiles three stages deep */
constexpr int BWD2_THR = 128;                /* bwd2_kernel: 4 warps */

struct fa_args {
    const float *q, *k, *v, *y, *dy, *lse_in, *dd;
    float *yo, *lse, *dq, *dk, *dv;
    int T, nh, nkv, group, W, B;
    float scale;
};

/* Stage rows [r0, r0 + 64) of a [T, ld] FP32 matrix (columns c0..c0+D) into shared
 * bf16: row-major (rm, stride D + 8) and/or transposed (tr, stride 64 + 8). Rows past
 * T are zeros. Threads walk rows fastest so the transposed stores of a warp are
 * consecutive. */
template <int D, int ROWS, int NT>
__device__ __forceinline__ void stage(const float *src, size_t ld, int r0, int T, __nv_bfloat16 *rm,
                                      __nv_bfloat16 *tr) {
    for (int idx = threadIdx.x; idx < ROWS * D / 4; idx += NT) {
        int r = idx % ROWS, c = idx / ROWS * 4;
        float4 x = make_float4(0.f, 0.f, 0.f, 0.f);
        if (r0 + r < T) x = *reinterpret_cast<const float4 *>(src + (size_t)(r0 + r) * ld + c);
        if (rm) {
            uint2 u = make_uint2(pack2(x.x, x.y), pack2(x.z, x.w));
            *reinterpret_cast<uint2 *>(rm + r * (D + 8) + c) = u;
        }
        if (tr) {
            tr[(c + 0) * (64 + 8) + r] = __float2bfloat16_rn(x.x);
            tr[(c + 1) * (64 + 8) + r] = __float2bfloat16_rn(x.y);
            tr[(c + 2) * (64 + 8) + r] = __float2bfloat16_rn(x.z);
            tr[(c + 3) * (64 + 8) + r] = __float2bfloat16_rn(x.w);
        }
    }
}

/* Rows [r0, r0 + ROWS) of a bf16 [T, ld] matrix (columns 0..D) into shared [ROWS][D + 8],
 * asynchronously; rows past T are zeros. */
template <int D, int ROWS, int NT>
__device__ __forceinline__ void load_tile(__nv_bfloat16 *dst, const __nv_bfloat16 *src, size_t ld, int r0, int T) {
    constexpr int CH = D / 8;
    for (int idx = threadIdx.x; idx < ROWS * CH; idx += NT) {
        int r = idx / CH, c = idx % CH * 8;
        bool ok = r0 + r < T;
        cp16(dst + r * (D + 8) + c, src + (size_t)(ok ? r0 + r : 0) * ld + c, ok);
    }
}

/* load_tile to a 32-bit shared address, the per-thread chunks unrolled. */
template <int D, int ROWS, int NT>
__device__ __forceinline__ void load_tile_s(uint32_t dst, const __nv_bfloat16 *src, size_t ld, int r0, int T) {
    constexpr int CH = D / 8, N = (ROWS * CH + NT - 1) / NT;
#pragma unroll
    for (int u = 0; u < N; u++) {
        int idx = threadIdx.x + u * NT;
        if (ROWS * CH % NT == 0 || idx < ROWS * CH) {
            int r = idx / CH, c = idx % CH * 8;
            bool ok = r0 + r < T;
            asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst + (uint32_t)(r * (D + 8) + c) * 2),
                         "l"(src + (size_t)(ok ? r0 + r : 0) * ld + c), "r"(ok ? 16 : 0));
        }
    }
}

/* FP32 -> bf16, n a multiple of 4, both 16-byte aligned. */
__global__ void to_bf16_kernel(size_t n4, const float4 *x, uint2 *y) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += (size_t)gridDim.x * blockDim.x) {
        float4 v = x[i];
        y[i] = make_uint2(pack2(v.x, v.y), pack2(v.z, v.w));
    }
}
void to_bf16(size_t n, const float *x, __nv_bfloat16 *y) {
    size_t n4 = n / 4;
    unsigned blocks = kcu_blocks(n4, 256);
    if (blocks > 132 * 16) blocks = 132 * 16;
    to_bf16_kernel<<<blocks, 256>>>(n4, (const float4 *)x, (uint2 *)y);
    KCU_LAUNCHED();
}

/* Forward: one block of 8 warps x 16 queries (128 queries of one batch, head); 64-key
 * K/V tiles by cp.async, three stages, one barrier a tile. No spills at 128 registers:
 * each 64-key tile is taken as two online-softmax steps of KH = 32 keys (32 score
 * registers; at 64 keys ptxas spilled), the running max taken on the raw scores and
 * scale log2(e) folded into the exponent's FFMA (p = 2^(s sl2 - m), one MUFU.EX2),
 * index masks only on sub-tiles that cut the causal diagonal, the window edge or T (two
 * compares with constants per score there), the output rescaled only when some row's
 * max moved, K/V addressed by 32-bit shared addresses, and the blocks launched heaviest
 * first (the last query blocks of a causal row see the most keys) over a 1-D grid.
 * Needs scale > 0 (the max of s sl2 is sl2 times the max of s): kcu_flash_supported
 * sends other scales to attn.cu. */
template <int D>
__global__ void __launch_bounds__(FWD_THR, D <= 64 ? 2 : 1)
    fwd_kernel(fa_args a, const __nv_bfloat16 *k16, const __nv_bfloat16 *v16, __nv_bfloat16 *y16) {
    extern __shared__ __align__(16) unsigned char smem[];
    constexpr int RS = D + 8, KH = FWD_KH, NST = FWD_STAGES;
    __nv_bfloat16 *Ks = reinterpret_cast<__nv_bfloat16 *>(smem); /* [NST][64][RS] */
    __nv_bfloat16 *Vs = Ks + NST * 64 * RS;                        /* [NST][64][RS] */
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, g = lane / 4, t = lane % 4;
    const int nqb = (a.T + BQ - 1) / BQ, hb = a.nh * a.B;
    const int qb = nqb - 1 - (int)(blockIdx.x / hb), h = (int)(blockIdx.x % hb) % a.nh, b = (int)(blockIdx.x % hb) / a.nh;
    const int q0 = qb * BQ, kvh = h / a.group;
    const size_t ldq = (size_t)a.nh * D, ldk = (size_t)a.nkv * D;
    const float *qbp = a.q + (size_t)b * a.T * ldq + (size_t)h * D;
    const __nv_bfloat16 *kb = k16 + (size_t)b * a.T * ldk + (size_t)kvh * D;
    const __nv_bfloat16 *vb = v16 + (size_t)b * a.T * ldk + (size_t)kvh * D;
    const int wr = q0 + warp * 16; /* this warp's first row */
    uint32_t qa[D / 16][4];
    load_a<D>(qbp, ldq, wr, a.T, qa);
    float acc[D / 8][4];
#pragma unroll
    for (int i = 0; i < D / 8; i++) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.f;
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f}; /* m in log2 units (scaled) */
    const float sl2 = a.scale * KCU_LOG2E;
    const int kfirst = max(0, q0 - a.W + 1) / BK * BK, klast = min(q0 + BQ, a.T) - 1;
    const int ntiles = (klast - kfirst) / BK + 1;
    const uint32_t sK = smem_u32(Ks), sV = smem_u32(Vs); /* buffer u at + u 64 RS 2 bytes */
    /* NST-stage cp.async ring, one barrier a tile: tile it + NST - 1 is issued after the
     * barrier of tile it, into the buffer of tile it - 1, which every warp has left. */
#pragma unroll
    for (int u = 0; u < NST - 1; u++) {
        if (u < ntiles) {
            load_tile_s<D, 64, FWD_THR>(sK + u * 64 * RS * 2, kb, ldk, kfirst + u * BK, a.T);
            load_tile_s<D, 64, FWD_THR>(sV + u * 64 * RS * 2, vb, ldk, kfirst + u * BK, a.T);
        }
        cp_commit();
    }
    for (int it = 0; it < ntiles; it++) {
        const int kt = kfirst + it * BK, buf = it % NST;
        cp_wait<NST - 2>();
        __syncthreads();
        if (it + NST - 1 < ntiles) {
            const int nb = (it + NST - 1) % NST;
            load_tile_s<D, 64, FWD_THR>(sK + nb * 64 * RS * 2, kb, ldk, kt + (NST - 1) * BK, a.T);
            load_tile_s<D, 64, FWD_THR>(sV + nb * 64 * RS * 2, vb, ldk, kt + (NST - 1) * BK, a.T);
        }
        cp_commit();
        /* The 64-key tile in sub-tiles of KH keys, each an online-softmax step. */
#pragma unroll
        for (int hk = 0; hk < BK / KH; hk++) {
            const int kh = kt + hk * KH; /* first key of the sub-tile */
            /* products only where some row of the warp sees some key of the sub-tile */
            if (!(kh <= wr + 15 && kh + KH - 1 > wr - a.W)) continue;
            const uint32_t K = sK + buf * 64 * RS * 2 + 2 * ((hk * KH + (lane / 16) * 8 + lane % 8) * RS + (lane / 8 % 2) * 8);
            const uint32_t V = sV + buf * 64 * RS * 2 + 2 * ((hk * KH + (lane / 8 % 2) * 8 + lane % 8) * RS + (lane / 16) * 8);
            float s[KH / 8][4];
#pragma unroll
            for (int nt = 0; nt < KH / 8; nt++) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
#pragma unroll
            for (int kk = 0; kk < D / 16; kk++)
#pragma unroll
                for (int nt = 0; nt < KH / 8; nt += 2) {
                    uint32_t r[4];
                    ldsm_x4(r, K + 2 * (nt * 8 * RS + kk * 16));
                    mma16816(s[nt], qa[kk], r[0], r[1]);
                    mma16816(s[nt + 1], qa[kk], r[2], r[3]);
                }
            float base[2];
            online_step(s, kh, wr, g, t, a.T, a.W, sl2, m, l, acc, base); /* flash_step.h */
            const float nb0 = -base[0], nb1 = -base[1];
#pragma unroll
            for (int kk = 0; kk < KH / 16; kk++) {
                uint32_t pa[4];
#pragma unroll
                for (int u = 0; u < 2; u++) probs(s[2 * kk + u], sl2, nb0, nb1, l, pa[2 * u], pa[2 * u + 1]);
#pragma unroll
                for (int dt = 0; dt < D / 8; dt += 2) {
                    uint32_t r[4];
                    ldsm_x4_t(r, V + 2 * (kk * 16 * RS + dt * 8));
                    mma16816(acc[dt], pa, r[0], r[1]);
                    mma16816(acc[dt + 1], pa, r[2], r[3]);
                }
            }
        }
    }
    finish_rows<D>(acc, l, m, wr + g, t, b, h, a.T, a.nh, a.yo, y16, a.lse);
}

/* D_i = dy_i . y_i per (batch, head, row), layout [batch, n_head, seq]. Eight lanes a row, rows
 * taken in the order dy and y hold them ((batch, row, head): a group reads d contiguous floats
 * as float4s; the caller checked 16-byte alignment, and the tiled head dims are multiples of 4),
 * 32-bit index arithmetic. Why: one warp a row of 64 floats, rows taken in the output's order,
 * was 27 us a call on the H200's 12-layer step (ncu), twice the time its bytes take at copy
 * bandwidth. */
__global__ void dot_rows_kernel(unsigned rows, unsigned T, unsigned nh, unsigned d, const float4 *dy, const float4 *y,
                                float *dd) {
    constexpr unsigned L = 8; /* lanes a row */
    const unsigned t = blockIdx.x * blockDim.x + threadIdx.x, g = t / L, sub = t % L, d4 = d / 4;
    float s = 0;
    if (g < rows)
        for (unsigned f = sub; f < d4; f += L) {
            const float4 p = dy[(size_t)g * d4 + f], q = y[(size_t)g * d4 + f];
            s += p.x * q.x + p.y * q.y + p.z * q.z + p.w * q.w;
        }
    for (unsigned o = L / 2; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o); /* all lanes take part */
    if (g < rows && sub == 0) {
        const unsigned h = g % nh, bi = g / nh, i = bi % T, b = bi / T;
        dd[((size_t)b * nh + h) * T + i] = s;
    }
}

/* Backward tile loads by cp.async into buffer buf: rows [qt, qt + 64) of head h's Q and dy
 * (bf16) and their log-sum-exp and D_i. */
template <int D, int NT>
__device__ __forceinline__ void bwd_issue(const fa_args &a, const __nv_bfloat16 *q16, const __nv_bfloat16 *y16,
                                          __nv_bfloat16 *Qs, __nv_bfloat16 *Ys, float *lse_s, float *dd_s, int b,
                                          int h, int qt, int buf) {
    constexpr int QB = QT, RS = D + 8;
    const size_t ldq = (size_t)a.nh * D;
    load_tile<D, QB, NT>(Qs + buf * QB * RS, q16 + (size_t)b * a.T * ldq + (size_t)h * D, ldq, qt, a.T);
    load_tile<D, QB, NT>(Ys + buf * QB * RS, y16 + (size_t)b * a.T * ldq + (size_t)h * D, ldq, qt, a.T);
    if (threadIdx.x < 2 * QB) {
        int x = threadIdx.x % QB, i = qt + x;
        bool ok = i < a.T;
        size_t row = ((size_t)b * a.nh + h) * a.T + (ok ? i : 0);
        if (threadIdx.x < QB) cp_small<4>(lse_s + buf * QB + x, a.lse_in + row, ok);
        else cp_small<4>(dd_s + buf * QB + x, a.dd + row, ok);
    }
}

/* dQ of one 64-query tile from the block's dS^T (shared, [KB keys][64 + 8]) and K (shared,
 * [KB][D + 8]), added to dq by FP32 atomics; NW warps. Warp w does rows 16 MQ (w % RG) .. + 16 MQ
 * (RG = 4 / MQ row groups), columns DP (w / RG) .. + DP: dS (16 MQ x KB) K (KB x DP), dS
 * read by ldmatrix.trans, in column chunks of DC (at most 32: 16 MQ accumulator
 * registers). MQ = 2 (4 warps) reads each K fragment for 4 mma instead of 2. */
template <int D, int NW, int KB, int MQ>
__device__ __forceinline__ void bwd_dq(const fa_args &a, uint32_t sS, uint32_t sK, int b, int h, int qt) {
    constexpr int RS = D + 8, SQ = 64 + 8;
    constexpr int RG = 4 / MQ, DP = D / (NW / RG);
    static_assert(DP % 16 == 0, "dQ column split needs 16-column pieces");
    constexpr int DC = DP < 32 ? DP : 32;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, g = lane / 4, t = lane % 4;
    const size_t ldq = (size_t)a.nh * D;
    const int toff = ((lane / 8 % 2) * 8 + lane % 8) * RS + (lane / 16) * 8; /* B by .trans */
    const int wq = warp % RG * 16 * MQ;
#pragma unroll 1
    for (int wc = warp / RG * DP; wc < (warp / RG + 1) * DP; wc += DC) {
        float dqa[MQ][DC / 8][4];
#pragma unroll
        for (int m = 0; m < MQ; m++)
#pragma unroll
            for (int i = 0; i < DC / 8; i++) dqa[m][i][0] = dqa[m][i][1] = dqa[m][i][2] = dqa[m][i][3] = 0.f;
#pragma unroll 4
        for (int kk = 0; kk < KB / 16; kk++) {
            uint32_t sa[MQ][4];
#pragma unroll
            for (int m = 0; m < MQ; m++)
                ldsm_x4_t(sa[m],
                          sS + 2 * ((kk * 16 + (lane / 16) * 8 + lane % 8) * SQ + wq + 16 * m + (lane / 8 % 2) * 8));
#pragma unroll
            for (int dt = 0; dt < DC / 8; dt += 2) {
                uint32_t rk[4];
                ldsm_x4_t(rk, sK + 2 * (kk * 16 * RS + toff + wc + dt * 8));
#pragma unroll
                for (int m = 0; m < MQ; m++) {
                    mma16816(dqa[m][dt], sa[m], rk[0], rk[1]);
                    mma16816(dqa[m][dt + 1], sa[m], rk[2], rk[3]);
                }
            }
        }
        float *dqb = a.dq + (size_t)b * a.T * ldq + (size_t)h * D + wc;
#pragma unroll
        for (int m = 0; m < MQ; m++) add_tile_atomic<DC / 8>(dqa[m], a.scale, dqb, ldq, qt + wq + 16 * m + g, t, a.T);
    }
}

/* What the two backward kernels share: a block owns KB keys of one (batch, kv head), holds them
 * (K and V, bf16) in shared memory, and walks the 64-query tiles of every query head of its group
 * that see those keys, double-buffered: the next tile's Q, dy, log-sum-exp and D_i are issued
 * before the current one is used. Shared memory, in order: K [KB][RS], V [KB][RS], Q [2][64][RS],
 * dy [2][64][RS], dS^T [KB][SQ] (bf16), log-sum-exp [2][64], D_i [2][64] (FP32). */
template <int D, int KB, int NT> struct bwd_block {
    static constexpr int RS = D + 8, QB = QT, SQ = QB + 8;
    __nv_bfloat16 *Ks, *Vs, *Qs, *Ys, *Ss;
    float *lse_s, *dd_s;
    int k0, kvh, b;
    size_t ldk;
    const float *kb, *vb; /* the block's (batch, kv head) rows of K and V */
    /* the bytes of that layout: the launch's dynamic shared memory */
    static constexpr size_t smem_bytes() { return (size_t)((2 * KB + 4 * QB) * RS + KB * SQ) * 2 + 4 * QB * 4; }
    /* the layout over smem, the block's keys from blockIdx.x */
    __device__ bwd_block(const fa_args &a, unsigned char *smem) {
        Ks = reinterpret_cast<__nv_bfloat16 *>(smem);
        Vs = Ks + KB * RS;
        Qs = Vs + KB * RS;
        Ys = Qs + 2 * QB * RS;
        Ss = Ys + 2 * QB * RS;
        lse_s = reinterpret_cast<float *>(Ss + KB * SQ); /* natural log */
        dd_s = lse_s + 2 * QB;
        const int hb = a.nkv * a.B;
        k0 = (int)(blockIdx.x / hb) * KB, kvh = (int)(blockIdx.x % hb) % a.nkv, b = (int)(blockIdx.x % hb) / a.nkv;
        ldk = (size_t)a.nkv * D;
        kb = a.k + (size_t)b * a.T * ldk + (size_t)kvh * D;
        vb = a.v + (size_t)b * a.T * ldk + (size_t)kvh * D;
    }
    /* the block's K and V into shared memory */
    __device__ __forceinline__ void stage_kv(const fa_args &a) const {
        stage<D, KB, NT>(kb, ldk, k0, a.T, Ks, nullptr);
        stage<D, KB, NT>(vb, ldk, k0, a.T, Vs, nullptr);
    }
    /* the 64-query tiles of one query head that see the block's keys */
    __device__ __forceinline__ int tiles_per_head(const fa_args &a) const {
        const int qend = min(a.T - 1, k0 + KB - 1 + a.W - 1);
        return (qend - k0) / QB + 1;
    }
    /* tile it's loads into buffer it & 1: query head it / nq of the group, queries from
     * k0 + 64 (it % nq) (nq = tiles_per_head) */
    __device__ __forceinline__ void issue(const fa_args &a, const __nv_bfloat16 *q16, const __nv_bfloat16 *y16,
                                          int it, int nq) const {
        bwd_issue<D, NT>(a, q16, y16, Qs, Ys, lse_s, dd_s, b, kvh * a.group + it / nq, k0 + it % nq * QB, it & 1);
    }
    /* Waits for tile it (issuing tile it + 1's loads first, into the other buffer): its first
     * query and head, and where its operands are (shared-memory addresses of Q, dy, K, V and
     * dS^T; the tile's log-sum-exp and D_i) */
    struct tile {
        int qt, h;
        uint32_t sQ, sY, sK, sV, sS;
        const float *ls, *dd;
    };
    __device__ __forceinline__ tile wait_tile(const fa_args &a, const __nv_bfloat16 *q16, const __nv_bfloat16 *y16,
                                              int it, int nq, int ntiles) const {
        const int r = it / nq, qt = k0 + it % nq * QB, h = kvh * a.group + r, buf = it & 1;
        if (it + 1 < ntiles) issue(a, q16, y16, it + 1, nq);
        cp_commit();
        cp_wait<1>();
        __syncthreads();
        const uint32_t sQ = smem_u32(Qs + buf * QB * RS), sY = smem_u32(Ys + buf * QB * RS);
        return tile{qt, h, sQ, sY, smem_u32(Ks), smem_u32(Vs), smem_u32(Ss), lse_s + buf * QB, dd_s + buf * QB};
    }
    /* key j's (j < T) rows of dK (scaled) and dV: dims 8 dt + 2t (+ 1) from kv(dt) = {dk0, dk1,
     * dv0, dv1} */
    template <class F> __device__ __forceinline__ void store_key(const fa_args &a, int j, int t, F &&kv) const {
        float *dkr = a.dk + ((size_t)b * a.T + j) * ldk + (size_t)kvh * D;
        float *dvr = a.dv + ((size_t)b * a.T + j) * ldk + (size_t)kvh * D;
#pragma unroll
        for (int dt = 0; dt < D / 8; dt++) {
            const float4 v = kv(dt);
            *reinterpret_cast<float2 *>(dkr + dt * 8 + 2 * t) = make_float2(v.x * a.scale, v.y * a.scale);
            *reinterpret_cast<float2 *>(dvr + dt * 8 + 2 * t) = make_float2(v.z, v.w);
        }
    }
};

/* acc += A B^T over the head dim for one backward pass: A the warp's 16 key rows of K or V
 * (shared, from element aoff), B the 8 NTH query rows of Q or dy from row q0 (shared, lane
 * offset boff), both [rows][RS] bf16; acc[nt] is the n-tile of queries q0 + 8 nt .. + 7. */
template <int D, int RS, int NTH>
__device__ __forceinline__ void key_rows_dot(float (*acc)[4], uint32_t sa, int aoff, uint32_t sb, int q0, int boff) {
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
        uint32_t ra[4];
        ldsm_x4(ra, sa + 2 * (aoff + kk * 16));
#pragma unroll
        for (int np = 0; np < NTH / 2; np++) {
            uint32_t rb[4];
            ldsm_x4(rb, sb + 2 * ((q0 + np * 16) * RS + boff + kk * 16));
            mma16816(acc[2 * np], ra, rb[0], rb[1]);
            mma16816(acc[2 * np + 1], ra, rb[2], rb[3]);
        }
    }
}

/* Backward: NW warps of 16 keys (NW = 8: 128 keys a block; 4 at head dim 16), 64-query
 * tiles of Q and dy double-buffered by cp.async, dQ by FP32 atomics so its low bits vary
 * from run to run, dK and dV owned by one block. At most 128 registers at head dims <= 64
 * so that two blocks (16 warps) share a multiprocessor: K and V stay in shared memory
 * (bf16) and are read as A fragments by ldmatrix where used, and a warp takes a query
 * tile in passes of QH = 16 queries (its S and dP accumulators of a pass: 16 registers;
 * 32-query passes spilled at 128).
 * Few instructions per score: p = 2^(s sl2 - lse2) is one FFMA and one MUFU.EX2, the
 * causal/window mask two integer compares against per-key bounds (branch-free: a
 * branch around it made ptxas spill), passes that no key of the warp sees skipped (dS
 * = 0 written for dQ), the log-sum-exp and D_i read as float2 pairs, dS stored once to
 * shared memory as packed bf16 pairs (transposed, [key][query]) and read back for dQ by
 * ldmatrix.trans, the per-tile log-sum-exp and D_i fetched by cp.async (no warp waits on
 * a global load), two barriers a tile.
 * Blocks are launched heaviest first (the first key blocks of a causal row see the most
 * queries) over a 1-D grid. */
template <int D, int NW>
__global__ void __launch_bounds__(NW * 32, D <= 64 ? 16 / NW : 1)
    bwd_kernel(fa_args a, const __nv_bfloat16 *q16, const __nv_bfloat16 *y16) {
    extern __shared__ __align__(16) unsigned char smem[];
    constexpr int KB = 16 * NW, NT = NW * 32;
    using blk_t = bwd_block<D, KB, NT>;
    constexpr int RS = blk_t::RS, QB = blk_t::QB, SQ = blk_t::SQ;
    /* queries per pass over a tile, their n-tiles */
    constexpr int QH = BWD_QH, NTH = QH / 8;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, g = lane / 4, t = lane % 4;
    const blk_t blk(a, smem);
    const int wk = blk.k0 + warp * 16; /* this warp's first key */
    blk.stage_kv(a);
    float dk[D / 8][4], dv[D / 8][4];
#pragma unroll
    for (int i = 0; i < D / 8; i++)
#pragma unroll
        for (int c = 0; c < 4; c++) dk[i][c] = dv[i][c] = 0.f;
    const float sl2 = a.scale * KCU_LOG2E;
    const int nq = blk.tiles_per_head(a), ntiles = nq * a.group;
    /* A fragments of this warp's 16 keys: row lane % 8 (+ 8), column block lane / 16 */
    const int aoff = (warp * 16 + (lane / 8 % 2) * 8 + lane % 8) * RS + (lane / 16) * 8;
    const int boff = ((lane / 16) * 8 + lane % 8) * RS + (lane / 8 % 2) * 8;  /* B, rows = queries */
    const int toff = ((lane / 8 % 2) * 8 + lane % 8) * RS + (lane / 16) * 8; /* B by .trans */
    blk.issue(a, q16, y16, 0, nq);
    cp_commit();
    for (int it = 0; it < ntiles; it++) {
        const auto [qt, h, sQ, sY, sK, sV, sS, ls, ds_] = blk.wait_tile(a, q16, y16, it, nq, ntiles);
#pragma unroll 1
        for (int hq = 0; hq < QB / QH; hq++) {
            const int qh = qt + hq * QH; /* first query of this pass */
            if (qh + QH - 1 < wk || qh >= min(a.T, wk + 15 + a.W)) {
                /* no key of the warp seen by a query of the pass: dS^T = 0 for dQ */
#pragma unroll
                for (int nt = 0; nt < NTH; nt++) {
                    uint32_t *srow =
                        reinterpret_cast<uint32_t *>(blk.Ss + (warp * 16 + g) * SQ + hq * QH + nt * 8 + 2 * t);
                    srow[0] = 0u;
                    srow[4 * SQ] = 0u;
                }
                continue;
            }
            /* query i sees key j iff j <= i < min(T, j + W): bounds on i relative to this
             * thread's first query qh + 2t, so each test compares with a constant */
            int jlo[2], jhi[2];
#pragma unroll
            for (int u = 0; u < 2; u++) {
                const int j = wk + g + 8 * u, i0 = qh + 2 * t;
                jlo[u] = j - i0;
                jhi[u] = min(a.T, j + a.W) - i0;
            }
            /* s^T[key][query] (S^T = K Q^T) and dP^T = V dy^T for queries qh .. qh + QH;
             * element c of n-tile nt: key wk + g + 8 (c >> 1), query qh + 8 nt + 2t + (c & 1). */
            float s[NTH][4], dp[NTH][4];
#pragma unroll
            for (int nt = 0; nt < NTH; nt++)
#pragma unroll
                for (int c = 0; c < 4; c++) s[nt][c] = dp[nt][c] = 0.f;
            /* S^T first, then dP^T: fewer fragments live at once */
            key_rows_dot<D, RS, NTH>(s, sK, aoff, sQ, hq * QH, boff);
            key_rows_dot<D, RS, NTH>(dp, sV, aoff, sY, hq * QH, boff);
            /* P^T and dS^T = P^T (dP^T - D), packed to bf16 pairs of adjacent queries */
            uint32_t pp[NTH][2], sp[NTH][2];
#pragma unroll
            for (int nt = 0; nt < NTH; nt++) {
                const int il = hq * QH + nt * 8 + 2 * t;
                const float2 L = *reinterpret_cast<const float2 *>(ls + il);
                const float2 Dd = *reinterpret_cast<const float2 *>(ds_ + il);
                const float nl0 = -L.x * KCU_LOG2E, nl1 = -L.y * KCU_LOG2E;
                float p[4];
                p[0] = ex2(fmaf(s[nt][0], sl2, nl0));
                p[1] = ex2(fmaf(s[nt][1], sl2, nl1));
                p[2] = ex2(fmaf(s[nt][2], sl2, nl0));
                p[3] = ex2(fmaf(s[nt][3], sl2, nl1));
#pragma unroll
                for (int c = 0; c < 4; c++)
                    if (nt * 8 + (c & 1) < jlo[c >> 1] || nt * 8 + (c & 1) >= jhi[c >> 1]) p[c] = 0.f;
                const float d0 = p[0] * (dp[nt][0] - Dd.x), d1 = p[1] * (dp[nt][1] - Dd.y);
                const float d2 = p[2] * (dp[nt][2] - Dd.x), d3 = p[3] * (dp[nt][3] - Dd.y);
                pp[nt][0] = pack2(p[0], p[1]);
                pp[nt][1] = pack2(p[2], p[3]);
                sp[nt][0] = pack2(d0, d1);
                sp[nt][1] = pack2(d2, d3);
                uint32_t *srow = reinterpret_cast<uint32_t *>(blk.Ss + (warp * 16 + g) * SQ + il);
                srow[0] = sp[nt][0];
                srow[4 * SQ] = sp[nt][1]; /* key + 8: 8 SQ halves = 4 SQ words */
            }
            /* dV += P^T dy, dK += dS^T Q over the pass's QH queries */
#pragma unroll
            for (int kq = 0; kq < NTH / 2; kq++) {
                const uint32_t pa[4] = {pp[2 * kq][0], pp[2 * kq][1], pp[2 * kq + 1][0], pp[2 * kq + 1][1]};
                const uint32_t sa[4] = {sp[2 * kq][0], sp[2 * kq][1], sp[2 * kq + 1][0], sp[2 * kq + 1][1]};
#pragma unroll
                for (int dt = 0; dt < D / 8; dt += 2) {
                    uint32_t ry[4], rq[4];
                    int off = (hq * QH + kq * 16) * RS + toff + dt * 8;
                    ldsm_x4_t(ry, sY + 2 * off);
                    ldsm_x4_t(rq, sQ + 2 * off);
                    mma16816(dv[dt], pa, ry[0], ry[1]);
                    mma16816(dv[dt + 1], pa, ry[2], ry[3]);
                    mma16816(dk[dt], sa, rq[0], rq[1]);
                    mma16816(dk[dt + 1], sa, rq[2], rq[3]);
                }
            }
        }
        __syncthreads();
        bwd_dq<D, NW, KB, 1>(a, sS, sK, blk.b, h, qt);
        /* No barrier here: the next tile's loads, issued before its first barrier, go to the
         * other Q/dy/lse/D buffers, which every warp has left (barrier above), and dS^T is
         * rewritten only after that first barrier, which every warp reaches after its dQ. */
    }
#pragma unroll
    for (int rr = 0; rr < 2; rr++) {
        const int j = wk + g + 8 * rr;
        if (j >= a.T) continue;
        blk.store_key(a, j, t, [&](int dt) {
            return make_float4(dk[dt][2 * rr], dk[dt][2 * rr + 1], dv[dt][2 * rr], dv[dt][2 * rr + 1]);
        });
    }
}

/* Backward at head dims 32 and 64, warp tiles of 32 keys x 32 queries: the same blocks
 * (128 keys of one (batch, kv head)), tiles, shared layout and heaviest-first order as
 * bwd_kernel, but 4 warps, warp w owning keys 32 w .. + 32 and taking each 64-query tile
 * in two passes of 32 queries. Why: bwd_kernel is bound by shared-memory reads (about 120
 * ldmatrix.x4 a warp a tile for 160 mma); with 32 keys and 32 queries every K/V A fragment
 * and every Q/dy B fragment (either layout) feeds 4 mma instead of 2, and dQ's warp tiles
 * grow to 32 x 32: ldmatrix.x4 a block a tile at d64, 960 in bwd_kernel, 512 here. The
 * price is registers: dK and dV of 32 keys take 4 D of them, so two 4-warp blocks a
 * multiprocessor, and P goes to bf16 before dP^T is accumulated. Two other forms were
 * measured on the H200 (d64, fwd + bwd ms as in the header, this one 0.453 / 3.804 /
 * 57.42): 8 warps, one block a multiprocessor, the warp pair (w, w + 4) splitting the
 * queries and summing dK, dV, won at 4k (0.380) and lost from 16k on (4.462 / 68.30);
 * K and V A fragments kept in registers with 16-query passes lost throughout (0.469 /
 * 3.921 / 58.48; d64 spilled 40 bytes at 255 registers). */
/* bwd2_kernel's two products of a pass, s^T = K Q^T and dP^T = V dy^T: acc[mt][nt] = this warp's
 * 32 rows of sA (keys; A fragments at aoff, m-tile 1 at + 16 rows) times the pass's QW rows of sB
 * (queries, from row offset bo; B fragments) over the head dims, UNR steps of 16 unrolled. */
template <int D, int NTW, int UNR>
__device__ __forceinline__ void keys_x_queries(uint32_t sA, uint32_t sB, int aoff, int bo, float (&acc)[2][NTW][4]) {
    constexpr int RS = D + 8;
#pragma unroll
    for (int mt = 0; mt < 2; mt++)
#pragma unroll
        for (int nt = 0; nt < NTW; nt++)
#pragma unroll
            for (int c = 0; c < 4; c++) acc[mt][nt][c] = 0.f;
#pragma unroll UNR
    for (int kk = 0; kk < D / 16; kk++) {
        uint32_t ka[2][4];
#pragma unroll
        for (int mt = 0; mt < 2; mt++) ldsm_x4(ka[mt], sA + 2 * (aoff + mt * 16 * RS + kk * 16));
#pragma unroll
        for (int np = 0; np < NTW / 2; np++) {
            uint32_t rb[4];
            ldsm_x4(rb, sB + 2 * (bo + np * 16 * RS + kk * 16));
#pragma unroll
            for (int mt = 0; mt < 2; mt++) {
                mma16816(acc[mt][2 * np], ka[mt], rb[0], rb[1]);
                mma16816(acc[mt][2 * np + 1], ka[mt], rb[2], rb[3]);
            }
        }
    }
}

template <int D>
__global__ void __launch_bounds__(BWD2_THR, 2)
    bwd2_kernel(fa_args a, const __nv_bfloat16 *q16, const __nv_bfloat16 *y16) {
    extern __shared__ __align__(16) unsigned char smem[];
    constexpr int KB = BWD2_KB, NT = BWD2_THR, DT = D / 8;
    using blk_t = bwd_block<D, KB, NT>;
    constexpr int RS = blk_t::RS, QB = blk_t::QB, SQ = blk_t::SQ;
    constexpr int QW = BWD2_QW, NTW = QW / 8; /* queries a pass, their n-tiles */
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, g = lane / 4, t = lane % 4;
    const blk_t blk(a, smem);
    const int wk = blk.k0 + warp * 32; /* this warp's first key */
    blk.stage_kv(a);
    /* A fragments of this warp's keys: row lane % 8 (+ 8), column block lane / 16; m-tile 1
     * at + 16 RS */
    const int aoff = (warp * 32 + (lane / 8 % 2) * 8 + lane % 8) * RS + (lane / 16) * 8;
    /* dk[mt][dt]: keys wk + 16 mt + g (+ 8), dims 8 dt + 2t (+ 1) */
    float dk[2][DT][4], dv[2][DT][4];
#pragma unroll
    for (int mt = 0; mt < 2; mt++)
#pragma unroll
        for (int i = 0; i < DT; i++)
#pragma unroll
            for (int c = 0; c < 4; c++) dk[mt][i][c] = dv[mt][i][c] = 0.f;
    const float sl2 = a.scale * KCU_LOG2E;
    const int boff = ((lane / 16) * 8 + lane % 8) * RS + (lane / 8 % 2) * 8;  /* B, rows = queries */
    const int toff = ((lane / 8 % 2) * 8 + lane % 8) * RS + (lane / 16) * 8; /* B by .trans */
    const int nq = blk.tiles_per_head(a), ntiles = nq * a.group;
    blk.issue(a, q16, y16, 0, nq);
    cp_commit();
    for (int it = 0; it < ntiles; it++) {
        const auto [qt, h, sQ, sY, sK, sV, sS, ls, ds_] = blk.wait_tile(a, q16, y16, it, nq, ntiles);
#pragma unroll 1
        for (int ps = 0; ps < QB / QW; ps++) {
            const int ql = ps * QW, qh = qt + ql; /* the pass's first query: in the tile, in all */
            if (qh + QW - 1 < wk || qh >= min(a.T, wk + 31 + a.W)) {
                /* no key of the warp seen by a query of the pass: dS^T = 0 for dQ */
#pragma unroll
                for (int mt = 0; mt < 2; mt++)
#pragma unroll
                    for (int nt = 0; nt < NTW; nt++) {
                        uint32_t *srow =
                            reinterpret_cast<uint32_t *>(blk.Ss + (warp * 32 + mt * 16 + g) * SQ + ql + nt * 8 + 2 * t);
                        srow[0] = 0u;
                        srow[4 * SQ] = 0u;
                    }
            } else {
                /* s^T = K Q^T and dP^T = V dy^T; element c of (m-tile mt, n-tile nt): key
                 * wk + 16 mt + g + 8 (c >> 1), query qh + 8 nt + 2t + (c & 1). */
                float s[2][NTW][4];
                keys_x_queries<D, NTW, D / 16>(sK, sQ, aoff, ql * RS + boff, s);
                /* P^T as bf16 pairs of adjacent queries, before dP^T (32 registers fewer than
                 * FP32 P while dP^T is accumulated: d64 spilled with FP32 P); query i sees key j
                 * iff j <= i < min(T, j + W), bounds on i relative to qh + 2t */
                uint32_t pp[2][NTW][2];
#pragma unroll
                for (int nt = 0; nt < NTW; nt++) {
                    const float2 L = *reinterpret_cast<const float2 *>(ls + ql + nt * 8 + 2 * t);
                    const float nl0 = -L.x * KCU_LOG2E, nl1 = -L.y * KCU_LOG2E;
#pragma unroll
                    for (int mt = 0; mt < 2; mt++) {
                        float p[4];
                        p[0] = ex2(fmaf(s[mt][nt][0], sl2, nl0));
                        p[1] = ex2(fmaf(s[mt][nt][1], sl2, nl1));
                        p[2] = ex2(fmaf(s[mt][nt][2], sl2, nl0));
                        p[3] = ex2(fmaf(s[mt][nt][3], sl2, nl1));
#pragma unroll
                        for (int u = 0; u < 2; u++) {
                            const int j = wk + mt * 16 + g + 8 * u, i0 = qh + 2 * t;
                            const int jlo = j - i0, jhi = min(a.T, j + a.W) - i0;
#pragma unroll
                            for (int e = 0; e < 2; e++)
                                if (nt * 8 + e < jlo || nt * 8 + e >= jhi) p[2 * u + e] = 0.f;
                        }
                        pp[mt][nt][0] = pack2(p[0], p[1]);
                        pp[mt][nt][1] = pack2(p[2], p[3]);
                    }
                }
                float dp[2][NTW][4];
                /* unrolled 2 steps at a time: d64 fits 255 registers only so */
                keys_x_queries<D, NTW, 2>(sV, sY, aoff, ql * RS + boff, dp);
                /* dS^T = P^T (dP^T - D), from the bf16 P (its rounding is below dS's own) */
                uint32_t sp[2][NTW][2];
#pragma unroll
                for (int nt = 0; nt < NTW; nt++) {
                    const int il = ql + nt * 8 + 2 * t;
                    const float2 Dd = *reinterpret_cast<const float2 *>(ds_ + il);
#pragma unroll
                    for (int mt = 0; mt < 2; mt++) {
                        const uint32_t p01 = pp[mt][nt][0], p23 = pp[mt][nt][1];
                        const float d0 = __uint_as_float(p01 << 16) * (dp[mt][nt][0] - Dd.x);
                        const float d1 = __uint_as_float(p01 & 0xffff0000u) * (dp[mt][nt][1] - Dd.y);
                        const float d2 = __uint_as_float(p23 << 16) * (dp[mt][nt][2] - Dd.x);
                        const float d3 = __uint_as_float(p23 & 0xffff0000u) * (dp[mt][nt][3] - Dd.y);
                        sp[mt][nt][0] = pack2(d0, d1);
                        sp[mt][nt][1] = pack2(d2, d3);
                        uint32_t *srow = reinterpret_cast<uint32_t *>(blk.Ss + (warp * 32 + mt * 16 + g) * SQ + il);
                        srow[0] = sp[mt][nt][0];
                        srow[4 * SQ] = sp[mt][nt][1]; /* key + 8: 8 SQ halves = 4 SQ words */
                    }
                }
                /* dV += P^T dy, dK += dS^T Q over the pass's queries */
#pragma unroll
                for (int kq = 0; kq < NTW / 2; kq++) {
                    uint32_t pa[2][4], sa[2][4];
#pragma unroll
                    for (int mt = 0; mt < 2; mt++) {
                        pa[mt][0] = pp[mt][2 * kq][0], pa[mt][1] = pp[mt][2 * kq][1];
                        pa[mt][2] = pp[mt][2 * kq + 1][0], pa[mt][3] = pp[mt][2 * kq + 1][1];
                        sa[mt][0] = sp[mt][2 * kq][0], sa[mt][1] = sp[mt][2 * kq][1];
                        sa[mt][2] = sp[mt][2 * kq + 1][0], sa[mt][3] = sp[mt][2 * kq + 1][1];
                    }
#pragma unroll
                    for (int dt = 0; dt < DT; dt += 2) {
                        uint32_t ry[4], rq[4];
                        const int off = (ql + kq * 16) * RS + toff + dt * 8;
                        ldsm_x4_t(ry, sY + 2 * off);
                        ldsm_x4_t(rq, sQ + 2 * off);
#pragma unroll
                        for (int mt = 0; mt < 2; mt++) {
                            mma16816(dv[mt][dt], pa[mt], ry[0], ry[1]);
                            mma16816(dv[mt][dt + 1], pa[mt], ry[2], ry[3]);
                            mma16816(dk[mt][dt], sa[mt], rq[0], rq[1]);
                            mma16816(dk[mt][dt + 1], sa[mt], rq[2], rq[3]);
                        }
                    }
                }
            }
        }
        __syncthreads();
        bwd_dq<D, 4, KB, 2>(a, sS, sK, blk.b, h, qt); /* 4 warps of 32 x 32 dQ */
        /* No barrier here, as in bwd_kernel. */
    }
#pragma unroll
    for (int mt = 0; mt < 2; mt++)
#pragma unroll
        for (int rr = 0; rr < 2; rr++) {
            const int j = wk + mt * 16 + g + 8 * rr;
            if (j >= a.T) continue;
            blk.store_key(a, j, t, [&](int dt) {
                return make_float4(dk[mt][dt][2 * rr], dk[mt][dt][2 * rr + 1], dv[mt][dt][2 * rr],
                                   dv[mt][dt][2 * rr + 1]);
            });
        }
}

template <int D> size_t fwd_smem() { return (size_t)2 * FWD_STAGES * 64 * (D + 8) * 2; }

fa_args args_of(const kern_mixer_shape *s) {
    fa_args a = {};
    kcu_flash_shape(a, s);
    return a;
}

template <int D>
void fwd(const kern_mixer_shape *s, fa_args a, const __nv_bfloat16 *k16, const __nv_bfloat16 *v16, __nv_bfloat16 *y16) {
    size_t sm = fwd_smem<D>();
    static bool set = [&] {
        KCU_CHECK(cudaFuncSetAttribute(fwd_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm));
        return true;
    }();
    (void)set;
    unsigned blocks = (unsigned)((a.T + BQ - 1) / BQ) * (unsigned)(a.nh * s->batch);
    fwd_kernel<D><<<blocks, FWD_THR, sm>>>(a, k16, v16, y16);
    KCU_LAUNCHED();
}
/* bwd2_kernel: two 4-warp blocks a multiprocessor; blocks and shared memory as bwd_kernel's
 * with 8 warps (128 keys) */
template <int D>
void bwd2(size_t sm, unsigned blocks, fa_args a, const __nv_bfloat16 *q16, const __nv_bfloat16 *y16) {
    static bool set = [&] {
        KCU_CHECK(cudaFuncSetAttribute(bwd2_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm));
        KCU_CHECK(cudaFuncSetAttribute(bwd2_kernel<D>, cudaFuncAttributePreferredSharedMemoryCarveout,
                                       (int)cudaSharedmemCarveoutMaxShared));
        return true;
    }();
    (void)set;
    bwd2_kernel<D><<<blocks, BWD2_THR, sm>>>(a, q16, y16);
    KCU_LAUNCHED();
}
/* NW = 8 warps (128 keys) a block, 4 (64 keys) at head dim 16 */
template <int D> void bwd(const kern_mixer_shape *s, fa_args a, const __nv_bfloat16 *q16, const __nv_bfloat16 *y16) {
    constexpr int NW = D >= 32 ? 8 : 4, KB = 16 * NW;
    size_t sm = bwd_block<D, KB, NW * 32>::smem_bytes();
    unsigned blocks = (unsigned)((a.T + KB - 1) / KB) * (unsigned)(a.nkv * s->batch);
    if constexpr (D == 32 || D == 64) {
        if (kcu_flash_bwd2(D)) { /* plan.h: SCALELAB_FLASH_BWD=0 keeps bwd_kernel, for timing */
            bwd2<D>(sm, blocks, a, q16, y16);
            return;
        }
    }
    static bool set = [&] {
        KCU_CHECK(cudaFuncSetAttribute(bwd_kernel<D, NW>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm));
        /* two 91 KB blocks (d64, 8 warps) per multiprocessor: the largest shared carveout */
        KCU_CHECK(cudaFuncSetAttribute(bwd_kernel<D, NW>, cudaFuncAttributePreferredSharedMemoryCarveout,
                                       (int)cudaSharedmemCarveoutMaxShared));
        return true;
    }();
    (void)set;
    bwd_kernel<D, NW><<<blocks, NW * 32, sm>>>(a, q16, y16);
    KCU_LAUNCHED();
}

} // namespace

int kcu_flash_supported(const kern_mixer_shape *s) { return kcu_flash_ok(s); }

/* work: D_i per query row (floats), then the bf16 copies: k and v in forward, q and dy
 * in backward (the larger pair: 2 x batch x seq x n_head x head_dim halves). */
size_t kcu_flash_work_size(const kern_mixer_shape *s) {
    size_t rows = (size_t)s->batch * s->n_head * s->seq;
    return rows + 64 + rows * s->head_dim + 64;
}

static float *aligned256(float *w) { return (float *)(((uintptr_t)w + 255) / 256 * 256); }

void kcu_flash_forward(const kern_mixer_shape *s, const float *q, const float *k, const float *v, float *y,
                       float *saved, float *work, const __nv_bfloat16 *k16_kept, __nv_bfloat16 *y16) {
    fa_args a = args_of(s);
    a.q = q, a.k = k, a.v = v, a.yo = y, a.lse = saved;
    size_t rows = (size_t)s->batch * s->n_head * s->seq, nk = (size_t)s->batch * s->seq * s->n_kv_head * s->head_dim;
    __nv_bfloat16 *k16 = (__nv_bfloat16 *)aligned256(aligned256(work) + rows), *v16 = k16 + nk;
    if (!k16_kept) to_bf16(nk, k, k16);
    to_bf16(nk, v, v16);
    const __nv_bfloat16 *kk = k16_kept ? k16_kept : k16;
    if (kcu_flash_wg(s->head_dim)) kcu_flash_wg_forward(s, q, kk, v16, y, saved, y16); /* flash_wg.cu */
    else kcu_by_head_dim(s->head_dim, [&](auto D) { fwd<decltype(D)::value>(s, a, kk, v16, y16); });
}

void kcu_flash_backward(const kern_mixer_shape *s, const float *q, const float *k, const float *v, const float *y,
                        const float *saved, const float *dy, float *dq, float *dk, float *dv, float *work,
                        const __nv_bfloat16 *q16_kept) {
    fa_args a = args_of(s);
    float *dd = aligned256(work);
    size_t rows = (size_t)s->batch * s->n_head * s->seq, nq = rows * s->head_dim;
    __nv_bfloat16 *q16 = (__nv_bfloat16 *)aligned256(dd + rows), *y16 = q16 + nq;
    if (rows * 8 > 0xffffffffu - 256) kcu_fail(__FILE__, __LINE__, "flash backward", "batch x heads x seq over 2^29");
    dot_rows_kernel<<<kcu_blocks(rows * 8, 256), 256>>>((unsigned)rows, s->seq, s->n_head, s->head_dim,
                                                        (const float4 *)dy, (const float4 *)y, dd);
    KCU_LAUNCHED();
    if (!q16_kept) to_bf16(nq, q, q16);
    to_bf16(nq, dy, y16);
    KCU_CHECK(cudaMemsetAsync(dq, 0, nq * sizeof(float)));
    a.q = q, a.k = k, a.v = v, a.y = y, a.dy = dy, a.lse_in = saved, a.dd = dd, a.dq = dq, a.dk = dk, a.dv = dv;
    const __nv_bfloat16 *qq = q16_kept ? q16_kept : q16;
    if (kcu_flash_bwd_wg(s->head_dim)) kcu_flash_wg_backward(s, qq, y16, k, v, saved, dd, dq, dk, dv); /* wgmma */
    else kcu_by_head_dim(s->head_dim, [&](auto D) { bwd<decltype(D)::value>(s, a, qq, y16); });
}
