/* The bf16 flash forward on Hopper's warpgroup MMA (wgmma), head dims 64 and 128: the same
 * contract, blocks, tiles, masks and launch order as flash.cu's fwd_kernel (mma.sync), which
 * stays the path of every other head dim, of SCALELAB_FLASH_WG=0 (plan.h, kcu_flash_wg) and the
 * reference that test_backend compares this kernel with on the same inputs.
 *
 * Why: fwd_kernel's mma.sync m16n8k16 reads every K and V fragment from shared memory into
 * registers (ldmatrix) once per warp, 8 warps a block; wgmma reads both operands of S = Q K^T
 * and V of P V straight from shared memory, once per warpgroup of 4 warps, and issues 64-row
 * products asynchronously. At 64k (b1 h8 d64) the forward took 15.6 ms on mma.sync against
 * SDPA flash's 14.7.
 *
 * One block = 2 warpgroups x 64 queries (128, KCU_FLASH_BQ) of one (batch, head); K and V
 * 64-key tiles (KCU_FLASH_BK) through shared memory by cp.async, three stages, one barrier a
 * tile. Per warpgroup and tile: S = Q K^T as m64n64k16 with both operands by descriptor (Q,
 * rounded to bf16 once into its own shared tile); the online softmax on S's accumulators (each
 * warp owns 16 rows, as in fwd_kernel: the accumulator layout of wgmma is mma.sync's C layout
 * repeated over n); P rounded to bf16 in registers as the A operand of O += P V (m64nDk16, V by
 * descriptor, transposed: V's rows are keys, contiguous along d). A warpgroup skips a tile none
 * of its 64 rows sees (wgmma is a warpgroup instruction: no per-warp skip, which is the FLOP
 * count's difference from fwd_kernel, flops.c).
 *
 * Shared layout: every tile (Q, K, V: 64 rows x D bf16) as panels of 64 rows x 64 columns (128
 * bytes a row), 128-byte swizzled (16-byte chunk c of row r at chunk c ^ (r % 8)), 1024-byte
 * aligned: the canonical layout that a descriptor with swizzle mode 128B describes. K-major
 * (Q, K for S): 8-row groups 1024 bytes apart (SBO), a k16 step is 32 bytes within a panel,
 * the next 64 columns the next panel. MN-major (V for P V): 8-key groups 1024 bytes apart
 * (SBO), panels of 64 columns of d 8192 bytes apart (LBO), a k16 step 16 keys = 2048 bytes.
 *
 * Register operands of wgmma: Q is NOT held in registers as S's A operand. A build that did
 * (RESULTS.md, eleventh pass) was wrong at head dim 64 from a block's second key tile on: ptxas
 * (CUDA 13.0) reused those loop-invariant registers inside the loop while nothing reloaded them.
 * P is A of P V, produced afresh every tile, and kept live until the product's wait
 * (fence_operand), as is every accumulator; tests/gpu/hgmma_regs.py checks the machine code.
 *
 * On the H200 (RESULTS.md, twelfth pass), b1 h8 d64 causal, forward ms at 4k / 16k / 64k:
 * 0.103 / 0.791 / 11.43, against fwd_kernel's 0.129 / 1.067 / 15.54 and SDPA flash's 0.180 /
 * 1.254 / 14.77 in the same call. ptxas: 123 registers at d64 (2 blocks a multiprocessor), 168
 * at d128, no spills.
 *
 * Built for sm_90a only (the Makefile's rule for this file): wgmma has no other target. The
 * launcher stops with a message on another device (SCALELAB_FLASH_WG=0 takes fwd_kernel). */
#include <cuda_bf16.h>

#include "kernels/cuda/cuda_common.h"
#include "kernels/cuda/flash_step.h"
#include "kernels/cuda/mma.h"
#include "kernels/cuda/wgmma.h"

