/* The bf16 flash backward on Hopper's warpgroup MMA (wgmma, sm_90a), head dim 64: dq, dk, dv of
 * softmax and window attention from q, k, v, dy, the forward's log-sum-exp and D_i = dy_i . y_i,
 * as flash.cu's bwd2_kernel (mma.sync) computes them, which stays the path of head dim 32, of
 * SCALELAB_FLASH_BWD_WG=0 (plan.h, kcu_flash_bwd_wg) and the reference that test_backend
 * compares this kernel with on the same inputs.
 *
 * Why: bwd2_kernel was 78% of attention's fwd+bwd at 64k (RESULTS.md, twelfth pass) and reads
 * every operand fragment from shared memory per warp; wgmma reads them once per warpgroup.
 *
 * One block = 2 warpgroups; warpgroup w owns keys k0 + 64w .. + 63 of one (batch, kv head)
 * (KCU_FLASH_WGB_KB = 128 a block), K and V rounded to bf16 into shared memory once, dK and dV
 * accumulated in registers. The block walks the 64-query tiles of every query head of its group
 * that can see its keys (flash.cu's tiles_per_head), Q, dy, log-sum-exp and D_i double-buffered
 * by cp.async. Per tile and warpgroup, as wgmma products (m64, by descriptor unless said):
 *   S^T = K_w Q^T and dP^T = V_w dy^T (64 keys x 64 queries, over d);
 *   P^T = 2^(S^T scale log2 e - lse log2 e), masked; dS^T = P^T (dP^T - D) (FP32, registers);
 *   dV_w += P^T dy and dK_w += dS^T Q (P^T and dS^T as bf16 register A operands; dy and Q read
 *     MN-major from the tiles S^T read K-major);
 *   dS^T also goes to shared memory (bf16); after a barrier, one warpgroup (alternating by tile)
 *   runs dQ = dS K over the block's 128 keys (A = dS^T read MN-major, i.e. transposed; B = K
 *   read MN-major) and adds it, times scale, to dq with FP32 float4 atomics (dq is cleared
 *   first, so its low bits vary from run to run, as bwd2_kernel's).
 * No tile is skipped (a warpgroup whose keys no query of the tile sees computes zeros): the
 * FLOP count (flops.c) counts every tile whole.
 *
 * Register operands of wgmma (P^T, dS^T) and accumulators are kept live past each wait
 * (fence_operand); tests/gpu/hgmma_regs.py checks the machine code for writes before a wait.
 *
 * On the H200 (RESULTS.md, twelfth pass), b1 h8 d64 causal, fwd+bwd ms at 4k / 16k / 64k with
 * flash_wg.cu's forward: 0.284 / 3.142 / 47.41, against 0.420 / 3.448 / 52.80 with bwd2_kernel and
 * SDPA flash's 0.598 / 3.826 / 53.19. ptxas: 197 registers, no spills, one block a multiprocessor. */
#include <cuda_bf16.h>

#include "kernels/cuda/cuda_common.h"
#include "kernels/cuda/flash_step.h"
#include "kernels/cuda/mma.h"
#include "kernels/cuda/wgmma.h"

namespace {

constexpr int KB = KCU_FLASH_WGB_KB, QT = KCU_FLASH_QT; /* 128 keys a block, 64-query tiles */
constexpr int THR = 256;
static_assert(KB == 128 && QT == 64, "flash_wg_bwd.cu: 2 warpgroups x 64 keys, 64-query tiles");

struct wgb_args {
    const __nv_bfloat16 *q16, *y16; /* q and dy rounded to bf16, in q's layout */
    const float *k, *v, *lse, *dd;
    float *dq, *dk, *dv;
    int T, nh, nkv, group, W, B;
    float scale;
};

/* Shared memory from the first 1024-byte boundary: K [KB rows], V [KB rows], Q [2][64 rows],
 * dy [2][64 rows], dS^T [2 warpgroups][64 keys x 64 queries], all swizzled tiles of D (dS^T: 64)
 * columns; then log-sum-exp (natural log) and D_i, [2][64] floats each. */
template <int D> struct wgb_smem {
    static constexpr uint32_t TILE = D / 64 * WG_PANEL; /* 64 rows of D columns */
    static constexpr uint32_t K = 0, V = 2 * TILE, Q = 4 * TILE, Y = 6 * TILE, S = 8 * TILE;
    static constexpr uint32_t LSE = S + 2 * WG_PANEL, DD = LSE + 2 * QT * 4, BYTES = DD + 2 * QT * 4;
    static constexpr size_t launch_bytes() { return BYTES + 1024; }
};

/* Tile it's loads into buffer u: query head h, queries q0 .. q0 + 63 of Q, dy (bf16 rows), their
 * log-sum-exp and D_i; past T, zeros. */
template <int D>
__device__ __forceinline__ void issue(const wgb_args &a, uint32_t base, int b, int h, int q0, int u) {
    using L = wgb_smem<D>;
    const size_t ldq = (size_t)a.nh * D, off = (size_t)b * a.T * ldq + (size_t)h * D;
    load_rows<D, QT, THR>(base + L::Q + u * L::TILE, a.q16 + off, ldq, q0, a.T, threadIdx.x);
    load_rows<D, QT, THR>(base + L::Y + u * L::TILE, a.y16 + off, ldq, q0, a.T, threadIdx.x);
    const int i = threadIdx.x % QT, which = threadIdx.x / QT; /* 0: lse, 1: D_i, 2-3: none */
    if (which < 2) {
        const float *src = (which ? a.dd : a.lse) + ((size_t)b * a.nh + h) * a.T;
        const bool ok = q0 + i < a.T;
        asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(
                         base + (which ? L::DD : L::LSE) + (uint32_t)(u * QT + i) * 4),
                     "l"(src + (ok ? q0 + i : 0)), "r"(ok ? 4 : 0));
    }
}

