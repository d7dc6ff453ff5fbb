/* Power retention's backward through phi for p = 2 on the tensor cores, without dphi in
 * global memory: per chunk, dx = J_phi(x)^T (Y S^T), rows x d (Y c x ld1, S D x ld1, x c x d).
 * The cuBLAS path wrote dphi (c x D FP32 per chunk, 4.4 GB at T = 64k) and read it back.
 *
 * With feature (i, j), i <= j, and phi_(i,j) = coef x_i x_j (coef 1 on the diagonal, sqrt 2
 * off it), dx_a = sum_j Msym[a][j] x_j. Take feature (a, j) with weight w = coef dphi_(a,j):
 * it adds w x_j to dx_a ("dot") and w x_a to dx_j ("scatter"); on the diagonal both land on
 * dx_a, giving the 2 dphi_(a,a) x_a of J^T. So a warp (16 tokens) walks the triangle's rows
 * a = 0..d-1; row a's features are padded on the left to column 8 floor(a/8) (zeros for
 * j < a), so that the mma accumulator a thread holds always has the same columns j = 8 nt + 2t,
 * 2t + 1: the scatter sums stay in registers (2 tokens x d/4 columns per thread) and the dot
 * sum is a 4-lane shuffle per row. Every sum runs in a fixed order (no atomics): same bits
 * every run. The row's padded S (bf16, coef folded, zeros in the padding) is made once per
 * call by dphi_stage_kernel into the free dphi buffer (phibuf); the main kernel streams it into
 * shared memory with cp.async, double-buffered, a row (or a few short rows) at a time. */
#include <cuda_bf16.h>

#include "kernels/cuda/mma.h"
#include "kernels/cuda/power.h"

template <int DH> struct dp_dims {
    /* plan.h's (the FLOP count reads them there): k = d + 1 columns of [.|1] rounded to k16
     * steps, and the tokens a block takes */
    static constexpr int KP = KCU_DPHI_KP(DH);
    static constexpr int KT = KP / 16;
    static constexpr int KG = KP / 8;     /* 16-byte groups per staged row */
    static constexpr int KS = KP + 8;     /* shared row stride (bf16): an odd number of 16 B, so
                                             ldmatrix's eight row addresses hit distinct banks */
    static constexpr int NT = DH / 8;     /* n8 tiles across a triangle row */
    static constexpr int XS = DH + 1;     /* x tile stride (floats): rows g and g + 1 apart in banks */
    /* A block: WARPS warps of 16 tokens of one chunk, two blocks an SM. Every block streams all
     * of its chunk's staged S (369 KB at d64) from L2, so larger blocks read less: 6 warps up to
     * d64 (<= 168 registers, 47 KB of shared memory), 4 at d128 (108 KB, up to 255 registers). */
    static constexpr int TOK = KCU_DPHI_TOK(DH), WARPS = TOK / 16, THREADS = 32 * WARPS;
    static constexpr size_t SMEM = 2 * DH * KS * sizeof(__nv_bfloat16) + TOK * XS * sizeof(float);
};

/* Rows of block m staged at once: the largest power of two (<= 8) whose rows of d - 8m
 * features fit the d-row buffer, so that late blocks (8 features a row at m = d/8 - 1) do not
 * wait at a barrier and a copy's latency for every few mma (43 stages instead of 64 at d64). */
__host__ __device__ constexpr int dp_rps(int d, int m) {
    return 8 * (d - 8 * m) <= d ? 8 : 4 * (d - 8 * m) <= d ? 4 : 2 * (d - 8 * m) <= d ? 2 : 1;
}

/* out[chunk][rowoff(a) + q][k] = coef S[chunk][feature (a, 8 floor(a/8) + q)][k], bf16, zero
 * where j < a or k > d. Grid (units, a, chunk); one thread per 8 columns. */
template <int DH>
__global__ void dphi_stage_kernel(int ld1, size_t sz, const float *__restrict__ s, __nv_bfloat16 *__restrict__ out) {
    using P = dp_dims<DH>;
    int a = blockIdx.y, jb = a & ~7;
    size_t ch = blockIdx.z;
    int u = blockIdx.x * blockDim.x + threadIdx.x;
    if (u >= (DH - jb) * P::KG) return;
    int q = u / P::KG, k0 = u % P::KG * 8, j = jb + q;
    bool live = j >= a;
    const float *src = s + ch * sz + (size_t)(live ? kern_mx_phi2_index(DH, a, j) : 0) * ld1;
    float coef = kern_mx_phi2_coef(a, j), v[8];
#pragma unroll
    for (int e = 0; e < 8; e++) v[e] = live && k0 + e <= DH ? coef * src[k0 + e] : 0.f;
    uint4 w = make_uint4(pack2(v[0], v[1]), pack2(v[2], v[3]), pack2(v[4], v[5]), pack2(v[6], v[7]));
    size_t at = (ch * kcu_dphi_rowoff(DH, DH) + kcu_dphi_rowoff(DH, a) + q) * P::KP + k0;
    *reinterpret_cast<uint4 *>(out + at) = w;
}