namespace {

constexpr int BQ = KCU_FLASH_BQ, BK = KCU_FLASH_BK, WGR = KCU_FLASH_WG_ROWS; /* 128, 64, 64 */
constexpr int THR = 2 * 128, NST = 3;  /* 2 warpgroups; K/V tiles three stages deep */
constexpr uint32_t PANEL = WG_PANEL;
static_assert(BQ == 2 * WGR && BK == 64, "flash_wg.cu: blocks of 2 warpgroups x 64 rows, 64-key tiles");

struct wg_args {
    const float *q;
    const __nv_bfloat16 *k16, *v16;
    float *y, *lse;
    __nv_bfloat16 *y16;
    int T, nh, nkv, group, W, B;
    float scale;
};

template <int D>
__global__ void __launch_bounds__(THR, D <= 64 ? 2 : 1) wg_fwd_kernel(wg_args a) {
    extern __shared__ unsigned char smem[];
    constexpr uint32_t TILE = D / 64 * PANEL; /* one 64-row tile of D columns */
    /* Q [2][TILE], K [NST][TILE], V [NST][TILE], from the first 1024-byte boundary */
    const uint32_t sQ = (smem_u32(smem) + 1023u) & ~1023u, sK = sQ + 2 * TILE, sV = sK + NST * TILE;
    const int wg = threadIdx.x / 128, warp = threadIdx.x % 128 / 32, lane = threadIdx.x % 32;
    const int g = lane / 4, t = lane % 4;
    const int nqb = (a.T + BQ - 1) / BQ, hb = a.nh * a.B;
    const int qb = nqb - 1 - (int)(blockIdx.x / hb), h = (int)(blockIdx.x % hb) % a.nh;
    const int b = (int)(blockIdx.x % hb) / a.nh;
    const int q0 = qb * BQ, kvh = h / a.group;
    const int wq = q0 + wg * WGR, wr = wq + warp * 16; /* the warpgroup's and this warp's first rows */
    const size_t ldq = (size_t)a.nh * D, ldk = (size_t)a.nkv * D;
    const __nv_bfloat16 *kb = a.k16 + (size_t)b * a.T * ldk + (size_t)kvh * D;
    const __nv_bfloat16 *vb = a.v16 + (size_t)b * a.T * ldk + (size_t)kvh * D;
    const int kfirst = max(0, q0 - a.W + 1) / BK * BK, klast = min(q0 + BQ, a.T) - 1;
    const int ntiles = (klast - kfirst) / BK + 1;
    /* the ring as fwd_kernel's: tile it + NST - 1 is issued after tile it's barrier, into the
     * buffer of tile it - 1, whose products every warpgroup has waited for */
#pragma unroll
    for (int u = 0; u < NST - 1; u++) {
        if (u < ntiles) {
            load_rows<D, 64, THR>(sK + u * TILE, kb, ldk, kfirst + u * BK, a.T, threadIdx.x);
            load_rows<D, 64, THR>(sV + u * TILE, vb, ldk, kfirst + u * BK, a.T, threadIdx.x);
        }
        cp_commit();
    }
    const uint32_t sQw = sQ + wg * TILE;
    store_rows<D, 64, 128>(sQw, a.q + (size_t)b * a.T * ldq + (size_t)h * D, ldq, wq, a.T, threadIdx.x % 128);
    float o[D / 8][4];
#pragma unroll
    for (int i = 0; i < D / 8; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f}; /* m in log2 units (scaled) */
    const float sl2 = a.scale * KCU_LOG2E;
    for (int it = 0; it < ntiles; it++) {
        const int kt = kfirst + it * BK, buf = it % NST;
        cp_wait<NST - 2>();
        fence_async_shared(); /* this thread's cp.async (and, first time, Q) writes, for wgmma */
        __syncthreads();
        if (it + NST - 1 < ntiles) {
            const int nb = (it + NST - 1) % NST;
            load_rows<D, 64, THR>(sK + nb * TILE, kb, ldk, kt + (NST - 1) * BK, a.T, threadIdx.x);
            load_rows<D, 64, THR>(sV + nb * TILE, vb, ldk, kt + (NST - 1) * BK, a.T, threadIdx.x);
        }
        cp_commit();
        /* the whole warpgroup skips a tile none of its rows sees (uniform over its 4 warps) */
        if (!(kt <= wq + WGR - 1 && kt + BK - 1 > wq - a.W)) continue;
        float s[BK / 8][4];
#pragma unroll
        for (int i = 0; i < BK / 8; i++) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.f;
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) {
            const uint32_t off = kk / 4 * PANEL + kk % 4 * 32;
            wgmma_ss_n64(s, desc(sQw + off, 16, 1024), desc(sK + buf * TILE + off, 16, 1024), 1);
        }
        wgmma_commit();
        wgmma_wait0();
        fence_operand(s);
        float base[2];
        online_step(s, kt, wr, g, t, a.T, a.W, sl2, m, l, o, base); /* flash_step.h */
        /* P in bf16 as A fragments of 16 keys: n8 tiles 2kk and 2kk + 1 of S */
        const float nb0 = -base[0], nb1 = -base[1];
        uint32_t pa[BK / 16][4];
#pragma unroll
        for (int kk = 0; kk < BK / 16; kk++)
#pragma unroll
            for (int u = 0; u < 2; u++) probs(s[2 * kk + u], sl2, nb0, nb1, l, pa[kk][2 * u], pa[kk][2 * u + 1]);
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < BK / 16; kk++) wgmma_rs<D>(o, pa[kk], desc(sV + buf * TILE + kk * 2048, PANEL, 1024));
        wgmma_commit();
        wgmma_wait0();
        fence_operand(o);
        fence_operand(pa);
    }
    finish_rows<D>(o, l, m, wr + g, t, b, h, a.T, a.nh, a.y, a.y16, a.lse);
}