template <int D>
__global__ void __launch_bounds__(THR, 1) wgb_kernel(wgb_args a) {
    static_assert(D == 64, "flash_wg_bwd.cu: head dim 64 (dK, dV and dQ of 128 fit no register budget)");
    using L = wgb_smem<D>;
    extern __shared__ unsigned char smem[];
    const uint32_t base = (smem_u32(smem) + 1023u) & ~1023u;
    const unsigned char *sb = smem + (base - smem_u32(smem)); /* the same, as a generic pointer */
    const int wg = threadIdx.x / 128, warp = threadIdx.x % 128 / 32, lane = threadIdx.x % 32;
    const int g = lane / 4, t = lane % 4;
    const int hb = a.nkv * a.B;
    const int k0 = (int)(blockIdx.x / hb) * KB, kvh = (int)(blockIdx.x % hb) % a.nkv;
    const int b = (int)(blockIdx.x % hb) / a.nkv;
    const int kw = k0 + wg * 64, wk = kw + warp * 16; /* the warpgroup's and this warp's first keys */
    const size_t ldk = (size_t)a.nkv * D, koff = (size_t)b * a.T * ldk + (size_t)kvh * D;
    const int qend = min(a.T - 1, k0 + KB - 1 + a.W - 1), nq = (qend - k0) / QT + 1, ntot = nq * a.group;
    store_rows<D, KB, THR>(base + L::K, a.k + koff, ldk, k0, a.T, threadIdx.x);
    store_rows<D, KB, THR>(base + L::V, a.v + koff, ldk, k0, a.T, threadIdx.x);
    issue<D>(a, base, b, kvh * a.group, k0, 0);
    cp_commit();
    float dk[D / 8][4], dv[D / 8][4];
#pragma unroll
    for (int i = 0; i < D / 8; i++)
#pragma unroll
        for (int e = 0; e < 4; e++) dk[i][e] = dv[i][e] = 0.f;
    const float sl2 = a.scale * KCU_LOG2E;
    const uint32_t sKw = base + L::K + wg * L::TILE, sVw = base + L::V + wg * L::TILE;
    for (int it = 0; it < ntot; it++) {
        const int u = it & 1, h = kvh * a.group + it / nq, qt = k0 + it % nq * QT;
        cp_wait<0>();
        fence_async_shared(); /* this thread's cp.async and st.shared (K, V; dS^T), for wgmma */
        __syncthreads();      /* tile it is in; every product of tile it - 1 has been waited for */
        if (it + 1 < ntot) issue<D>(a, base, b, kvh * a.group + (it + 1) / nq, k0 + (it + 1) % nq * QT, u ^ 1);
        cp_commit();
        const uint32_t sQ = base + L::Q + u * L::TILE, sY = base + L::Y + u * L::TILE;
        float st[8][4], dp[8][4];
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) {
            const uint32_t off = kk / 4 * WG_PANEL + kk % 4 * 32;
            wgmma_ss_n64(st, desc(sKw + off, 16, 1024), desc(sQ + off, 16, 1024), kk > 0);
        }
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) {
            const uint32_t off = kk / 4 * WG_PANEL + kk % 4 * 32;
            wgmma_ss_n64(dp, desc(sVw + off, 16, 1024), desc(sY + off, 16, 1024), kk > 0);
        }
        wgmma_commit();
        wgmma_wait0();
        fence_operand(st);
        fence_operand(dp);
        /* P^T and dS^T: rows are keys wk + g (+ 8), columns queries qt + 8 nt + 2t (+ 1); key j
         * is visible from query i iff i < T and i - W < j <= i. Masks only where some pair of
         * the warp's 16 keys x 64 queries is not. */
        const float *ls = reinterpret_cast<const float *>(sb + L::LSE) + u * QT;
        const float *dd = reinterpret_cast<const float *>(sb + L::DD) + u * QT;
        const bool mask = !(wk + 15 <= qt && wk > qt + QT - 1 - a.W && qt + QT <= a.T);
        uint32_t pa[4][4], sa[4][4];
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
            const int c = nt * 8 + 2 * t;
            const float2 l2 = *reinterpret_cast<const float2 *>(ls + c), d2 = *reinterpret_cast<const float2 *>(dd + c);
            float p[4], s[4];
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int col = e & 1, j = wk + g + 8 * (e >> 1), i = qt + c + col;
                p[e] = ex2(fmaf(st[nt][e], sl2, -(col ? l2.y : l2.x) * KCU_LOG2E));
                if (mask && !(i < a.T && j <= i && j > i - a.W)) p[e] = 0.f;
                s[e] = p[e] * (dp[nt][e] - (col ? d2.y : d2.x));
            }
            /* A fragments of 16 queries: n8 tiles 2kk (registers 0, 1) and 2kk + 1 (2, 3) */
            pa[nt / 2][2 * (nt & 1)] = pack2(p[0], p[1]);
            pa[nt / 2][2 * (nt & 1) + 1] = pack2(p[2], p[3]);
            sa[nt / 2][2 * (nt & 1)] = pack2(s[0], s[1]);
            sa[nt / 2][2 * (nt & 1) + 1] = pack2(s[2], s[3]);
            /* dS^T to shared memory: key row r, queries c, c + 1 (4 bytes in chunk nt) */