/* One block per TOK tokens of a chunk (grid (ceil(c / TOK), R)); warp w owns tokens 16w .. +16. */
template <int DH>
__global__ void __launch_bounds__(dp_dims<DH>::THREADS, 2)
    dphi_kernel(int c, int ld1, const float *__restrict__ y, const __nv_bfloat16 *__restrict__ sb,
                const float *__restrict__ x, float *__restrict__ dx) {
    using P = dp_dims<DH>;
    constexpr int KP = P::KP, KT = P::KT, KG = P::KG, KS = P::KS, NT = P::NT;
    constexpr int DP_TOK = P::TOK, DP_THREADS = P::THREADS;
    extern __shared__ __align__(16) unsigned char smem[];
    /* two buffers of staged S rows, then the x rows (FP32) of the block's tokens; entry
     * (token, a) is replaced by token's dot sum for dx_a once row a is done (only that row
     * reads x_a from here) */
    __nv_bfloat16(*bs)[DH][KS] = reinterpret_cast<__nv_bfloat16(*)[DH][KS]>(smem);
    float(*xs)[P::XS] = reinterpret_cast<float(*)[P::XS]>(smem + 2 * DH * KS * sizeof(__nv_bfloat16));
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    size_t ch = blockIdx.y;
    int tok0 = blockIdx.x * DP_TOK, wr = warp * 16;
    const __nv_bfloat16 *sch = sb + ch * kcu_dphi_rowoff(DH, DH) * KP;

    /* rows a .. a + dp_rps - 1 of a block, contiguous in sb, into buffer buf */
    auto stage = [&](int a, int buf) {
        int n = dp_rps(DH, a / 8) * (DH - (a & ~7)) * KG;
        const __nv_bfloat16 *src = sch + (size_t)kcu_dphi_rowoff(DH, a) * KP;
        for (int u = threadIdx.x; u < n; u += DP_THREADS) {
            int q = u / KG, k0 = u % KG * 8;
            cp16(&bs[buf][q][k0], src + (size_t)q * KP + k0, true);
        }
        cp_commit();
    };
    stage(0, 0);

    /* x rows of the warp's tokens (zero past the chunk) */
    const float *xc = x + (ch * c + tok0 + wr) * DH;
    for (int i = lane; i < 16 * DH; i += 32) {
        int r = i / DH;
        xs[wr + r][i % DH] = tok0 + wr + r < c ? xc[i] : 0.f;
    }
    /* A fragments: Y rows of the warp's tokens, columns 0..d (k past d: zero) */
    uint32_t af[KT][4];
    {
        const float *yc = y + ch * c * ld1;
        int r0 = tok0 + wr + g, r1 = r0 + 8;
#pragma unroll
        for (int kk = 0; kk < KT; kk++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                int col = kk * 16 + 2 * t + 8 * h;
                float2 v0 = make_float2(0.f, 0.f), v1 = v0;
                if (col <= DH && r0 < c) v0 = *reinterpret_cast<const float2 *>(yc + (size_t)r0 * ld1 + col);
                if (col <= DH && r1 < c) v1 = *reinterpret_cast<const float2 *>(yc + (size_t)r1 * ld1 + col);
                if (col == DH) v0.y = v1.y = 0.f; /* column d + 1: padding */
                af[kk][2 * h] = pack2(v0.x, v0.y);
                af[kk][2 * h + 1] = pack2(v1.x, v1.y);
            }
    }
    __syncwarp();
    /* x_j of this thread's columns j = 8 nt + 2t + e, tokens g and g + 8; the scatter sums */
    float xr[2][NT][2], scat[2][NT][2];
#pragma unroll
    for (int s = 0; s < 2; s++)
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
#pragma unroll
            for (int e = 0; e < 2; e++) {
                xr[s][nt][e] = xs[wr + g + 8 * s][nt * 8 + 2 * t + e];
                scat[s][nt][e] = 0.f;
            }

    /* ldmatrix row addresses: lane l gives row l % 8 of matrix l / 8 (k offset 8 (l / 8)) */
    int lrow = lane % 8, lk4 = 8 * (lane / 8), lk2 = 8 * (lane / 8 % 2);
    /* Row blocks m unrolled so that the n8 tiles (m .. NT - 1) and their registers are static
     * and the tiles' mma chains interleave; the stages of a block are a runtime loop. */
    int st = 0; /* stages done: the buffer's parity */
#pragma unroll
    for (int m = 0; m < NT; m++) {
        const int rps = dp_rps(DH, m), w = DH - 8 * m;
#pragma unroll 1
        for (int r0 = 0; r0 < 8; r0 += rps, st++) {
            cp_wait<0>();
            __syncthreads(); /* this stage landed; every warp is done with the previous one */
            int next = 8 * m + r0 + rps;
            if (next < DH) stage(next, (st + 1) & 1);
#pragma unroll 1
            for (int rr = 0; rr < rps; rr++) {
                int a = 8 * m + r0 + rr;
                const __nv_bfloat16 *bb = &bs[st & 1][rr * w][0];
                float xa0 = xs[wr + g][a], xa1 = xs[wr + g + 8][a], dot0 = 0.f, dot1 = 0.f;
#pragma unroll
                for (int nt = m; nt < NT; nt++) {
                    const __nv_bfloat16 *rp = bb + ((nt - m) * 8 + lrow) * KS;
                    float acc[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
                    for (int kk = 0; kk + 1 < KT; kk += 2) {
                        uint32_t b[4];
                        ldsm_x4(b, rp + kk * 16 + lk4);
                        mma16816(acc, af[kk], b[0], b[1]);
                        mma16816(acc, af[kk + 1], b[2], b[3]);
                    }
                    if (KT % 2) {
                        uint32_t b[2];
                        ldsm_x2(b, rp + (KT - 1) * 16 + lk2);
                        mma16816(acc, af[KT - 1], b[0], b[1]);
                    }
                    /* acc: tokens g (0, 1) and g + 8 (2, 3), columns 8 nt + 2t (+1) */
                    dot0 += acc[0] * xr[0][nt][0] + acc[1] * xr[0][nt][1];
                    dot1 += acc[2] * xr[1][nt][0] + acc[3] * xr[1][nt][1];
                    scat[0][nt][0] += acc[0] * xa0;
                    scat[0][nt][1] += acc[1] * xa0;
                    scat[1][nt][0] += acc[2] * xa1;
                    scat[1][nt][1] += acc[3] * xa1;
                }
                dot0 += __shfl_xor_sync(0xffffffffu, dot0, 1);
                dot1 += __shfl_xor_sync(0xffffffffu, dot1, 1);
                dot0 += __shfl_xor_sync(0xffffffffu, dot0, 2);
                dot1 += __shfl_xor_sync(0xffffffffu, dot1, 2);
                __syncwarp(); /* every lane has read x_a */
                if (t == 0) xs[wr + g][a] = dot0, xs[wr + g + 8][a] = dot1;
            }
        }
    }
    __syncwarp();
#pragma unroll
    for (int s = 0; s < 2; s++) {
        int tok = wr + g + 8 * s;
        if (tok0 + tok >= c) continue;
        float *out = dx + (ch * c + tok0 + tok) * DH;
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
            int j = nt * 8 + 2 * t;
            *reinterpret_cast<float2 *>(out + j) =
                make_float2(scat[s][nt][0] + xs[tok][j], scat[s][nt][1] + xs[tok][j + 1]);
        }
    }
}