template <int D> void launch(const kern_mixer_shape *s, const wg_args &a) {
    constexpr size_t sm = (size_t)(2 + 2 * NST) * (D / 64) * PANEL + 1024; /* + the alignment */
    static bool set = [] {
        KCU_CHECK(cudaFuncSetAttribute(wg_fwd_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm));
        return true;
    }();
    (void)set;
    unsigned blocks = (unsigned)((a.T + BQ - 1) / BQ) * (unsigned)(a.nh * s->batch);
    wg_fwd_kernel<D><<<blocks, THR, sm>>>(a);
    KCU_LAUNCHED();
}

} // namespace

/* sm_90a code runs on compute capability 9.0 only: stop, saying which switch takes the mma.sync
 * kernel instead, on any other GPU. */
void kcu_need_sm90a(const char *what, const char *opt_out) {
    static const bool hopper = [] {
        int dev = 0, major = 0, minor = 0;
        KCU_CHECK(cudaGetDevice(&dev));
        KCU_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
        KCU_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
        return major == 9 && minor == 0;
    }();
    if (hopper) return;
    char why[160];
    snprintf(why, sizeof why, "needs a compute capability 9.0 GPU (sm_90a); set %s to use the mma.sync kernel",
             opt_out);
    kcu_fail(__FILE__, __LINE__, what, why);
}

void kcu_flash_wg_forward(const kern_mixer_shape *s, const float *q, const __nv_bfloat16 *k16,
                          const __nv_bfloat16 *v16, float *y, float *lse, __nv_bfloat16 *y16) {
    kcu_need_sm90a("flash forward on wgmma", "SCALELAB_FLASH_WG=0");
    wg_args a = {};
    a.q = q, a.k16 = k16, a.v16 = v16, a.y = y, a.lse = lse, a.y16 = y16;
    kcu_flash_shape(a, s);
    if (s->head_dim == 64) launch<64>(s, a);
    else launch<128>(s, a);
}