#pragma unroll
            for (int r = 0; r < 2; r++) {
                const int row = warp * 16 + g + 8 * r;
                const uint32_t at = base + L::S + wg * WG_PANEL + row * 128 + ((nt ^ (row % 8)) << 4) + 4 * t;
                asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(at), "r"(sa[nt / 2][2 * (nt & 1) + r]) : "memory");
            }
        }
        fence_async_shared(); /* dS^T, for the dQ product after the barrier */
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < QT / 16; kk++) {
            wgmma_rs<D>(dv, pa[kk], desc(sY + kk * 2048, WG_PANEL, 1024));
            wgmma_rs<D>(dk, sa[kk], desc(sQ + kk * 2048, WG_PANEL, 1024));
        }
        wgmma_commit();
        __syncthreads(); /* both warpgroups' dS^T are in */
        if (wg == (it & 1)) {
            /* dQ (64 queries x D) = dS K over the block's 128 keys: A = dS^T tiles read MN-major,
             * B = K read MN-major; k steps of 16 keys = 2048 bytes, the second 64 keys the
             * second dS^T tile and K's second 64-row tile */
            float dq[D / 8][4];
            wgmma_fence();
#pragma unroll
            for (int kk = 0; kk < KB / 16; kk++) {
                const uint32_t off = kk / 4 * WG_PANEL + kk % 4 * 2048;
                const uint32_t koff2 = kk / 4 * L::TILE + kk % 4 * 2048;
                wgmma_ss_n64<1, 1>(dq, desc(base + L::S + off, WG_PANEL, 1024),
                                   desc(base + L::K + koff2, WG_PANEL, 1024), kk > 0);
            }
            wgmma_commit();
            wgmma_wait0();
            fence_operand(dq);
            const size_t ldq = (size_t)a.nh * D;
            add_tile_atomic<D / 8>(dq, a.scale, a.dq + (size_t)b * a.T * ldq + (size_t)h * D, ldq,
                                   qt + warp * 16 + g, t, a.T);
        }
        wgmma_wait0();
        fence_operand(dv);
        fence_operand(dk);
        fence_operand(pa);
        fence_operand(sa);
    }
    /* dK (times scale) and dV of this warp's keys, FP32, in k's layout */
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int j = wk + g + 8 * r;
        if (j >= a.T) continue;
        float *dkr = a.dk + koff + (size_t)j * ldk, *dvr = a.dv + koff + (size_t)j * ldk;
#pragma unroll
        for (int dt = 0; dt < D / 8; dt++) {
            const int c = dt * 8 + 2 * t;
            *reinterpret_cast<float2 *>(dkr + c) = make_float2(dk[dt][2 * r] * a.scale, dk[dt][2 * r + 1] * a.scale);
            *reinterpret_cast<float2 *>(dvr + c) = make_float2(dv[dt][2 * r], dv[dt][2 * r + 1]);
        }
    }
}

} // namespace

void kcu_flash_wg_backward(const kern_mixer_shape *s, const __nv_bfloat16 *q16, const __nv_bfloat16 *y16,
                           const float *k, const float *v, const float *lse, const float *dd, float *dq, float *dk,
                           float *dv) {
    kcu_need_sm90a("flash backward on wgmma", "SCALELAB_FLASH_BWD_WG=0");
    wgb_args a = {};
    a.q16 = q16, a.y16 = y16, a.k = k, a.v = v, a.lse = lse, a.dd = dd, a.dq = dq, a.dk = dk, a.dv = dv;
    kcu_flash_shape(a, s);
    constexpr size_t sm = wgb_smem<64>::launch_bytes();
    static bool set = [] {
        KCU_CHECK(cudaFuncSetAttribute(wgb_kernel<64>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm));
        return true;
    }();
    (void)set;
    unsigned blocks = (unsigned)((a.T + KB - 1) / KB) * (unsigned)(a.nkv * a.B);
    wgb_kernel<64><<<blocks, THR, sm>>>(a);
    KCU_LAUNCHED();
}