/* Which layouts it takes (p = 2, the bf16 backend, head dim 16, 32, 64 or 128, the chunk count
 * within a grid dimension): kcu_power_paths_of (plan.h) decides (SCALELAB_POWER_DPHI=0 opts
 * out); pw_plan reserves pw_dphi_scratch floats of phibuf for the staged S. */
size_t pw_dphi_scratch(const pw_layout &L) {
    size_t bytes = L.R * kcu_dphi_rowoff(L.d, L.d) * (size_t)KCU_DPHI_KP(L.d) * sizeof(__nv_bfloat16);
    return (bytes + sizeof(float) - 1) / sizeof(float);
}

template <int DH> static void dphi_run(const pw_layout &L, __nv_bfloat16 *sb, const float *y, const float *s,
                                      const float *x, float *dx) {
    dim3 sg(kcu_blocks((size_t)DH * dp_dims<DH>::KG, 128), DH, (unsigned)L.R);
    dphi_stage_kernel<DH><<<sg, 128>>>(L.ld1, L.SZ, s, sb);
    KCU_LAUNCHED();
    using P = dp_dims<DH>;
    static bool attr = false; /* once per head dim: past 48 KB of shared memory needs the opt-in */
    if (!attr) {
        KCU_CHECK(cudaFuncSetAttribute(dphi_kernel<DH>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)P::SMEM));
        attr = true;
    }
    dim3 grid(kcu_blocks(L.c, P::TOK), (unsigned)L.R);
    dphi_kernel<DH><<<grid, P::THREADS, P::SMEM>>>(L.c, L.ld1, y, sb, x, dx);
    KCU_LAUNCHED();
}

void pw_dphi_backward(const pw_layout &L, float *base, const float *y, const float *s, const float *x, float *dx) {
    __nv_bfloat16 *sb = (__nv_bfloat16 *)(base + L.phibuf);
    kcu_by_head_dim(L.d, [&](auto D) { dphi_run<decltype(D)::value>(L, sb, y, s, x, dx); });
}
